package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"testing"
	"time"
)

func TestNewRootCA(t *testing.T) {
	root, err := NewRootCA("test root", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := root.Cert
	if !c.IsCA || !c.BasicConstraintsValid {
		t.Error("root is not a CA")
	}
	if c.MaxPathLen != 1 {
		t.Errorf("MaxPathLen = %d, want 1", c.MaxPathLen)
	}
	if len(c.SubjectKeyId) == 0 {
		t.Error("no SubjectKeyId")
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 || c.KeyUsage&x509.KeyUsageCRLSign == 0 {
		t.Errorf("KeyUsage = %b, want CertSign and CRLSign", c.KeyUsage)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T is not ECDSA P-256", c.PublicKey)
	}
	if len(root.Chain) != 0 {
		t.Errorf("root chain has %d certificates, want 0", len(root.Chain))
	}
	if d := time.Until(c.NotAfter); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("NotAfter in %s, want about 24h", d)
	}
	if !c.NotBefore.Before(time.Now()) {
		t.Errorf("NotBefore %s is not in the past", c.NotBefore)
	}
}

func TestNewIntermediate(t *testing.T) {
	root, err := NewRootCA("test root", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate("test issuing", 12*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := inter.Cert
	if !c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("IsCA=%v MaxPathLen=%d MaxPathLenZero=%v, want a CA with path length 0", c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
	}
	if len(inter.Chain) != 1 || inter.Chain[0] != c {
		t.Errorf("intermediate chain = %v, want just the intermediate", inter.Chain)
	}
	if string(c.AuthorityKeyId) != string(root.Cert.SubjectKeyId) {
		t.Error("AuthorityKeyId does not match the root's SubjectKeyId")
	}
	roots := x509.NewCertPool()
	roots.AddCert(root.Cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("intermediate does not verify against root: %v", err)
	}

	// Path length 0 forbids a further CA level; refuse to build one.
	if _, err := inter.NewIntermediate("too deep", time.Hour); err == nil {
		t.Error("an intermediate signed another CA")
	}
}

func TestCAMisuse(t *testing.T) {
	root, err := NewRootCA("test root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := root.Issue(LeafOptions{CommonName: "leaf", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	notCA := &CA{Cert: leaf.Cert, Key: leaf.Key}
	tests := []struct {
		name string
		ca   *CA
	}{
		{"nil", nil},
		{"no key", &CA{Cert: root.Cert}},
		{"leaf as CA", notCA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.ca.Issue(LeafOptions{CommonName: "x"}); err == nil {
				t.Error("Issue succeeded")
			}
			if _, err := tt.ca.CRL(1, nil, time.Now(), time.Now().Add(time.Hour)); err == nil {
				t.Error("CRL succeeded")
			}
		})
	}
	if _, err := NewRootCA("backwards", -time.Hour); err == nil {
		t.Error("root with negative validity was created")
	}
}
