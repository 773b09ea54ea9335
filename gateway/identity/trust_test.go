package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/ura-gateway/ura/certs"
)

// trustPKI is an in-test PKI: root → issuing intermediate → member leaves,
// and CRLs from both CAs, numbered as the test chooses.
type trustPKI struct {
	t     testing.TB
	root  *certs.CA
	inter *certs.CA
}

func newTrustPKI(t testing.TB) *trustPKI {
	t.Helper()
	root, err := certs.NewRootCA("trust test root", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate("trust test issuing CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &trustPKI{t: t, root: root, inter: inter}
}

func (p *trustPKI) member(id string, notAfter time.Time) []*x509.Certificate {
	p.t.Helper()
	l, err := p.inter.Issue(certs.LeafOptions{CommonName: id, URIs: []string{MemberURI(id)}, Client: true, NotAfter: notAfter})
	if err != nil {
		p.t.Fatal(err)
	}
	return l.Chain
}

// crl is CRL number n from ca listing serials, current for an hour.
func (p *trustPKI) crl(ca *certs.CA, n int64, serials ...*big.Int) []byte {
	p.t.Helper()
	var revoked []certs.Revoked
	for _, s := range serials {
		revoked = append(revoked, certs.Revoked{Serial: s, At: time.Now().Add(-time.Minute)})
	}
	der, err := ca.CRL(n, revoked, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	if err != nil {
		p.t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

func (p *trustPKI) anchors(crls ...[]byte) []AnchorConfig {
	return []AnchorConfig{{
		Name:     "al",
		CertPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.root.Cert.Raw}),
		Prefixes: []string{"AL/"},
		CRLs:     crls,
	}}
}

func (p *trustPKI) trust(prev *Trust, crls ...[]byte) *Trust {
	p.t.Helper()
	tr, err := NewTrustAfter(prev, p.anchors(crls...), time.Minute)
	if err != nil {
		p.t.Fatal(err)
	}
	return tr
}

func wantReason(t *testing.T, tr *Trust, chain []*x509.Certificate, at time.Time, want string) {
	t.Helper()
	_, err := tr.Verify(chain, at)
	if got := ReasonOf(err); got != want {
		t.Fatalf("Verify = %v (reason %q), want reason %q", err, got, want)
	}
}

func wantRollbacks(t *testing.T, tr *Trust, want ...Rollback) {
	t.Helper()
	got := tr.Rollbacks()
	if len(got) != len(want) {
		t.Fatalf("rollbacks = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Number.Cmp(want[i].Number) != 0 || got[i].Kept.Cmp(want[i].Kept) != 0 || got[i].Unverified != want[i].Unverified {
			t.Fatalf("rollback %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func rollback(number, kept int64, unverified bool) Rollback {
	return Rollback{Number: big.NewInt(number), Kept: big.NewInt(kept), Unverified: unverified}
}

// TestCRLRollbackRefused replays an older CRL, still inside its validity,
// that predates a revocation. It must not un-revoke the certificate, whether
// or not the newer CRL's signature was already checked by a handshake.
func TestCRLRollbackRefused(t *testing.T) {
	p := newTrustPKI(t)
	victim := p.member("AL/GOV/MOD", time.Time{})
	good := p.member("AL/GOV/AIM", time.Time{})
	now := time.Now()
	older := p.crl(p.inter, 1)
	newer := p.crl(p.inter, 2, victim[0].SerialNumber)

	t.Run("newer CRL verified before the replay", func(t *testing.T) {
		t1 := p.trust(nil, newer)
		wantReason(t, t1, victim, now, ReasonRevoked) // checks the newer CRL's signature
		t2 := p.trust(t1, older)
		wantRollbacks(t, t2, rollback(1, 2, false))
		wantReason(t, t2, victim, now, ReasonRevoked)
		wantReason(t, t2, good, now, "")
		// It stays refused on every later reload that still sees the old list.
		t3 := p.trust(t2, older)
		wantRollbacks(t, t3, rollback(1, 2, false))
		wantReason(t, t3, victim, now, ReasonRevoked)
	})
	t.Run("replay before any handshake", func(t *testing.T) {
		t1 := p.trust(nil, newer)
		t2 := p.trust(t1, older)
		wantRollbacks(t, t2, rollback(1, 2, true))
		wantReason(t, t2, victim, now, ReasonRevoked)
		t3 := p.trust(t2, older) // now verified in t2
		wantRollbacks(t, t3, rollback(1, 2, false))
		wantReason(t, t3, victim, now, ReasonRevoked)
	})
	t.Run("equal and higher numbers are accepted", func(t *testing.T) {
		t1 := p.trust(nil, newer)
		wantReason(t, t1, victim, now, ReasonRevoked)
		same := p.trust(t1, newer)
		wantRollbacks(t, same)
		reissued := p.trust(same, p.crl(p.inter, 2, victim[0].SerialNumber)) // same number, new signature
		wantRollbacks(t, reissued)
		t4 := p.trust(reissued, p.crl(p.inter, 3, victim[0].SerialNumber, good[0].SerialNumber))
		wantRollbacks(t, t4)
		wantReason(t, t4, good, now, ReasonRevoked)
	})
	t.Run("a forged high number cannot push out the genuine list", func(t *testing.T) {
		t1 := p.trust(nil, newer)
		wantReason(t, t1, victim, now, ReasonRevoked)
		for _, keyID := range [][]byte{p.inter.Cert.SubjectKeyId, []byte("another key")} {
			t2 := p.trust(t1, forgeCRL(t, p.inter.Cert, keyID, 1000))
			wantRollbacks(t, t2)
			wantReason(t, t2, victim, now, ReasonRevoked) // the forged list never verifies
			wantReason(t, t2, good, now, "")
		}
		t2 := p.trust(t1, forgeCRL(t, p.inter.Cert, p.inter.Cert.SubjectKeyId, 1000))
		wantReason(t, t2, victim, now, ReasonRevoked)
		// Once seen to be forged, it no longer holds back genuine lists.
		t3 := p.trust(t2, p.crl(p.inter, 3, victim[0].SerialNumber))
		wantRollbacks(t, t3)
		wantReason(t, t3, victim, now, ReasonRevoked)
	})
	t.Run("a source removed takes its CRLs with it", func(t *testing.T) {
		t1 := p.trust(nil, newer)
		wantReason(t, t1, victim, now, ReasonRevoked)
		t2 := p.trust(t1)
		wantRollbacks(t, t2)
		wantReason(t, t2, victim, now, "")
	})
}

// forgeCRL is a CRL that names issuer, claims authority key ID keyID and
// carries number n, but is signed by another key.
func forgeCRL(t testing.TB, issuer *x509.Certificate, keyID []byte, n int64) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               issuer.Subject,
		SubjectKeyId:          keyID,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCRLSign | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(n), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour),
	}, rogue, key)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

func TestCRLWithoutNumberRefused(t *testing.T) {
	p := newTrustPKI(t)
	// x509.CreateRevocationList insists on a number; build one without.
	der, err := asn1.Marshal(pkix.CertificateList{
		TBSCertList: pkix.TBSCertificateList{ //nolint:staticcheck // x509 builds no CRL without a number, which is the case under test
			Version:    1,
			Signature:  pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}},
			Issuer:     p.inter.Cert.Subject.ToRDNSequence(),
			ThisUpdate: time.Now().UTC(),
			NextUpdate: time.Now().Add(time.Hour).UTC(),
		},
		SignatureAlgorithm: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}},
		SignatureValue:     asn1.BitString{Bytes: []byte{0}, BitLength: 8},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParseRevocationList(der); err != nil {
		t.Fatalf("fixture does not parse as a CRL: %v", err)
	}
	if _, err := ParseCRL(der); err == nil {
		t.Fatal("ParseCRL accepted a CRL without a CRL number")
	}
	if _, err := NewTrust(p.anchors(der), time.Minute); err == nil {
		t.Fatal("a CRL without a CRL number was loaded")
	}
}

// TestVerifyRechecksEverything is the per-request check of an open
// connection: the same chain, verified again, is refused as soon as any
// certificate in it expires, its CRL goes stale, its intermediate is revoked
// or its anchor is gone, even though it was accepted (and remembered) before.
func TestVerifyRechecksEverything(t *testing.T) {
	p := newTrustPKI(t)
	now := time.Now()
	chain := p.member("AL/GOV/AIM", now.Add(10*time.Minute))
	crl := p.crl(p.inter, 1)
	tr := p.trust(nil, crl)

	if id, err := tr.Verify(chain, now); err != nil || id != "AL/GOV/AIM" {
		t.Fatalf("Verify = %q, %v", id, err)
	}
	wantReason(t, tr, chain, now.Add(time.Minute), "")
	wantReason(t, tr, chain, now.Add(11*time.Minute), ReasonExpired)
	wantReason(t, tr, chain[:1], now, ReasonUnknownCA) // intermediates come only from the peer

	// The CRL is current for an hour plus a minute of grace.
	longLived := p.member("AL/GOV/MOD", time.Time{})
	wantReason(t, tr, longLived, now, "")
	wantReason(t, tr, longLived, now.Add(time.Hour+2*time.Minute), ReasonCRLStale)

	// The root revokes the intermediate.
	revokedInter := p.trust(tr, crl, p.crl(p.root, 1, p.inter.Cert.SerialNumber))
	wantReason(t, revokedInter, chain, now, ReasonRevoked)

	// The anchor is replaced by another root.
	other, err := certs.NewRootCA("another root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := NewTrustAfter(tr, []AnchorConfig{{Name: "al", Prefixes: []string{"AL/"},
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Cert.Raw})}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, gone, chain, now, ReasonUnknownCA)
	// The old snapshot is unchanged: connections are checked against the
	// current one, whichever that is.
	wantReason(t, tr, chain, now, "")
}

// TestVerifyExpiredIntermediate: an intermediate that expires before its
// leaf ends the leaf's access at the intermediate's expiry.
func TestVerifyExpiredIntermediate(t *testing.T) {
	root, err := certs.NewRootCA("trust test root", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	inter, err := root.NewIntermediateBetween("short-lived issuing CA", now.Add(-time.Hour), now.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	l, err := inter.Issue(certs.LeafOptions{URIs: []string{MemberURI("AL/GOV/AIM")}, Client: true,
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrust([]AnchorConfig{{Name: "al", Prefixes: []string{"AL/"},
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Cert.Raw})}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, tr, l.Chain, now, "")
	wantReason(t, tr, l.Chain, now.Add(6*time.Minute), ReasonExpired)
}
