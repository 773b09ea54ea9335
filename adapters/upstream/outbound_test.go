package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// Leak tests: what leaves the gateway for a destination is what a pull by
// the destination's member would get from the real embedded policy, and
// each test looks at the bytes the receiving side got.

// outbound is one outbox with a peer gateway (IT/GOV/URA, a partner
// cleared to CONFIDENTIAL) and a partner's back office (http, the same
// member), each behind its own TLS listener.
type outbound struct {
	d        *deps
	o        *Outbox
	peer     *peerGateway
	office   *backOffice
	peerUp   *upstreamServer
	officeUp *upstreamServer
}

// newOutbound opens the outbox; start says whether its destinations are
// up from the beginning.
func newOutbound(t *testing.T, start bool) *outbound {
	t.Helper()
	p := newPKI(t)
	ob := &outbound{d: newDeps(), office: newBackOffice()}
	ob.peer = newPeerGateway(t, ob.d, itID)
	ob.peerUp = newUpstream(t, p.serverTLS(p.inter, p.root), ob.peer)
	ob.officeUp = newUpstream(t, p.serverTLS(p.inter, p.root), ob.office)
	if start {
		ob.start()
	}
	office := p.destination("it-office", "http", ob.officeUp.url(), records.KindLicence)
	office.Member = itID
	ob.o = openWith(t, ob.d, filepath.Join(t.TempDir(), "outbox.db"),
		p.destination("it-gateway", "peer", ob.peerUp.url(), records.KindLicence), office)
	return ob
}

func (ob *outbound) start() {
	ob.peerUp.start()
	ob.officeUp.start()
}

// settled waits until both destinations hold nothing more.
func (ob *outbound) settled(t *testing.T) {
	t.Helper()
	waitFor(t, "both queues to drain", func() bool {
		return drained(t, ob.o, "it-gateway") && drained(t, ob.o, "it-office")
	})
}

// wire is every byte both destinations received.
func (ob *outbound) wire() []byte {
	peerReqs, _, _ := ob.peer.snapshot()
	officeReqs, _, _ := ob.office.snapshot()
	return append(wire(peerReqs), wire(officeReqs)...)
}

