package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/storetest"
	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
)

var (
	ctx  = context.Background()
	base = time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC)
)

// openOutbox opens an outbox on deps of its own.
func openOutbox(t *testing.T, path string, dests ...config.Destination) *Outbox {
	t.Helper()
	return openWith(t, newDeps(), path, dests...)
}

// openWith opens an outbox on d, closed when the test ends.
func openWith(t *testing.T, d *deps, path string, dests ...config.Destination) *Outbox {
	t.Helper()
	o, err := Open(config.Upstream{Destinations: dests, Outbox: config.Outbox{Path: path}}, nil, d.options(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

// depsOf are the deps an outbox was opened with.
func depsOf(o *Outbox) *deps {
	return &deps{store: o.store.(*apitest.Store), audit: o.audit.(*apitest.Audit), peers: o.peers.(testPeers)}
}

func licences(t *testing.T, n int) []*records.Record {
	out := make([]*records.Record, n)
	for i := range out {
		out[i] = storetest.Licence(t, fmt.Sprintf("AIM-LIC-2026-%06d", i+1), 1, "issued", base)
	}
	return out
}

// enqueue stores each record and queues it, as an accepted push does.
func enqueue(t *testing.T, o *Outbox, recs ...*records.Record) {
	t.Helper()
	for _, r := range recs {
		depsOf(o).put(t, r)
		if err := o.Enqueue(ctx, r); err != nil {
			t.Fatalf("Enqueue %s: %v", r.ID, err)
		}
	}
}

// drained reports whether nothing waits for name any more, in the file and
// in the metrics (which are counted just after the commit that removes).
func drained(t *testing.T, o *Outbox, name string) bool {
	t.Helper()
	return pending(t, o, name) == 0 && testutil.ToFloat64(o.m.pending.WithLabelValues(name)) == 0
}

func pending(t *testing.T, o *Outbox, name string) int {
	t.Helper()
	n, err := o.Pending(name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkExactlyOnce: every key was stored once by the back office, in
// enqueue order, with the record as its body.
func checkExactlyOnce(t *testing.T, b *backOffice, recs []*records.Record) {
	t.Helper()
	_, order, stored := b.snapshot()
	var want []string
	for _, r := range recs {
		want = append(want, keyOf(r.ID, r.Version))
		if body, ok := stored[keyOf(r.ID, r.Version)]; !ok {
			t.Errorf("%s@%d never delivered", r.ID, r.Version)
		} else if !bytes.Equal(body, r.Raw) {
			t.Errorf("%s delivered as %s, want the record's JSON", r.ID, body)
		}
	}
	if !slices.Equal(order, want) {
		t.Errorf("back office stored %v\nwant, in enqueue order, %v", order, want)
	}
}

// TestOutboxUpstreamOutage: records accepted while the back office is down
// wait in the outbox and reach it, each exactly once and in order, after it
// comes back on the same address.
func TestOutboxUpstreamOutage(t *testing.T) {
	p := newPKI(t)
	bo := newBackOffice()
	up := newUpstream(t, p.serverTLS(p.inter, p.root), bo)
	dest := p.destination("aim-backoffice", "http", up.url()+"/api/records", records.KindLicence, records.KindTrackingEvent)
	o := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"), dest)

	recs := licences(t, 20)
	// An entity is not a kind this destination takes: it must not be sent.
	entity := storetest.Entity(t, "L61234567A", 1, "KAYO sh.a.", base)
	enqueue(t, o, recs[:10]...)
	enqueue(t, o, entity)
	enqueue(t, o, recs[10:]...)
	if n := pending(t, o, "aim-backoffice"); n != 20 {
		t.Fatalf("pending = %d, want 20", n)
	}
	waitFor(t, "failed attempts while the back office is down", func() bool {
		return testutil.ToFloat64(o.m.failed.WithLabelValues("aim-backoffice", "network")) >= 3
	})
	if got := testutil.ToFloat64(o.m.pending.WithLabelValues("aim-backoffice")); got != 20 {
		t.Errorf("ura_outbox_pending = %v, want 20", got)
	}

	up.start()
	waitDelivered(t, o, "aim-backoffice", 20)
	checkExactlyOnce(t, bo, recs)
	reqs, _, _ := bo.snapshot()
	for _, d := range reqs {
		if d.contentType != "application/json" || d.path != "/api/records" {
			t.Errorf("request %s: Content-Type %q path %q", d.key, d.contentType, d.path)
		}
		if d.client != "urn:ura:member:AL/GOV/AIM" {
			t.Errorf("request %s: client certificate %q, want the gateway's", d.key, d.client)
		}
		if strings.HasPrefix(d.key, "L61234567A") {
			t.Errorf("entity %s sent to a destination that does not take entities", d.key)
		}
	}
	if got := testutil.ToFloat64(o.m.delivered.WithLabelValues("aim-backoffice")); got != 20 {
		t.Errorf("ura_outbox_delivered_total = %v, want 20", got)
	}
	if got := testutil.ToFloat64(o.m.pending.WithLabelValues("aim-backoffice")); got != 0 {
		t.Errorf("ura_outbox_pending = %v, want 0", got)
	}

	// Down again, and back: a second outage drains the same way.
	up.stop()
	more := []*records.Record{storetest.Licence(t, "AIM-LIC-2026-000001", 2, "suspended", base.Add(time.Hour))}
	enqueue(t, o, more...)
	waitFor(t, "a failed attempt in the second outage", func() bool {
		return testutil.ToFloat64(o.m.failed.WithLabelValues("aim-backoffice", "network")) >= 4
	})
	up.start()
	waitDelivered(t, o, "aim-backoffice", 21)
	checkExactlyOnce(t, bo, append(recs, more...))
}

// TestOutboxGatewayRestart closes the outbox while a delivery is in flight
// (the back office has stored the record but not yet answered) and opens it
// again from the same file: nothing is lost, and the one record sent twice
// is recognised by its idempotency key.
func TestOutboxGatewayRestart(t *testing.T) {
	p := newPKI(t)
	bo := newBackOffice()
	inFlight := make(chan struct{})
	var once sync.Once
	bo.hold = func(r *http.Request, d delivery) {
		if d.key != keyOf("AIM-LIC-2026-000005", 1) {
			return
		}
		first := false
		once.Do(func() { first = true })
		if first {
			close(inFlight)
			<-r.Context().Done() // never answers: the gateway goes away first
		}
	}
	up := newUpstream(t, p.serverTLS(p.inter, p.root), bo)
	up.start()
	dest := p.destination("aim-backoffice", "http", up.url(), records.KindLicence)
	path := filepath.Join(t.TempDir(), "outbox.db")

	d := newDeps()
	o, err := Open(config.Upstream{Destinations: []config.Destination{dest}, Outbox: config.Outbox{Path: path}}, nil, d.options(t))
	if err != nil {
		t.Fatal(err)
	}
	recs := licences(t, 10)
	d.put(t, recs...)
	if err := o.EnqueueBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	<-inFlight
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Enqueue(ctx, recs[0]); !isUnavailable(err) {
		t.Errorf("Enqueue after Close = %v, want ErrUnavailable", err)
	}
	_, order, _ := bo.snapshot()
	if len(order) != 5 {
		t.Fatalf("before the restart the back office stored %d records, want 5 (1-4 answered, 5 in flight)", len(order))
	}

	// The back office goes down too, so that what the reopened outbox holds
	// can be counted before it drains.
	up.stop()
	o2 := openWith(t, d, path, dest)
	if n := pending(t, o2, "aim-backoffice"); n != 6 {
		t.Errorf("after reopening, %d pending; want 6 (the one in flight and 6-10)", n)
	}
	if got := testutil.ToFloat64(o2.m.pending.WithLabelValues("aim-backoffice")); got != 6 {
		t.Errorf("ura_outbox_pending after reopening = %v, want 6", got)
	}
	up.start()
	waitDelivered(t, o2, "aim-backoffice", 6)
	checkExactlyOnce(t, bo, recs)
	reqs, _, _ := bo.snapshot()
	sent := map[string]int{}
	for _, d := range reqs {
		sent[d.key]++
	}
	for k, n := range sent {
		want := 1
		if k == keyOf("AIM-LIC-2026-000005", 1) {
			want = 2
		}
		if n != want {
			t.Errorf("%s sent %d times, want %d", k, n, want)
		}
	}
	// The re-send was answered 409 and counts as delivered.
	if got := testutil.ToFloat64(o2.m.delivered.WithLabelValues("aim-backoffice")); got != 6 {
		t.Errorf("delivered after restart = %v, want 6", got)
	}
}

// TestOutboxEnqueueIsDurable: Enqueue has returned, the gateway stops before
// any delivery; the next start delivers.
func TestOutboxEnqueueIsDurable(t *testing.T) {
	p := newPKI(t)
	bo := newBackOffice()
	up := newUpstream(t, p.serverTLS(p.inter, p.root), bo)
	dest := p.destination("aim-backoffice", "http", up.url(), records.KindLicence)
	path := filepath.Join(t.TempDir(), "outbox.db")
	d := newDeps()
	o, err := Open(config.Upstream{Destinations: []config.Destination{dest}, Outbox: config.Outbox{Path: path}}, nil, d.options(t))
	if err != nil {
		t.Fatal(err)
	}
	recs := licences(t, 3)
	enqueue(t, o, recs...)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	up.start()
	o2 := openWith(t, d, path, dest)
	waitDelivered(t, o2, "aim-backoffice", 3)
	checkExactlyOnce(t, bo, recs)
}

// waitDelivered waits until the outbox has counted n deliveries to name and
// holds nothing more for it.
func waitDelivered(t *testing.T, o *Outbox, name string, n float64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%v deliveries to %s", n, name), func() bool {
		return testutil.ToFloat64(o.m.delivered.WithLabelValues(name)) == n && pending(t, o, name) == 0
	})
}

func isUnavailable(err error) bool {
	return errors.Is(err, ErrUnavailable)
}

// TestOutboxUntrustedUpstream is the attack: a server that is not the
// configured back office (its certificate chains to a root the destination
// does not trust) must never receive a record, however long it stays there.
func TestOutboxUntrustedUpstream(t *testing.T) {
	p := newPKI(t)
	t.Run("untrusted root", func(t *testing.T) {
		bo := newBackOffice()
		up := newUpstream(t, p.serverTLS(p.foreign, p.root), bo)
		up.start()
		o := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"), p.destination("aim-backoffice", "http", up.url(), records.KindLicence))
		enqueue(t, o, licences(t, 2)...)
		waitFor(t, "refused handshakes", func() bool {
			return testutil.ToFloat64(o.m.failed.WithLabelValues("aim-backoffice", "tls")) >= 3
		})
		if reqs, _, _ := bo.snapshot(); len(reqs) != 0 {
			t.Fatalf("the impostor received %d requests", len(reqs))
		}
		if n := pending(t, o, "aim-backoffice"); n != 2 {
			t.Errorf("pending = %d; a record must stay queued, not be dropped", n)
		}
	})
	t.Run("server certificate for another host", func(t *testing.T) {
		bo := newBackOffice()
		l, err := p.inter.Issue(certs.LeafOptions{CommonName: "backoffice.example", DNSNames: []string{"backoffice.example"}, Server: true})
		if err != nil {
			t.Fatal(err)
		}
		tc := p.serverTLS(p.inter, p.root)
		tc.Certificates = []tls.Certificate{l.TLSCertificate()}
		up := newUpstream(t, tc, bo)
		up.start()
		o := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"), p.destination("aim-backoffice", "http", up.url(), records.KindLicence))
		enqueue(t, o, licences(t, 1)...)
		waitFor(t, "refused handshakes", func() bool {
			return testutil.ToFloat64(o.m.failed.WithLabelValues("aim-backoffice", "tls")) >= 3
		})
		if reqs, _, _ := bo.snapshot(); len(reqs) != 0 {
			t.Fatalf("a server with another host's certificate received %d requests", len(reqs))
		}
	})
	t.Run("redirect to another host", func(t *testing.T) {
		// A back office that answers with a redirect must not make the
		// gateway send the record somewhere nobody configured.
		thief := newBackOffice()
		thiefSrv := newUpstream(t, p.serverTLS(p.inter, p.root), thief)
		thiefSrv.start()
		bo := newBackOffice()
		bo.respond = func(delivery, int) (int, http.Header, string) {
			return http.StatusPermanentRedirect, http.Header{"Location": {thiefSrv.url() + "/steal"}}, ""
		}
		up := newUpstream(t, p.serverTLS(p.inter, p.root), bo)
		up.start()
		o := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"), p.destination("aim-backoffice", "http", up.url(), records.KindLicence))
		enqueue(t, o, licences(t, 1)...)
		waitFor(t, "the record to be parked", func() bool { return testutil.ToFloat64(o.m.parked.WithLabelValues("aim-backoffice")) == 1 })
		if reqs, _, _ := thief.snapshot(); len(reqs) != 0 {
			t.Fatalf("the redirect target received %d requests", len(reqs))
		}
	})
}

// TestOutboxAnswers: what each answer of a back office does to the record.
func TestOutboxAnswers(t *testing.T) {
	p := newPKI(t)
	cases := []struct {
		name string
		// answers are given in turn; the last repeats.
		answers    []int
		retryAfter string
		wantParked bool
		wantStatus int
		wantReason string // failed-attempt reason label when retried
	}{
		{name: "201 delivered", answers: []int{201}},
		{name: "200 delivered", answers: []int{200}},
		{name: "409 already there", answers: []int{409}},
		{name: "503 then 200", answers: []int{503, 503, 200}, wantReason: "http_5xx"},
		{name: "429 with Retry-After then 200", answers: []int{429, 200}, retryAfter: "0", wantReason: "http_429"},
		{name: "408 then 200", answers: []int{408, 200}, wantReason: "http_408"},
		{name: "400 parked", answers: []int{400}, wantParked: true, wantStatus: 400},
		{name: "403 parked", answers: []int{403}, wantParked: true, wantStatus: 403},
		{name: "422 parked", answers: []int{422}, wantParked: true, wantStatus: 422},
		{name: "413 parked", answers: []int{413}, wantParked: true, wantStatus: 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bo := newBackOffice()
			bo.respond = func(d delivery, n int) (int, http.Header, string) {
				// Only the first record gets the scripted answers; the
				// second shows the queue is not blocked behind it.
				if d.key != keyOf("AIM-LIC-2026-000001", 1) {
					return 201, nil, ""
				}
				calls := 0
				reqs, _, _ := bo.snapshot()
				for _, r := range reqs {
					if r.key == d.key {
						calls++
					}
				}
				h := http.Header{}
				if tc.retryAfter != "" {
					h.Set("Retry-After", tc.retryAfter)
				}
				st := tc.answers[min(calls, len(tc.answers))-1]
				if st >= 400 && st < 500 {
					h.Set("Content-Type", problem.ContentType)
					return st, h, `{"type":"urn:example:rejected","title":"no","detail":"secret internals"}`
				}
				return st, h, ""
			}
			up := newUpstream(t, p.serverTLS(p.inter, p.root), bo)
			up.start()
			o := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"), p.destination("bo", "http", up.url(), records.KindLicence))
			enqueue(t, o, licences(t, 2)...)
			waitFor(t, "both records settled", func() bool {
				return testutil.ToFloat64(o.m.delivered.WithLabelValues("bo"))+testutil.ToFloat64(o.m.parked.WithLabelValues("bo")) == 2
			})
			parked, err := o.ParkedEntries("bo")
			if err != nil {
				t.Fatal(err)
			}
			delivered := testutil.ToFloat64(o.m.delivered.WithLabelValues("bo"))
			if tc.wantParked {
				if len(parked) != 1 || parked[0].ID != "AIM-LIC-2026-000001" || parked[0].Status != tc.wantStatus {
					t.Fatalf("parked = %+v, want the first record with status %d", parked, tc.wantStatus)
				}
				if !strings.Contains(parked[0].Reason, "urn:example:rejected") || strings.Contains(parked[0].Reason, "secret internals") {
					t.Errorf("parked reason %q: want the problem type, never the body", parked[0].Reason)
				}
				if got := testutil.ToFloat64(o.m.parked.WithLabelValues("bo")); got != 1 {
					t.Errorf("ura_outbox_parked_total = %v", got)
				}
				if delivered != 1 {
					t.Errorf("delivered = %v, want 1 (the second record)", delivered)
				}
				return
			}
			if len(parked) != 0 {
				t.Fatalf("parked %+v", parked)
			}
			if delivered != 2 {
				t.Errorf("delivered = %v, want 2", delivered)
			}
			if tc.wantReason != "" {
				if got := testutil.ToFloat64(o.m.failed.WithLabelValues("bo", tc.wantReason)); got < 1 {
					t.Errorf("ura_outbox_failed_attempts_total{reason=%q} = %v", tc.wantReason, got)
				}
			}
		})
	}
}

// TestOutboxMaxAttemptsAndRequeue: a destination that keeps failing parks
// the record after max_attempts; once fixed, Requeue delivers it.
func TestOutboxMaxAttemptsAndRequeue(t *testing.T) {
	p := newPKI(t)
	bo := newBackOffice()
	var mu sync.Mutex
	broken := true
	bo.respond = func(d delivery, n int) (int, http.Header, string) {
		mu.Lock()
		defer mu.Unlock()
		if broken {
			return 502, nil, ""
		}
		return 201, nil, ""
	}
	up := newUpstream(t, p.serverTLS(p.inter, p.root), bo)
	up.start()
	dest := p.destination("bo", "http", up.url(), records.KindLicence)
	dest.MaxAttempts = 3
	o := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"), dest)
	enqueue(t, o, licences(t, 1)...)
	waitFor(t, "parking after 3 attempts", func() bool { return testutil.ToFloat64(o.m.parked.WithLabelValues("bo")) == 1 })
	parked, _ := o.ParkedEntries("bo")
	if len(parked) != 1 || parked[0].Attempts != 3 || parked[0].Status != 502 {
		t.Fatalf("parked = %+v", parked)
	}
	if reqs, _, _ := bo.snapshot(); len(reqs) != 3 {
		t.Errorf("%d attempts, want 3", len(reqs))
	}
	mu.Lock()
	broken = false
	mu.Unlock()
	n, err := o.Requeue("bo")
	if err != nil || n != 1 {
		t.Fatalf("Requeue = %d, %v", n, err)
	}
	waitFor(t, "delivery after requeue", func() bool { return testutil.ToFloat64(o.m.delivered.WithLabelValues("bo")) == 1 })
	if parked, _ := o.ParkedEntries("bo"); len(parked) != 0 {
		t.Errorf("still parked: %+v", parked)
	}
}

// TestOutboxPeer: federation to a partner's gateway. The record goes as
// NDJSON to /v1/records with the gateway's member certificate; a record the
// policy does not release to the peer's member is queued, decided at
// delivery, audited as withheld and never sent; a record the peer denies is
// parked, not retried for ever and not dropped.
func TestOutboxPeer(t *testing.T) {
	p := newPKI(t)
	d := newDeps()
	peer := newPeerGateway(t, d, czID)
	peer.status = func(id string) string {
		if id == "AIM-EVT-2026-9000002" {
			return "denied"
		}
		return "accepted"
	}
	up := newUpstream(t, p.serverTLS(p.inter, p.root), peer)
	up.start()
	dest := p.destination("cz-gateway", "peer", up.url(), records.KindLicence, records.KindTrackingEvent)
	dest.Member = czID
	o := openWith(t, d, filepath.Join(t.TempDir(), "outbox.db"), dest)

	mark := store.Marking{Country: "ALB", Manufacturer: "KAYO", Serial: "K26-000123"}
	releasable := storetest.Event(t, "AIM-EVT-2026-9000001", 1, "AL/GOV/AIM", "TRANSFERRED", "AIM-LIC-2026-000123",
		mark, base) // releasable_to ALB, CZE; from ALB to CZE
	// Released to Albania alone (Czechia is in NATO, so "ALB, NATO" would
	// reach it).
	doc := storetest.Licence(t, "AIM-LIC-2026-000123", 1, "issued", base).Doc
	doc["label"].(map[string]any)["releasable_to"] = []string{"ALB"}
	notReleasable := storetest.Record(t, doc)
	denied := storetest.Event(t, "AIM-EVT-2026-9000002", 1, "AL/GOV/AIM", "TRANSFERRED", "AIM-LIC-2026-000123", mark, base)
	enqueue(t, o, releasable, notReleasable, denied)
	waitFor(t, "the peer queue to settle", func() bool { return drained(t, o, "cz-gateway") })
	if got := testutil.ToFloat64(o.m.delivered.WithLabelValues("cz-gateway")); got != 1 {
		t.Errorf("delivered %v, want 1", got)
	}
	if got := testutil.ToFloat64(o.m.withheld.WithLabelValues("cz-gateway")); got != 1 {
		t.Errorf("withheld %v, want 1", got)
	}
	reqs, _, _ := peer.snapshot()
	if len(reqs) != 2 {
		t.Fatalf("peer received %d requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		if r.path != "/v1/records" || r.contentType != "application/x-ndjson" {
			t.Errorf("peer request: path %q Content-Type %q", r.path, r.contentType)
		}
		if bytes.Count(r.body, []byte("\n")) != 1 || !bytes.HasSuffix(r.body, []byte("\n")) {
			t.Errorf("peer body is not one NDJSON line: %q", r.body)
		}
		if r.client != "urn:ura:member:AL/GOV/AIM" {
			t.Errorf("peer saw client %q", r.client)
		}
	}
	if bytes.Contains(wire(reqs), []byte(`"kind":"licence"`)) {
		t.Errorf("a record not releasable to CZE reached the peer")
	}
	parked, _ := o.ParkedEntries("cz-gateway")
	if len(parked) != 1 || parked[0].ID != "AIM-EVT-2026-9000002" || !strings.Contains(parked[0].Reason, "denied") ||
		!strings.Contains(parked[0].Reason, "not_releasable") || parked[0].Receipt == nil || parked[0].Receipt.Status != "denied" {
		t.Errorf("parked = %+v", parked)
	}
	var withheld []string
	for _, ev := range d.forwards() {
		if ev.Decision == audit.DecisionWithhold {
			withheld = append(withheld, ev.RecordID)
		}
	}
	if !slices.Equal(withheld, []string{"AIM-LIC-2026-000123"}) {
		t.Errorf("withheld forward events for %v", withheld)
	}
}

func TestOutboxCollector(t *testing.T) {
	p := newPKI(t)
	o := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"), p.destination("bo", "http", "https://127.0.0.1:1", records.KindLicence))
	reg := prometheus.NewRegistry()
	if err := reg.Register(o); err != nil {
		t.Fatal(err)
	}
	enqueue(t, o, licences(t, 1)...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	for _, want := range []string{"ura_outbox_pending"} {
		if !slices.Contains(names, want) {
			t.Errorf("registry lacks %s: %v", want, names)
		}
	}
}

func TestOpenRejectsBadDestination(t *testing.T) {
	p := newPKI(t)
	good := p.destination("bo", "http", "https://127.0.0.1:1", records.KindLicence)
	cases := map[string]func(d *config.Destination){
		"plain http":          func(d *config.Destination) { d.URL = "http://127.0.0.1:1" },
		"unknown kind":        func(d *config.Destination) { d.Kind = "ftp" },
		"missing client cert": func(d *config.Destination) { d.ClientCertFile = p.path("nope.crt") },
		"CA file not PEM":     func(d *config.Destination) { d.CAFile = d.ClientKeyFile + ".missing" },
		"no member":           func(d *config.Destination) { d.Member = "" },
		"unregistered member": func(d *config.Destination) { d.Member = "XX/GOV/NONE" },
	}
	open := func(t *testing.T, d config.Destination, opts Options) error {
		o, err := Open(config.Upstream{Destinations: []config.Destination{d}, Outbox: config.Outbox{Path: filepath.Join(t.TempDir(), "o.db")}}, nil, opts)
		if err == nil {
			_ = o.Close()
		}
		return err
	}
	if err := open(t, good, newDeps().options(t)); err != nil {
		t.Fatalf("the good destination: %v", err)
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			d := good
			mutate(&d)
			if err := open(t, d, newDeps().options(t)); err == nil {
				t.Fatal("Open accepted it")
			}
		})
	}
	// Nothing is sent undecided or unaudited: each of the parts that
	// decide and audit is required.
	for name, drop := range map[string]func(o *Options){
		"no registry": func(o *Options) { o.Registry = nil },
		"no store":    func(o *Options) { o.Store = nil },
		"no policy":   func(o *Options) { o.Policy = nil },
		"no audit":    func(o *Options) { o.Audit = nil },
	} {
		t.Run(name, func(t *testing.T) {
			opts := newDeps().options(t)
			drop(&opts)
			if err := open(t, good, opts); err == nil {
				t.Fatal("Open accepted it")
			}
		})
	}
}

func TestConfigKindsMatchRecordModel(t *testing.T) {
	if got := config.RecordKinds(); !slices.Equal(got, records.Kinds) {
		t.Errorf("config.RecordKinds() = %v, records.Kinds = %v: keep them equal", got, records.Kinds)
	}
}

// TestOutboxEnqueueForRecipient: a record released by two-person authority
// is queued only for the destinations whose member is its recipient.
func TestOutboxEnqueueForRecipient(t *testing.T) {
	p := newPKI(t)
	up := newUpstream(t, p.serverTLS(p.inter, p.root), newBackOffice()) // never started: entries wait
	mine := p.destination("aim-backoffice", "http", up.url(), records.KindLicence)
	other := p.destination("other-backoffice", "http", up.url(), records.KindLicence)
	other.Member = itID
	o := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"), mine, other)
	rec := licences(t, 1)[0]
	depsOf(o).put(t, rec)
	if err := o.EnqueueDecided(ctx, []Decided{{Record: rec, Recipient: aimID}}); err != nil {
		t.Fatal(err)
	}
	if a, b := pending(t, o, "aim-backoffice"), pending(t, o, "other-backoffice"); a != 1 || b != 0 {
		t.Errorf("queued %d for the recipient's destination, %d for another's; want 1 and 0", a, b)
	}
}
