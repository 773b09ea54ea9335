package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
)

// runRegisters is the contract of the register indexes: kept in the
// transaction that stores a record, read in one call, and the export
// balance checked where the record is stored.
func runRegisters(t *testing.T, newStore NewStore) {
	t.Run("RegistersIndexes", func(t *testing.T) { testRegistersIndexes(t, newStore(t)) })
	t.Run("RegistersNewVersions", func(t *testing.T) { testRegistersVersions(t, newStore(t)) })
	t.Run("ExportBalance", func(t *testing.T) { testExportBalance(t, newStore(t)) })
	t.Run("ExportBalanceInBatch", func(t *testing.T) { testExportBatch(t, newStore(t)) })
	t.Run("ExportStatus", func(t *testing.T) { testExportStatus(t, newStore(t)) })
	t.Run("ConcurrentExports", func(t *testing.T) {
		s := newStore(t)
		ConcurrentExports(t, []store.Store{s, s, s, s}, 3)
	})
}

func read(t testing.TB, s store.Store, refs registers.Refs) *registers.Snapshot {
	t.Helper()
	snap, err := s.Registers(ctx, refs)
	if err != nil {
		t.Fatalf("Registers: %v", err)
	}
	return snap
}

// LicenceCode is the reason code of a store's refusal of an export
// declaration, "" if err is not one.
func LicenceCode(err error) string {
	var le *store.LicenceError
	if errors.As(err, &le) {
		return le.Code
	}
	return ""
}

func testRegistersIndexes(t *testing.T, s store.Store) {
	for _, r := range []*records.Record{
		ExportLicence(t, "LIC-1", 1, "issued", 10, "L1", "KAYO sh.a."),
		Entity(t, "L1", 1, "Kayo SH.A.", base),
		Entity(t, "K9", 1, "Shadow Arms sh.p.k.", base),
		Exclusion(t, "EXC-1", 1, "K9", "Shadow Arms sh.p.k.", "2025-01-01", ""),
		Exclusion(t, "EXC-2", 1, "", "Kayo  sh.a", "2025-01-01", "2025-12-31"),
		Declaration(t, "DEC-1", 1, "LIC-1", "ML1", 3),
		Declaration(t, "DEC-2", 1, "LIC-1", "ML1", 2),
	} {
		put(t, s, r, store.Accepted)
	}
	// The licence alone brings its holder's entity and every exclusion of
	// the holder, by id, by its name, by the entity's name.
	snap := read(t, s, registers.Refs{Licences: []string{"LIC-1", "LIC-NONE"}, Declarations: []string{"DEC-1"}})
	l := snap.Licences["LIC-1"]
	if l == nil || l.Status != "issued" || l.Type != "export" || l.Items["ML1"] != 10 || l.Originator != "AL/GOV/AIM" ||
		l.Holder == nil || l.Holder.EntityID != "L1" || l.ValidUntil != "2027-04-30" || l.Destination != "CZE" || l.Version != 1 {
		t.Fatalf("licence = %+v", l)
	}
	if len(snap.Licences) != 1 {
		t.Errorf("licences = %v, want LIC-1 only", snap.Licences)
	}
	if got := snap.Exported["LIC-1"]["ML1"]; got != 5 {
		t.Errorf("exported = %d, want 5", got)
	}
	if d := snap.Declarations["DEC-1"]; d == nil || d.Quantity != 3 || d.Licence != "LIC-1" {
		t.Errorf("declaration = %+v", d)
	}
	if e := snap.Entities["L1"]; e == nil || e.RecordID != "L1" || e.Name != "Kayo SH.A." {
		t.Errorf("holder entity = %+v", e)
	}
	if x := snap.ByName["kayo sh a"]["EXC-2"]; x == nil || x.Until != "2025-12-31" || x.From != "2025-01-01" {
		t.Errorf("exclusion by the holder's name = %+v", snap.ByName)
	}
	if _, ok := snap.ByID["K9"]; ok {
		t.Errorf("an entity the refs do not name came back: %v", snap.ByID)
	}
	// By entity id and by normalised name.
	snap = read(t, s, registers.Refs{EntityIDs: []string{"K9"}})
	if x := snap.ByID["K9"]["EXC-1"]; x == nil || x.RecordID != "EXC-1" {
		t.Errorf("by id = %v", snap.ByID)
	}
	if x := snap.ByName["shadow arms sh p k"]["EXC-1"]; x == nil {
		t.Errorf("by the entity's name = %v", snap.ByName)
	}
	snap = read(t, s, registers.Refs{Names: []string{registers.NormaliseName("SHADOW-ARMS sh.p.k")}})
	if len(snap.ByName["shadow arms sh p k"]) != 1 || len(snap.Entities) != 0 {
		t.Errorf("by name = %v, entities %v", snap.ByName, snap.Entities)
	}
	if snap := read(t, s, registers.Refs{}); len(snap.Licences)+len(snap.Entities)+len(snap.ByID)+len(snap.ByName) != 0 {
		t.Errorf("empty refs read %+v", snap)
	}
}

