package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/postgres"
	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/registers"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// replicaStores opens n handles, each with its own pool, on one fresh
// PostgreSQL schema: the stores of n gateway replicas.
func replicaStores(t *testing.T, n int) []store.Store {
	t.Helper()
	dsn := testenv.Postgres(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "ura_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	var out []store.Store
	for range n {
		st, err := postgres.Open(context.Background(), postgres.Options{DSN: dsn, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		out = append(out, st)
	}
	return out
}

// startReplicas runs one gateway per store, on one PKI, each on the
// embedded policy.
func startReplicas(t *testing.T, stores ...store.Store) []*gatewayEnv {
	t.Helper()
	p := newTestPKI(t)
	var out []*gatewayEnv
	for _, st := range stores {
		out = append(out, startGateway(t, withPKI(p), withEmbeddedPolicyOn(st)))
	}
	return out
}

func replicaExport(t *testing.T, id string, qty int) map[string]any {
	return polRecord(t, "export", "id", id, "event.quantity", qty, "event.item.marking.serial", id)
}

func resultCode(r exResultT) string {
	if len(r.Reasons) == 0 {
		return ""
	}
	return r.Reasons[0]["code"]
}

// hasCode reports whether r gives code among its reasons.
func hasCode(r exResultT, code string) bool {
	for _, reason := range r.Reasons {
		if reason["code"] == code {
			return true
		}
	}
	return false
}

// TestReplicasSuspensionSeenEverywhere: a licence suspended through gateway
// A is suspended for gateway B's very next decision: B keeps no copy of the
// registers to go stale.
func TestReplicasSuspensionSeenEverywhere(t *testing.T) {
	gs := startReplicas(t, replicaStores(t, 2)...)
	a, b := gs[0], gs[1]
	if r := exResults(t, a.as("AL/GOV/AIM").push(polRecord(t, "licence"))); r[0].Status != "accepted" {
		t.Fatalf("licence through A: %+v", r[0])
	}
	if r := exResults(t, b.as("AL/GOV/DPD").push(replicaExport(t, "DPD-EVT-2026-9100001", 10))); r[0].Status != "accepted" {
		t.Fatalf("export through B: %+v", r[0])
	}
	suspended := polRecord(t, "licence", "version", 4, "licence.status", "suspended")
	if r := exResults(t, a.as("AL/GOV/AIM").push(suspended)); r[0].Status != "accepted" {
		t.Fatalf("suspension through A: %+v", r[0])
	}
	r := exResults(t, b.as("AL/GOV/DPD").push(replicaExport(t, "DPD-EVT-2026-9100002", 10)))
	if r[0].Status != "denied" || resultCode(r[0]) != "licence_suspended" {
		t.Fatalf("export through B after the suspension through A: %+v", r[0])
	}
}

// TestReplicasNeverExceedALicence: customs declares exports against one
// licence through two gateways at once; together they never take more than
// the licence allows (ML1: 500), and every loser is denied with the
// licence's reason.
func TestReplicasNeverExceedALicence(t *testing.T) {
	stores := replicaStores(t, 2)
	gs := startReplicas(t, stores...)
	if r := exResults(t, gs[0].as("AL/GOV/AIM").push(polRecord(t, "licence"))); r[0].Status != "accepted" {
		t.Fatalf("licence: %+v", r[0])
	}
	const workers, each = 12, 100
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
		// One client per gateway, made before the pushes run at once.
		clients = []*memberClient{gs[0].as("AL/GOV/DPD"), gs[1].as("AL/GOV/DPD")}
	)
	for w := range workers {
		doc := replicaExport(t, fmt.Sprintf("DPD-EVT-2026-92%05d", w), each)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := clients[w%2].push(doc)
			var body struct{ Results []exResultT }
			mu.Lock()
			defer mu.Unlock()
			if err := json.Unmarshal(r.body, &body); r.status != 200 || err != nil || len(body.Results) != 1 {
				t.Errorf("worker %d: %d %s", w, r.status, r.body)
				return
			}
			res := body.Results
			switch {
			case res[0].Status == "accepted":
				accepted++
			// The import authorisation's quantity, the licence's, is
			// exceeded too when the policy sees it first.
			case res[0].Status != "denied" || !hasCode(res[0], "licence_quantity_exceeded"):
				t.Errorf("worker %d: %+v", w, res[0])
			}
		}()
	}
	wg.Wait()
	if accepted != 500/each {
		t.Errorf("%d declarations of %d accepted against a licence of 500", accepted, each)
	}
	snap, err := stores[1].Registers(context.Background(), registers.Refs{Licences: []string{"AIM-LIC-2026-000123"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Exported["AIM-LIC-2026-000123"]["ML1"]; got != int64(accepted*each) || got > 500 {
		t.Errorf("exported %d", got)
	}
}

// racingStore is a real store whose first PutBatch first lets another
// replica store what it must: the interleaving of two pushes made certain.
type racingStore struct {
	store.Store
	once   sync.Once
	before func()
}

func (s *racingStore) PutBatch(ctx context.Context, items []store.Item) []store.Result {
	s.once.Do(s.before)
	return s.Store.PutBatch(ctx, items)
}

// TestReplicasStoreOvertakesPolicy: gateway B's policy allows a declaration
// on the balance it read; before B stores it, gateway A stores one that
// takes the rest of the licence. B's store refuses the record: B answers
// denied with the licence's reason, and its audit log says the policy's
// allow was overtaken by the store.
func TestReplicasStoreOvertakesPolicy(t *testing.T) {
	stores := replicaStores(t, 2)
	slow := &racingStore{Store: stores[1]}
	gs := startReplicas(t, stores[0], slow)
	a, b := gs[0], gs[1]
	if r := exResults(t, a.as("AL/GOV/AIM").push(polRecord(t, "licence"))); r[0].Status != "accepted" {
		t.Fatalf("licence: %+v", r[0])
	}
	slow.before = func() {
		if r := exResults(t, a.as("AL/GOV/DPD").push(replicaExport(t, "DPD-EVT-2026-9300001", 450))); r[0].Status != "accepted" {
			t.Errorf("export through A: %+v", r[0])
		}
	}
	r := exResults(t, b.as("AL/GOV/DPD").push(replicaExport(t, "DPD-EVT-2026-9300002", 100)))
	if r[0].Status != "denied" || resultCode(r[0]) != "licence_quantity_exceeded" || r[0].DecisionID == "" {
		t.Fatalf("export through B: %+v", r[0])
	}
	var found bool
	for _, ev := range b.audit.All() {
		if ev.RecordID != "DPD-EVT-2026-9300002" || len(ev.Reasons) < 2 || ev.Reasons[0].Code != exchange.ReasonOvertaken {
			continue
		}
		found = ev.Decision == "deny" && ev.Reasons[1].Code == "licence_quantity_exceeded" && ev.DecisionID == r[0].DecisionID
	}
	if !found {
		t.Fatalf("no overtaken_by_store event for the refused declaration: %+v", b.audit.All())
	}
	if _, err := stores[0].Get(context.Background(), "DPD-EVT-2026-9300002"); err == nil {
		t.Fatal("the refused declaration was stored")
	}
}