// forwardOf is the one forward event of id@version for member on a
// destination's route.
func (ob *outbound) forwardOf(t *testing.T, dest, id string, version int) audit.Event {
	t.Helper()
	var found []audit.Event
	for _, ev := range ob.d.forwards() {
		if ev.Route == "outbox:"+dest && ev.RecordID == id && ev.RecordVersion == version {
			found = append(found, ev)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d forward events for %s@%d on %s, want 1: %+v", len(found), id, version, dest, ob.d.forwards())
	}
	return found[0]
}

func reasonCodesOf(ev audit.Event) []string {
	var codes []string
	for _, r := range ev.Reasons {
		codes = append(codes, r.Code)
	}
	return codes
}

// checkWithheld: the record left an audit event for each destination
// saying it was withheld from its member, with the policy's reason.
func (ob *outbound) checkWithheld(t *testing.T, rec *records.Record, code string) {
	t.Helper()
	for _, dest := range []string{"it-gateway", "it-office"} {
		ev := ob.forwardOf(t, dest, rec.ID, rec.Version)
		if ev.Action != ActionForward || ev.Member != itID || ev.Decision != audit.DecisionWithhold ||
			ev.RecordKind != rec.Kind || ev.DecisionID == "" || ev.PolicyRevision != embeddedPolicy(t).Revision() ||
			ev.SigningKID != "" || !slices.Contains(reasonCodesOf(ev), code) {
			t.Errorf("%s: forward event %+v, want a withhold for %s with %s", dest, ev, itID, code)
		}
	}
	if got := testutil.ToFloat64(ob.o.m.withheld.WithLabelValues("it-gateway")); got < 1 {
		t.Errorf("ura_outbox_withheld_total = %v", got)
	}
}

// TestOutboundClearance: a record classified above the destination
// member's clearance is never sent, to a peer or a back office.
func TestOutboundClearance(t *testing.T) {
	ob := newOutbound(t, true)
	secret := licence(t, "AIM-LIC-2026-000101", 1, "SECRET", "ALB", "ITA")
	enqueue(t, ob.o, secret)
	ob.settled(t)
	if w := ob.wire(); len(w) != 0 {
		t.Fatalf("the destinations received %d bytes: %.200s", len(w), w)
	}
	ob.checkWithheld(t, secret, "clearance_insufficient")
}

// TestOutboundNotReleasable: a record whose label does not release it to
// the member's nation is never sent.
func TestOutboundNotReleasable(t *testing.T) {
	ob := newOutbound(t, true)
	albOnly := licence(t, "AIM-LIC-2026-000102", 1, "RESTRICTED", "ALB")
	releasable := licence(t, "AIM-LIC-2026-000103", 1, "RESTRICTED", "ALB", "ITA")
	enqueue(t, ob.o, albOnly, releasable)
	ob.settled(t)
	w := ob.wire()
	if bytes.Contains(w, []byte("AIM-LIC-2026-000102")) {
		t.Fatalf("a record not releasable to ITA reached a destination")
	}
	if !bytes.Contains(w, []byte("AIM-LIC-2026-000103")) {
		t.Fatalf("the releasable record did not arrive")
	}
	ob.checkWithheld(t, albOnly, "not_releasable")
}

// TestOutboundRedaction: a field the policy redacts for the member (a
// partner: /licence/end_user/contact) never arrives; the rest does, and
// the peer's signed delivery names the redaction.
func TestOutboundRedaction(t *testing.T) {
	ob := newOutbound(t, true)
	rec := licence(t, "AIM-LIC-2026-000104", 1, "CONFIDENTIAL", "ALB", "ITA")
	enqueue(t, ob.o, rec)
	ob.settled(t)
	w := ob.wire()
	for _, secret := range []string{"mario.rossi", "Mario Rossi", `"contact"`} {
		if bytes.Contains(w, []byte(secret)) {
			t.Errorf("%q reached a destination", secret)
		}
	}
	for _, kept := range []string{"Ministero della Difesa", "contract_value", "AIM-LIC-2026-000104"} {
		if !bytes.Contains(w, []byte(kept)) {
			t.Errorf("%q, which a partner may see, did not arrive", kept)
		}
	}
	_, dels, _ := ob.peer.received(t)
	if len(dels) != 1 || !slices.Equal(dels[0].Redactions, []verdict.Redaction{{Pointer: "/licence/end_user/contact", Rule: "redactions.partner.licence"}}) {
		t.Fatalf("peer deliveries %+v", dels)
	}
	officeReqs, _, _ := ob.office.snapshot()
	if len(officeReqs) != 1 || !bytes.Equal(officeReqs[0].body, dels[0].Record) {
		t.Errorf("the back office and the peer got different bytes:\n%s\n%s", officeReqs[0].body, dels[0].Record)
	}
	for _, dest := range []string{"it-gateway", "it-office"} {
		ev := ob.forwardOf(t, dest, rec.ID, 1)
		if ev.Decision != audit.DecisionRedact || !slices.Equal(verdict.Pointers(ev.Redactions), []string{"/licence/end_user/contact"}) {
			t.Errorf("%s: forward event %+v", dest, ev)
		}
	}
}

// TestOutboundNewerVersion: while a destination is down, a record is
// updated twice. Only the stored version is ever decided: an older queued
// version is not re-sent, and when the newest may no longer be released
// nothing of the record is sent at all.
func TestOutboundNewerVersion(t *testing.T) {
	ob := newOutbound(t, false)
	sent := licence(t, "AIM-LIC-2026-000105", 1, "RESTRICTED", "ALB", "ITA")
	enqueue(t, ob.o, sent)
	sentV2 := licence(t, "AIM-LIC-2026-000105", 2, "RESTRICTED", "ALB", "ITA")
	enqueue(t, ob.o, sentV2)
	hidden := licence(t, "AIM-LIC-2026-000106", 1, "RESTRICTED", "ALB", "ITA")
	enqueue(t, ob.o, hidden)
	hiddenV2 := licence(t, "AIM-LIC-2026-000106", 2, "RESTRICTED", "ALB") // no longer released to Italy
	enqueue(t, ob.o, hiddenV2)
	waitFor(t, "failed attempts while the peer is down", func() bool {
		return testutil.ToFloat64(ob.o.m.failed.WithLabelValues("it-gateway", "network")) >= 1 &&
			testutil.ToFloat64(ob.o.m.failed.WithLabelValues("it-office", "network")) >= 1
	})
	ob.start()
	ob.settled(t)

	_, dels, _ := ob.peer.received(t)
	if bytes.Contains(ob.wire(), []byte("AIM-LIC-2026-000106")) {
		t.Fatal("a record whose stored version is no longer releasable reached a destination")
	}
	var got []string
	for _, d := range dels {
		got = append(got, recordKey(t, d.Record))
	}
	if !slices.Equal(got, []string{"AIM-LIC-2026-000105@2"}) {
		t.Errorf("peer received %v, want only the stored version 2", got)
	}
	officeReqs, _, _ := ob.office.snapshot()
	if len(officeReqs) != 1 || recordKey(t, officeReqs[0].body) != "AIM-LIC-2026-000105@2" {
		t.Errorf("the back office received %d requests, want version 2 only", len(officeReqs))
	}
	if n := testutil.ToFloat64(ob.o.m.superseded.WithLabelValues("it-gateway")); n < 1 {
		t.Errorf("ura_outbox_superseded_total = %v", n)
	}
	ob.checkWithheld(t, hiddenV2, "not_releasable")
}

// recordKey is "id@version" of a record's bytes.
func recordKey(t *testing.T, raw []byte) string {
	t.Helper()
	var rec struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	return keyOf(rec.ID, rec.Version)
}

// TestOutboundAuditFirst: a decision that cannot be made durable in the
// audit log sends nothing; the entry stays pending with the reason, and
// goes once the log takes it.
func TestOutboundAuditFirst(t *testing.T) {
	ob := newOutbound(t, true)
	ob.d.audit.Fail.Store(true)
	enqueue(t, ob.o, licence(t, "AIM-LIC-2026-000107", 1, "RESTRICTED", "ALB", "ITA"))
	waitFor(t, "failed audit attempts", func() bool {
		return testutil.ToFloat64(ob.o.m.failed.WithLabelValues("it-gateway", "audit")) >= 2
	})
	if w := ob.wire(); len(w) != 0 {
		t.Fatalf("sent while the audit log failed: %.200s", w)
	}
	q, err := ob.o.QueuedEntries("it-gateway")
	if err != nil || len(q) != 1 || !strings.Contains(q[0].Reason, "audit") {
		t.Fatalf("queued %+v (%v), want the entry with the audit failure as its status", q, err)
	}
	ob.d.audit.Fail.Store(false)
	ob.settled(t)
	ev := ob.forwardOf(t, "it-gateway", "AIM-LIC-2026-000107", 1)
	_, dels, _ := ob.peer.received(t)
	if len(dels) != 1 || dels[0].DecisionID != ev.DecisionID || ev.Seq == 0 {
		t.Errorf("delivery %+v, forward event %+v", dels, ev)
	}
}

// TestOutboundStoreDown: when the current version cannot be read, nothing
// is decided or sent; the entry waits.
func TestOutboundStoreDown(t *testing.T) {
	p := newPKI(t)
	d := newDeps()
	office := newBackOffice()
	up := newUpstream(t, p.serverTLS(p.inter, p.root), office)
	up.start()
	st := &storeGetFails{Store: d.store, fail: true}
	opts := d.options(t)
	opts.Store = st
	o, err := Open(config.Upstream{Destinations: []config.Destination{p.destination("bo", "http", up.url(), records.KindLicence)},
		Outbox: config.Outbox{Path: filepath.Join(t.TempDir(), "o.db")}}, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	recs := licences(t, 1)
	d.put(t, recs...)
	if err := o.Enqueue(ctx, recs[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "failed store reads", func() bool { return testutil.ToFloat64(o.m.failed.WithLabelValues("bo", "store")) >= 2 })
	if reqs, _, _ := office.snapshot(); len(reqs) != 0 || len(d.forwards()) != 0 {
		t.Fatalf("sent %d, audited %d while the store was down", len(reqs), len(d.forwards()))
	}
	st.mu.Lock()
	st.fail = false
	st.mu.Unlock()
	waitDelivered(t, o, "bo", 1)
	checkExactlyOnce(t, office, recs)
}

// TestOutboundReceipts: a peer's answer is taken only as a receipt that
// verifies against its JWKS and matches what was sent; anything else
// leaves the entry pending with the reason, and the peer's next good
// answer delivers it.
func TestOutboundReceipts(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(pg *peerGateway)
		reason string // the receipt result and what the status names
	}{
		{"forged", func(pg *peerGateway) { pg.forger = audittest.NewSigner(t, "ura-peer:1") }, "bad_signature"},
		{"unknown key", func(pg *peerGateway) { pg.forger = audittest.NewSigner(t, "ura-other:1") }, "unknown_kid"},
		{"wrong digest", func(pg *peerGateway) {
			pg.receipt = func(c map[string]any) { c["digest"] = records.Digest([]byte(`{"other":"content"}`)) }
		}, "digest_mismatch"},
		{"wrong recipient", func(pg *peerGateway) { pg.receipt = func(c map[string]any) { c["recipient"] = "AL/GOV/OTHER" } }, "wrong_recipient"},
		{"wrong version", func(pg *peerGateway) { pg.receipt = func(c map[string]any) { c["version"] = 7 } }, "wrong_record"},
		{"missing", func(pg *peerGateway) { pg.answer = `{"results":[]}` }, "missing"},
		{"not a push response", func(pg *peerGateway) { pg.answer = "ok" }, "missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ob := newOutbound(t, true)
			ob.peer.set(tc.break_)
			rec := licence(t, "AIM-LIC-2026-000108", 1, "RESTRICTED", "ALB", "ITA")
			enqueue(t, ob.o, rec)
			waitFor(t, "refused receipts", func() bool {
				return testutil.ToFloat64(ob.o.m.receipts.WithLabelValues("it-gateway", tc.reason)) >= 2
			})
			q, err := ob.o.QueuedEntries("it-gateway")
			if err != nil || len(q) != 1 || !strings.Contains(q[0].Reason, tc.reason) || q[0].Receipt != nil {
				t.Fatalf("queued %+v (%v): want the entry pending with %s", q, err, tc.reason)
			}
			if got := testutil.ToFloat64(ob.o.m.delivered.WithLabelValues("it-gateway")); got != 0 {
				t.Fatalf("delivered %v on an unverified receipt", got)
			}
			if sent, _ := ob.o.SentEntries("it-gateway"); len(sent) != 0 {
				t.Fatalf("kept %+v", sent)
			}
			ob.peer.set(func(pg *peerGateway) { pg.forger, pg.receipt, pg.answer = nil, nil, "" })
			waitDelivered(t, ob.o, "it-gateway", 1)
		})
	}

	t.Run("good receipt kept", func(t *testing.T) {
		ob := newOutbound(t, true)
		rec := licence(t, "AIM-LIC-2026-000109", 1, "RESTRICTED", "ALB", "ITA")
		enqueue(t, ob.o, rec)
		waitDelivered(t, ob.o, "it-gateway", 1)
		recs, _, _ := ob.peer.received(t)
		sent, err := ob.o.SentEntries("it-gateway")
		if err != nil || len(sent) != 1 {
			t.Fatalf("sent entries %+v (%v)", sent, err)
		}
		r, fw := sent[0].Receipt, sent[0].Forward
		if r == nil || fw == nil {
			t.Fatalf("sent entry without receipt or decision: %+v", sent[0])
		}
		ev := ob.forwardOf(t, "it-gateway", rec.ID, 1)
		if r.Status != "accepted" || r.Digest != records.Digest(recs[0]) || r.Digest != fw.Digest || r.KID != "ura-peer:1" ||
			r.AuditSeq != 1 || r.DecisionID == "" || r.JWS == "" || len(r.JWS) > MaxReceipt || r.Verified.IsZero() {
			t.Errorf("receipt %+v", r)
		}
		if fw.DecisionID != ev.DecisionID || fw.AuditSeq != ev.Seq || fw.Decision != audit.DecisionRedact {
			t.Errorf("forward %+v, event %+v", fw, ev)
		}
		if sent[0].At.IsZero() || time.Since(sent[0].At) > time.Minute {
			t.Errorf("sent at %v", sent[0].At)
		}
		if got := testutil.ToFloat64(ob.o.m.receipts.WithLabelValues("it-gateway", "valid")); got != 1 {
			t.Errorf("valid receipts %v", got)
		}
	})
}

// revokedEngine stands in for a policy change: from when it is switched
// on, it withholds everything; before, the embedded policy decides.
type revokedEngine struct {
	policy.Engine
	on atomic.Bool
}

func (r *revokedEngine) Decide(ctx context.Context, in policy.Input) policy.Decision {
	if r.on.Load() {
		return policy.Decision{ID: "changed", Revision: "rev-changed", Reasons: []verdict.Reason{{Code: "not_releasable", Message: "no longer"}}}
	}
	return r.Engine.Decide(ctx, in)
}

// DecideChunk is Decide for each question: the outbox decides a batch at
// once, and the change must reach it too.
func (r *revokedEngine) DecideChunk(ctx context.Context, in []policy.Input) []policy.Decision {
	if r.on.Load() {
		return policy.DecideEach(ctx, r, in)
	}
	return r.Engine.DecideChunk(ctx, in)
}

// TestOutboundPolicyChange: a record released when it was queued (and
// decided allow while the peer was down) is not sent once the policy no
// longer releases it: every attempt decides anew.
func TestOutboundPolicyChange(t *testing.T) {
	p := newPKI(t)
	d := newDeps()
	peer := newPeerGateway(t, d, itID)
	up := newUpstream(t, p.serverTLS(p.inter, p.root), peer)
	engine := &revokedEngine{Engine: embeddedPolicy(t)}
	opts := d.options(t)
	opts.Policy = engine
	dest := p.destination("it-gateway", "peer", up.url(), records.KindLicence)
	// The second attempt comes a second or more after the first fails:
	// the policy changes in between, not during an attempt.
	dest.BackoffInitial, dest.BackoffMax = 2*time.Second, 2*time.Second
	o, err := Open(config.Upstream{Destinations: []config.Destination{dest},
		Outbox: config.Outbox{Path: filepath.Join(t.TempDir(), "o.db")}}, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	rec := licence(t, "AIM-LIC-2026-000110", 1, "RESTRICTED", "ALB", "ITA")
	enqueue(t, o, rec)
	waitFor(t, "failed attempts while the peer is down", func() bool {
		return testutil.ToFloat64(o.m.failed.WithLabelValues("it-gateway", "network")) >= 1
	})
	if evs := d.forwards(); len(evs) == 0 || evs[0].Decision != audit.DecisionRedact {
		t.Fatalf("forward events before the change: %+v", evs)
	}
	engine.on.Store(true)
	up.start()
	waitFor(t, "the entry to be withheld", func() bool { return drained(t, o, "it-gateway") })
	if reqs, _, _ := peer.snapshot(); len(reqs) != 0 {
		t.Fatalf("the peer received %d requests after the policy stopped releasing the record", len(reqs))
	}
	evs := d.forwards()
	if last := evs[len(evs)-1]; last.Decision != audit.DecisionWithhold || last.DecisionID != "changed" || last.PolicyRevision != "rev-changed" {
		t.Errorf("last forward event %+v", last)
	}
}