func testRegistersVersions(t *testing.T, s store.Store) {
	put(t, s, ExportLicence(t, "LIC-1", 1, "issued", 10, "L1", "KAYO"), store.Accepted)
	put(t, s, ExportLicence(t, "LIC-2", 1, "issued", 10, "L1", "KAYO"), store.Accepted)
	put(t, s, Declaration(t, "DEC-1", 1, "LIC-1", "ML1", 4), store.Accepted)
	// A new version replaces the quantity the old one counted, also when it
	// moves to another licence; a version that no longer declares an export
	// counts nothing.
	put(t, s, Declaration(t, "DEC-1", 2, "LIC-1", "ML1", 6), store.Accepted)
	snap := read(t, s, registers.Refs{Licences: []string{"LIC-1", "LIC-2"}})
	if got := snap.Exported["LIC-1"]["ML1"]; got != 6 {
		t.Errorf("after a new version: exported %d, want 6", got)
	}
	put(t, s, Declaration(t, "DEC-1", 3, "LIC-2", "ML1", 1), store.Accepted)
	snap = read(t, s, registers.Refs{Licences: []string{"LIC-1", "LIC-2"}})
	if _, ok := snap.Exported["LIC-1"]; ok || snap.Exported["LIC-2"]["ML1"] != 1 {
		t.Errorf("after moving licence: exported %v", snap.Exported)
	}
	put(t, s, Event(t, "DEC-1", 4, "AL/GOV/DPD", "EXIT_CONFIRMED", "LIC-2", mk1, base), store.Accepted)
	if snap := read(t, s, registers.Refs{Licences: []string{"LIC-2"}, Declarations: []string{"DEC-1"}}); len(snap.Exported) != 0 || len(snap.Declarations) != 0 {
		t.Errorf("a version that declares nothing still counts: %v %v", snap.Exported, snap.Declarations)
	}
	// An older version is refused by the store and changes nothing.
	if _, err := s.Put(ctx, ExportLicence(t, "LIC-1", 0+1, "suspended", 10, "L1", "KAYO"), nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("same version, other content: %v", err)
	}
	put(t, s, ExportLicence(t, "LIC-1", 2, "suspended", 5, "L2", "Other"), store.Accepted)
	if l := read(t, s, registers.Refs{Licences: []string{"LIC-1"}}).Licences["LIC-1"]; l.Status != "suspended" || l.Items["ML1"] != 5 || l.Holder.EntityID != "L2" {
		t.Errorf("licence v2 = %+v", l)
	}
	// An entity that changes its id leaves the old one; an exclusion that
	// changes its name leaves the old name.
	put(t, s, Entity(t, "ENT-1", 1, "Alpha", base), store.Accepted)
	put(t, s, Record(t, map[string]any{"kind": records.KindEntity, "id": "ENT-1", "version": 2, "label": label("AL/GOV/AIM", base),
		"entity": map[string]any{"entity_id": "ENT-1B", "name": "Beta", "country": "ALB"}}), store.Accepted)
	snap = read(t, s, registers.Refs{EntityIDs: []string{"ENT-1", "ENT-1B"}})
	if _, ok := snap.Entities["ENT-1"]; ok || snap.Entities["ENT-1B"] == nil || snap.Entities["ENT-1B"].Name != "Beta" {
		t.Errorf("entities = %v", snap.Entities)
	}
	put(t, s, Exclusion(t, "EXC-1", 1, "K9", "Old Name", "2025-01-01", ""), store.Accepted)
	put(t, s, Exclusion(t, "EXC-1", 2, "K8", "New Name", "2025-01-01", ""), store.Accepted)
	snap = read(t, s, registers.Refs{EntityIDs: []string{"K9", "K8"}, Names: []string{"old name", "new name"}})
	if len(snap.ByID) != 1 || snap.ByID["K8"]["EXC-1"] == nil || len(snap.ByName) != 1 || snap.ByName["new name"]["EXC-1"] == nil {
		t.Errorf("exclusion v2: by id %v, by name %v", snap.ByID, snap.ByName)
	}
}

