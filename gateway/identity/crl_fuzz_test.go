package identity

import (
	"bytes"
	"encoding/pem"
	"testing"
	"time"
)

// FuzzParseCRL feeds arbitrary bytes where a CRL file or a fetched CRL is
// read. Parsing and loading must never panic, must agree with each other,
// and a CRL whose signature does not verify under its issuer must never
// decide anything: a certificate that needs a CRL is accepted only through
// a CRL its issuer signed, and a forged CRL next to a genuine one changes no
// answer.
func FuzzParseCRL(f *testing.F) {
	p := newTrustPKI(f)
	now := time.Now()
	leaf := p.member("AL/GOV/AIM", time.Time{})
	genuine := p.crl(p.inter, 5)
	der, _ := pem.Decode(genuine)
	base, err := NewTrust(p.anchors(genuine), time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := base.Verify(leaf, now); err != nil {
		f.Fatal(err)
	}
	f.Add(genuine)
	f.Add(der.Bytes)
	f.Add(p.crl(p.inter, 6, leaf[0].SerialNumber))
	f.Add(p.crl(p.root, 1, p.inter.Cert.SerialNumber))
	f.Add(forgeCRL(f, p.inter.Cert, p.inter.Cert.SubjectKeyId, 1000))
	f.Add(der.Bytes[:len(der.Bytes)/2])
	f.Add(genuine[:len(genuine)-30])
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der.Bytes}))
	f.Add([]byte("-----BEGIN X509 CRL-----\nMIIB"))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, raw []byte) {
		list, perr := ParseCRL(raw)
		alone, terr := NewTrust(p.anchors(raw), time.Minute)
		if (perr == nil) != (terr == nil) {
			t.Fatalf("ParseCRL error %v but NewTrust error %v", perr, terr)
		}
		if perr != nil {
			return
		}
		if list.Number == nil || list.Number.Sign() < 0 {
			t.Fatal("a CRL without a valid number was accepted")
		}
		signed := list.CheckSignatureFrom(p.inter.Cert) == nil
		if _, err := alone.Verify(leaf, now); err == nil && !signed {
			t.Fatal("a certificate was accepted through a CRL its issuer did not sign")
		}

		// Loaded as a reload after the genuine CRL, a CRL that claims the
		// same issuer but is not signed by it changes nothing: the genuine
		// one stays in force, whatever the other claims (key, number,
		// revoked serials). A CRL of another issuer replaces the source, so
		// the leaf may then be refused (crl_missing), never accepted wrongly.
		after, err := NewTrustAfter(base, p.anchors(raw), time.Minute)
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
		sameIssuer := bytes.Equal(list.RawIssuer, p.inter.Cert.RawSubject)
		if _, err := after.Verify(leaf, now); sameIssuer && !signed && err != nil {
			t.Fatalf("an unsigned CRL changed the answer: %v", err)
		}
	})
}
