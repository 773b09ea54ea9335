package identity

import (
	"testing"
	"time"
)

// BenchmarkVerifyRemembered is the identity check of a request on an open
// connection (server.identify): the chain was accepted at the handshake,
// so Verify finds its verdict and only checks that it still holds.
// BenchmarkVerifyFull is the same chain verified from scratch, as a new
// Trust (a reload) does once per chain.
func BenchmarkVerifyRemembered(b *testing.B) {
	p := newTrustPKI(b)
	chain := p.member("AL/GOV/AIM", time.Now().Add(time.Hour))
	tr := p.trust(nil, p.crl(p.inter, 1))
	now := time.Now()
	if _, err := tr.Verify(chain, now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Verify(chain, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyFull(b *testing.B) {
	p := newTrustPKI(b)
	chain := p.member("AL/GOV/AIM", time.Now().Add(time.Hour))
	crl := p.crl(p.inter, 1)
	tr := p.trust(nil, crl)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.verify(chain, now); err != nil {
			b.Fatal(err)
		}
	}
}
