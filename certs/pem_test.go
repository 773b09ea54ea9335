package certs

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPEMRoundTrip(t *testing.T) {
	_, inter := certsTestPKI(t)
	leaf, err := inter.Issue(LeafOptions{CommonName: "AL/GOV/AIM", URIs: []string{"urn:ura:member:AL/GOV/AIM"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	certPath := filepath.Join(dir, "leaf.crt")
	if err := WriteCertsPEM(certPath, leaf.Chain...); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCertsPEM(certPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Equal(leaf.Cert) || !got[1].Equal(inter.Cert) {
		t.Errorf("read back %d certificates, want leaf then intermediate", len(got))
	}

	keyPath := filepath.Join(dir, "leaf.key")
	if err := WriteKeyPEM(keyPath, leaf.Key); err != nil {
		t.Fatal(err)
	}
	key, err := ReadKeyPEM(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !key.(*ecdsa.PrivateKey).Equal(leaf.Key) {
		t.Error("key read back differs")
	}
	data, _ := os.ReadFile(keyPath)
	if b, _ := pem.Decode(data); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("key file is not PKCS#8 PRIVATE KEY")
	}

	der, err := inter.CRL(1, nil, time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	crlPath := filepath.Join(dir, "crl.pem")
	if err := WriteCRLPEM(crlPath, der); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(crlPath)
	if b, _ := pem.Decode(data); b == nil || b.Type != "X509 CRL" || string(b.Bytes) != string(der) {
		t.Error("CRL file is not the DER in an X509 CRL block")
	}

	for path, want := range map[string]os.FileMode{certPath: 0o644, keyPath: 0o600, crlPath: 0o644} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", filepath.Base(path), fi.Mode().Perm(), err, want)
		}
	}

	// Overwrite in place: the mode must follow the kind of file, and no
	// temporary file may be left behind.
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyPEM(keyPath, leaf.Key); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(keyPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("rewritten key has mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestReadPEMErrors(t *testing.T) {
	_, inter := certsTestPKI(t)
	sec1, err := x509.MarshalECPrivateKey(inter.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Cert.Raw}))
	sec1PEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))

	tests := []struct {
		name    string
		read    func(string) error
		content string
		wantErr bool
	}{
		{"certs: empty", readCertsErr, "", true},
		{"certs: key only", readCertsErr, sec1PEM, true},
		{"certs: garbage block", readCertsErr, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", true},
		{"certs: key then cert", readCertsErr, sec1PEM + certPEM, false},
		{"key: SEC1 accepted", readKeyErr, sec1PEM, false},
		{"key: cert only", readKeyErr, certPEM, true},
		{"key: empty", readKeyErr, "", true},
		{"key: garbage", readKeyErr, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.read(write(string(rune('a'+i)), tt.content))
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
	if _, err := ReadCertsPEM(filepath.Join(dir, "missing")); err == nil {
		t.Error("reading a missing file succeeded")
	}
	if err := WriteCRLPEM(filepath.Join(dir, "bad.crl"), []byte("not a CRL")); err == nil {
		t.Error("WriteCRLPEM accepted garbage")
	}
	if err := WriteCertsPEM(filepath.Join(dir, "none.crt")); err == nil {
		t.Error("WriteCertsPEM wrote a file without certificates")
	}
}

func readCertsErr(p string) error { _, err := ReadCertsPEM(p); return err }
func readKeyErr(p string) error   { _, err := ReadKeyPEM(p); return err }
