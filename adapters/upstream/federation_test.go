package upstream

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// fedSeed fixes the test signer's key, so every outbox a test opens signs
// with the key the stand-in peers verify against.
var fedSeed = bytes.Repeat([]byte{7}, 32)

func fedSigner(t testing.TB) *audittest.Signer {
	return audittest.NewSignerFromSeed(t, "ura-a:1", fedSeed)
}

// TestOutboxPeerSigned: what a peer receives is a signed delivery bound to
// the peer's member ID and to the decision made at delivery time, as a pull
// by that member: its decision ID, policy revision and redactions, the ones
// the forward event in the audit log names; not the push decision that
// accepted the record.
func TestOutboxPeerSigned(t *testing.T) {
	p := newPKI(t)
	d := newDeps()
	peer := newPeerGateway(t, d, itID)
	up := newUpstream(t, p.serverTLS(p.inter, p.root), peer)
	up.start()
	o := openWith(t, d, filepath.Join(t.TempDir(), "outbox.db"), p.destination("it-gateway", "peer", up.url(), records.KindLicence))

	recs := []*records.Record{
		licence(t, "AIM-LIC-2026-000001", 1, "RESTRICTED", "ALB", "ITA"),
		licence(t, "AIM-LIC-2026-000002", 1, "RESTRICTED", "ALB", "ITA"),
	}
	d.put(t, recs...)
	if err := o.EnqueueDecided(ctx, []Decided{{Record: recs[0], DecisionID: "push-dec-1", PolicyRevision: "rev-1"}, {Record: recs[1]}}); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, o, "it-gateway", 2)
	reqs, _, _ := peer.snapshot()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	forwards := d.forwards()
	if len(forwards) != 2 {
		t.Fatalf("%d forward events, want 2", len(forwards))
	}
	_, dels, _ := peer.received(t)
	for i, r := range reqs {
		if strings.Contains(string(r.body), `"kind"`) {
			t.Errorf("the record travelled outside its signature: %q", r.body)
		}
		del, ev := dels[i], forwards[i]
		if del.Recipient != itID || del.Issuer != "ura.aim.gov.al" || del.IssuedAt == 0 {
			t.Errorf("delivery %d: recipient %q issuer %q iat %d", i, del.Recipient, del.Issuer, del.IssuedAt)
		}
		if del.DecisionID == "" || del.DecisionID == "push-dec-1" || del.DecisionID != ev.DecisionID ||
			del.PolicyRevision != embeddedPolicy(t).Revision() || del.PolicyRevision != ev.PolicyRevision {
			t.Errorf("delivery %d: decision %q revision %q; the forward event has %q %q", i, del.DecisionID, del.PolicyRevision, ev.DecisionID, ev.PolicyRevision)
		}
		// The peer's member here is a partner: its table entry removed it.
		want := []verdict.Redaction{{Pointer: "/licence/end_user/contact", Rule: "redactions.partner.licence"}}
		if !slices.Equal(del.Redactions, want) || ev.Decision != audit.DecisionRedact || !slices.Equal(ev.Redactions, want) {
			t.Errorf("delivery %d: redactions %v; event %s %v", i, del.Redactions, ev.Decision, ev.Redactions)
		}
		if ev.SigningKID != "ura-a:1" || ev.RecordID != recs[i].ID {
			t.Errorf("forward event %d: kid %q record %s", i, ev.SigningKID, ev.RecordID)
		}
	}
}