func testExportBalance(t *testing.T, s store.Store) {
	put(t, s, ExportLicence(t, "LIC-1", 1, "issued", 10, "L1", "KAYO"), store.Accepted)
	put(t, s, Declaration(t, "DEC-1", 1, "LIC-1", "ML1", 4), store.Accepted)
	put(t, s, Declaration(t, "DEC-2", 1, "LIC-1", "ML1", 4), store.Accepted)
	_, err := s.Put(ctx, Declaration(t, "DEC-3", 1, "LIC-1", "ML1", 3), nil)
	if !errors.Is(err, store.ErrLicenceExceeded) || LicenceCode(err) != "licence_quantity_exceeded" {
		t.Fatalf("over the licence: %v", err)
	}
	if _, err := s.Get(ctx, "DEC-3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused declaration was stored: %v", err)
	}
	// A new version replaces its old quantity: 4 → 6 fits, 4 → 7 does not.
	if _, err := s.Put(ctx, Declaration(t, "DEC-1", 2, "LIC-1", "ML1", 7), nil); LicenceCode(err) != "licence_quantity_exceeded" {
		t.Errorf("new version over the licence: %v", err)
	}
	put(t, s, Declaration(t, "DEC-1", 2, "LIC-1", "ML1", 6), store.Accepted)
	// Exactly the licensed quantity is allowed; the same version again is
	// unchanged, not counted twice.
	put(t, s, Declaration(t, "DEC-1", 2, "LIC-1", "ML1", 6), store.Unchanged)
	if _, err := s.Put(ctx, Declaration(t, "DEC-4", 1, "LIC-1", "ML1", 1), nil); LicenceCode(err) != "licence_quantity_exceeded" {
		t.Errorf("one more than the licence: %v", err)
	}
	if _, err := s.Put(ctx, Declaration(t, "DEC-5", 1, "LIC-1", "ML3", 1), nil); LicenceCode(err) != "licence_category_not_covered" {
		t.Errorf("a category the licence does not cover: %v", err)
	}
	if _, err := s.Put(ctx, Declaration(t, "DEC-6", 1, "LIC-NONE", "ML1", 1), nil); !errors.Is(err, store.ErrLicenceNotInForce) || LicenceCode(err) != "licence_unknown" {
		t.Errorf("an unknown licence: %v", err)
	}
	if got := read(t, s, registers.Refs{Licences: []string{"LIC-1"}}).Exported["LIC-1"]["ML1"]; got != 10 {
		t.Errorf("exported = %d, want 10", got)
	}
}

func testExportBatch(t *testing.T, s store.Store) {
	res := s.PutBatch(ctx, []store.Item{
		{Record: ExportLicence(t, "LIC-1", 1, "issued", 5, "L1", "KAYO")},
		{Record: Declaration(t, "DEC-1", 1, "LIC-1", "ML1", 3)},
		{Record: Declaration(t, "DEC-2", 1, "LIC-1", "ML1", 3)},
		{Record: Declaration(t, "DEC-3", 1, "LIC-1", "ML1", 2)},
		{Record: ExportLicence(t, "LIC-1", 2, "suspended", 5, "L1", "KAYO")},
		{Record: Declaration(t, "DEC-4", 1, "LIC-1", "ML1", 0)},
	})
	want := []string{"accepted", "accepted", "licence_quantity_exceeded", "accepted", "accepted", "licence_suspended"}
	for i, r := range res {
		got := string(r.Outcome)
		if r.Err != nil {
			got = LicenceCode(r.Err)
			if got == "" {
				got = r.Err.Error()
			}
		}
		if got != want[i] {
			t.Errorf("item %d: %s, want %s", i, got, want[i])
		}
	}
	if got := read(t, s, registers.Refs{Licences: []string{"LIC-1"}}).Exported["LIC-1"]["ML1"]; got != 5 {
		t.Errorf("exported = %d, want 5", got)
	}
}

func testExportStatus(t *testing.T, s store.Store) {
	for i, st := range []string{"suspended", "revoked", "expired"} {
		id := fmt.Sprintf("LIC-%d", i)
		put(t, s, ExportLicence(t, id, 1, "issued", 5, "L1", "KAYO"), store.Accepted)
		put(t, s, ExportLicence(t, id, 2, st, 5, "L1", "KAYO"), store.Accepted)
		_, err := s.Put(ctx, Declaration(t, "DEC-"+id, 1, id, "ML1", 1), nil)
		if !errors.Is(err, store.ErrLicenceNotInForce) || LicenceCode(err) != "licence_"+st {
			t.Errorf("licence %s: %v", st, err)
		}
	}
}

// ConcurrentExports declares exports against one licence from many
// goroutines, each through stores[i%len(stores)] (give separate handles on
// one database to act as separate replicas), for rounds rounds: the store
// never accepts more than the licence allows, and every loser is refused
// with licence_quantity_exceeded.
func ConcurrentExports(t *testing.T, stores []store.Store, rounds int) {
	t.Helper()
	const licensed, each, workers = 10, 3, 8
	for round := range rounds {
		lic := fmt.Sprintf("LIC-RACE-%d", round)
		put(t, stores[0], ExportLicence(t, lic, 1, "issued", licensed, "L1", "KAYO"), store.Accepted)
		var (
			mu       sync.Mutex
			accepted int
			wg       sync.WaitGroup
		)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := stores[w%len(stores)]
				_, err := s.Put(ctx, Declaration(t, fmt.Sprintf("DEC-%d-%d", round, w), 1, lic, "ML1", each), nil)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					accepted++
				case LicenceCode(err) != "licence_quantity_exceeded":
					t.Errorf("round %d worker %d: %v", round, w, err)
				}
			}()
		}
		wg.Wait()
		if want := licensed / each; accepted != want {
			t.Errorf("round %d: %d declarations of %d accepted, want %d (licence of %d)", round, accepted, each, want, licensed)
		}
		if got := read(t, stores[len(stores)-1], registers.Refs{Licences: []string{lic}}).Exported[lic]["ML1"]; got != int64(accepted*each) {
			t.Errorf("round %d: exported %d, accepted %d", round, got, accepted*each)
		}
	}
}
