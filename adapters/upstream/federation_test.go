package upstream

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
)

// fedSeed fixes the test signer's key, so every outbox a test opens signs
// with the key fedRecord verifies against.
var fedSeed = bytes.Repeat([]byte{7}, 32)

func fedSigner(t testing.TB) *audittest.Signer {
	return audittest.NewSignerFromSeed(t, "ura-a:1", fedSeed)
}

// fedRecord verifies one NDJSON line a peer destination received and
// returns the record inside it; anything else fails the test.
func fedRecord(t testing.TB, body []byte) json.RawMessage {
	t.Helper()
	d := fedDelivery(t, body)
	return d.Record
}

func fedDelivery(t testing.TB, body []byte) sign.Delivery {
	t.Helper()
	var line struct {
		JWS string `json:"jws"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&line); err != nil || line.JWS == "" {
		t.Fatalf("peer body is not one {\"jws\": …} line: %q (%v)", body, err)
	}
	if typ := sign.Typ(line.JWS); typ != sign.TypFederation {
		t.Errorf("typ %q, want %s", typ, sign.TypFederation)
	}
	payload, kid, err := sign.NewVerifier(sign.StaticKeys{Set: fedSigner(t).KeySet()}).Verify(line.JWS)
	if err != nil {
		t.Fatalf("peer body does not verify: %v", err)
	}
	if kid != "ura-a:1" {
		t.Errorf("kid %q", kid)
	}
	var d sign.Delivery
	if err := json.Unmarshal(payload, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestOutboxPeerSigned: what a peer receives is a signed delivery bound to
// the peer's member ID and to the decision that accepted the record.
func TestOutboxPeerSigned(t *testing.T) {
	p := newPKI(t)
	peer := newBackOffice()
	up := newUpstream(t, p.serverTLS(p.inter, p.root), peer)
	up.start()
	dest := p.destination("it-gateway", "peer", up.url(), records.KindLicence)
	dest.Nation = "NATO"
	o := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"), dest)

	recs := licences(t, 2) // releasable to ALB, NATO
	err := o.EnqueueDecided(ctx, []Decided{
		{Record: recs[0], DecisionID: "dec-1", PolicyRevision: "rev-1"},
		{Record: recs[1]},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two deliveries", func() bool { return testutil.ToFloat64(o.m.delivered.WithLabelValues("it-gateway")) == 2 })
	reqs, _, _ := peer.snapshot()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, r := range reqs {
		if strings.Contains(string(r.body), `"kind"`) {
			t.Errorf("the record travelled outside its signature: %q", r.body)
		}
		d := fedDelivery(t, bytes.TrimSuffix(r.body, []byte("\n")))
		if d.Recipient != "IT/GOV/URA" || d.Issuer != "ura.aim.gov.al" || d.IssuedAt == 0 {
			t.Errorf("delivery %d: recipient %q issuer %q iat %d", i, d.Recipient, d.Issuer, d.IssuedAt)
		}
		if string(d.Record) != string(recs[i].Raw) {
			t.Errorf("delivery %d carries %s, want %s", i, d.Record, recs[i].Raw)
		}
		wantDec := map[int]string{0: "dec-1", 1: ""}[i]
		if d.DecisionID != wantDec {
			t.Errorf("delivery %d: decision_id %q, want %q", i, d.DecisionID, wantDec)
		}
	}
}

// TestOutboxPeerSignerDown: with the signer failing, nothing reaches the
// peer (never unsigned) and the record waits; it goes once signing works.
func TestOutboxPeerSignerDown(t *testing.T) {
	p := newPKI(t)
	peer := newBackOffice()
	up := newUpstream(t, p.serverTLS(p.inter, p.root), peer)
	up.start()
	dest := p.destination("it-gateway", "peer", up.url(), records.KindLicence)
	dest.Nation = "NATO"
	signer := fedSigner(t)
	signer.Fail.Store(true)
	o, err := Open(config.Upstream{Destinations: []config.Destination{dest}, Outbox: config.Outbox{Path: filepath.Join(t.TempDir(), "o.db")}},
		nil, Options{Logger: testLogger(t), Signer: signer, Issuer: "ura.aim.gov.al"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	enqueue(t, o, licences(t, 1)...)
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
	waitFor(t, "delivery after signing recovers", func() bool {
		return testutil.ToFloat64(o.m.delivered.WithLabelValues("it-gateway")) == 1
	})
	reqs, _, _ := peer.snapshot()
	fedDelivery(t, bytes.TrimSuffix(reqs[len(reqs)-1].body, []byte("\n")))
}

// TestOpenPeerNeedsSigner: a peer destination without a signer, or without
// the peer's member ID, is refused at start rather than sending unsigned.
func TestOpenPeerNeedsSigner(t *testing.T) {
	p := newPKI(t)
	dest := p.destination("it-gateway", "peer", "https://127.0.0.1:1", records.KindLicence)
	dest.Nation = "ITA"
	cfg := func(d config.Destination) config.Upstream {
		return config.Upstream{Destinations: []config.Destination{d}, Outbox: config.Outbox{Path: filepath.Join(t.TempDir(), "o.db")}}
	}
	if _, err := Open(cfg(dest), nil, Options{}); err == nil || !strings.Contains(err.Error(), "signer") {
		t.Fatalf("Open without a signer: %v", err)
	}
	noMember := dest
	noMember.Member = ""
	if _, err := Open(cfg(noMember), nil, Options{Signer: fedSigner(t)}); err == nil || !strings.Contains(err.Error(), "member") {
		t.Fatalf("Open without member: %v", err)
	}
	backOffice := p.destination("bo", "http", "https://127.0.0.1:1", records.KindLicence)
	o, err := Open(cfg(backOffice), nil, Options{})
	if err != nil {
		t.Fatalf("an http destination needs no signer: %v", err)
	}
	_ = o.Close()
}