// TestOutboxPeerSignerDown: with the signer failing, nothing reaches the
// peer (never unsigned) and the record waits; it goes once signing works.
func TestOutboxPeerSignerDown(t *testing.T) {
	p := newPKI(t)
	d := newDeps()
	peer := newPeerGateway(t, d, itID)
	up := newUpstream(t, p.serverTLS(p.inter, p.root), peer)
	up.start()
	dest := p.destination("it-gateway", "peer", up.url(), records.KindLicence)
	signer := fedSigner(t)
	signer.Fail.Store(true)
	opts := d.options(t)
	opts.Signer = signer
	o, err := Open(config.Upstream{Destinations: []config.Destination{dest}, Outbox: config.Outbox{Path: filepath.Join(t.TempDir(), "o.db")}}, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	enqueue(t, o, licence(t, "AIM-LIC-2026-000001", 1, "RESTRICTED", "ITA"))
	waitFor(t, "failed signing attempts", func() bool {
		return testutil.ToFloat64(o.m.failed.WithLabelValues("it-gateway", "signing")) >= 3
	})
	if reqs, _, _ := peer.snapshot(); len(reqs) != 0 {
		t.Fatalf("the peer received %d requests while signing failed", len(reqs))
	}
	if n := pending(t, o, "it-gateway"); n != 1 {
		t.Fatalf("pending = %d, want the record still queued", n)
	}
	signer.Fail.Store(false)
	waitDelivered(t, o, "it-gateway", 1)
	peer.received(t)
}

// TestOpenPeerNeedsSigner: a peer destination without a signer, or whose
// receipts nothing can verify, is refused at start rather than sending
// unsigned or taking unverified answers.
func TestOpenPeerNeedsSigner(t *testing.T) {
	p := newPKI(t)
	d := newDeps()
	newPeerGateway(t, d, itID)
	dest := p.destination("it-gateway", "peer", "https://127.0.0.1:1", records.KindLicence)
	cfg := func(d config.Destination) config.Upstream {
		return config.Upstream{Destinations: []config.Destination{d}, Outbox: config.Outbox{Path: filepath.Join(t.TempDir(), "o.db")}}
	}
	opts := d.options(t)
	opts.Signer = nil
	if _, err := Open(cfg(dest), nil, opts); err == nil || !strings.Contains(err.Error(), "signer") {
		t.Fatalf("Open without a signer: %v", err)
	}
	for name, mutate := range map[string]func(o *Options){
		"no peers":       func(o *Options) { o.Peers = nil },
		"not a peer":     func(o *Options) { o.Peers = testPeers{} },
		"no sign.member": func(o *Options) { o.Self = "" },
	} {
		opts := d.options(t)
		mutate(&opts)
		if _, err := Open(cfg(dest), nil, opts); err == nil || !strings.Contains(err.Error(), "sign.peers") {
			t.Errorf("Open with %s: %v", name, err)
		}
	}
	noMember := dest
	noMember.Member = ""
	if _, err := Open(cfg(noMember), nil, d.options(t)); err == nil || !strings.Contains(err.Error(), "member") {
		t.Fatalf("Open without member: %v", err)
	}
	backOffice := p.destination("bo", "http", "https://127.0.0.1:1", records.KindLicence)
	opts = d.options(t)
	opts.Signer, opts.Peers = nil, nil
	o, err := Open(cfg(backOffice), nil, opts)
	if err != nil {
		t.Fatalf("an http destination needs no signer: %v", err)
	}
	_ = o.Close()
}

// TestPeerNotSentItsOwnInstance: a record in the name of an institution of
// the peer's own instance (one the peer relayed here) is not queued for it;
// the same record still goes to a back office.
func TestPeerNotSentItsOwnInstance(t *testing.T) {
	peer := &destination{name: "it-gateway", kind: "peer", member: "IT/GOV/URA", kinds: map[string]bool{"licence": true}}
	office := &destination{name: "it-office", kind: "http", member: "IT/GOV/MOD", kinds: map[string]bool{"licence": true}}
	rec := func(originator string) *records.Record {
		return &records.Record{Kind: "licence", ID: "X-1", Version: 1, Label: records.Label{Originator: originator}}
	}
	if peer.wants(rec("IT/GOV/MOD")) || peer.wants(rec("IT/GOV/URA")) {
		t.Error("Italy's gateway is queued a record of its own instance")
	}
	if !peer.wants(rec("AL/GOV/AIM")) || !office.wants(rec("IT/GOV/MOD")) {
		t.Error("a record that must be queued is not")
	}
}
