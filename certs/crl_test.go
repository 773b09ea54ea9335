package certs

import (
	"crypto/x509"
	"math/big"
	"testing"
	"time"
)

func TestCRL(t *testing.T) {
	_, inter := certsTestPKI(t)
	other, err := NewRootCA("other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	revokedAt := now.Add(-time.Hour)
	tests := []struct {
		name    string
		number  int64
		revoked []Revoked
		next    time.Time
		wantErr bool
	}{
		{name: "empty", number: 1, next: now.Add(time.Hour)},
		{name: "two entries", number: 7, next: now.Add(7 * 24 * time.Hour), revoked: []Revoked{
			{Serial: big.NewInt(42), At: revokedAt},
			{Serial: new(big.Int).Lsh(big.NewInt(1), 127), At: revokedAt},
		}},
		{name: "nextUpdate not after thisUpdate", number: 1, next: now, wantErr: true},
		{name: "negative number", number: -1, next: now.Add(time.Hour), wantErr: true},
		{name: "nil serial", number: 1, next: now.Add(time.Hour), revoked: []Revoked{{At: now}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := inter.CRL(tt.number, tt.revoked, now, tt.next)
			if tt.wantErr {
				if err == nil {
					t.Fatal("CRL succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			crl, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := crl.CheckSignatureFrom(inter.Cert); err != nil {
				t.Errorf("signature does not verify against the issuer: %v", err)
			}
			if err := crl.CheckSignatureFrom(other.Cert); err == nil {
				t.Error("signature verifies against an unrelated CA")
			}
			if crl.Number.Int64() != tt.number {
				t.Errorf("number = %v, want %d", crl.Number, tt.number)
			}
			if !crl.ThisUpdate.Equal(now) || !crl.NextUpdate.Equal(tt.next) {
				t.Errorf("thisUpdate %s nextUpdate %s, want %s %s", crl.ThisUpdate, crl.NextUpdate, now, tt.next)
			}
			if len(crl.RevokedCertificateEntries) != len(tt.revoked) {
				t.Fatalf("%d entries, want %d", len(crl.RevokedCertificateEntries), len(tt.revoked))
			}
			for i, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber.Cmp(tt.revoked[i].Serial) != 0 || !e.RevocationTime.Equal(revokedAt) {
					t.Errorf("entry %d = %x at %s, want %x at %s", i, e.SerialNumber, e.RevocationTime, tt.revoked[i].Serial, revokedAt)
				}
			}
		})
	}
}
