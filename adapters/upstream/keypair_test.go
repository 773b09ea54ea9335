package upstream

import (
	"os"
	"testing"
	"time"
)

// TestClientCertificateReload: a renewed client certificate is picked up
// without a restart, and a half-written renewal does not break delivery.
func TestClientCertificateReload(t *testing.T) {
	p := newPKI(t)
	certA, keyA := p.gatewayCert("AL/GOV/AIM")
	certB, keyB := p.gatewayCert("AL/GOV/MOD")
	kp := &keyPair{cert: p.path("gw.crt"), key: p.path("gw.key")}
	install := func(cert, key string, mtime time.Time) {
		t.Helper()
		for src, dst := range map[string]string{cert: kp.cert, key: kp.key} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(dst, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
	}
	uri := func() string {
		t.Helper()
		c, err := kp.get()
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.URIs[0].String()
	}
	now := time.Now()
	install(certA, keyA, now.Add(-time.Hour))
	if got := uri(); got != "urn:ura:member:AL/GOV/AIM" {
		t.Fatalf("first certificate %s", got)
	}
	install(certB, keyB, now)
	if got := uri(); got != "urn:ura:member:AL/GOV/MOD" {
		t.Fatalf("after renewal %s, want the new certificate", got)
	}
	if err := os.WriteFile(kp.key, []byte("-----BEGIN PRIVATE KEY-----\ntruncated"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := uri(); got != "urn:ura:member:AL/GOV/MOD" {
		t.Fatalf("a broken key file replaced the working certificate: %s", got)
	}
}
