package certs

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Revoked is one entry of a CRL.
type Revoked struct {
	Serial *big.Int
	At     time.Time
}

// CRL signs a certificate revocation list over revoked and returns its DER.
// number must grow with every CRL this CA issues: verifiers use it to refuse
// an older list replayed in place of a newer one. nextUpdate is when a
// verifier should stop trusting this list and fail closed.
func (ca *CA) CRL(number int64, revoked []Revoked, thisUpdate, nextUpdate time.Time) ([]byte, error) {
	if err := ca.check(); err != nil {
		return nil, err
	}
	if number < 0 {
		return nil, fmt.Errorf("CRL number %d is negative", number)
	}
	if !nextUpdate.After(thisUpdate) {
		return nil, fmt.Errorf("CRL nextUpdate %s is not after thisUpdate %s", nextUpdate, thisUpdate)
	}
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, r := range revoked {
		if r.Serial == nil || r.Serial.Sign() <= 0 {
			return nil, errors.New("CRL entry has no positive serial")
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: r.Serial, RevocationTime: r.At.UTC()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                thisUpdate.UTC(),
		NextUpdate:                nextUpdate.UTC(),
		RevokedCertificateEntries: entries,
	}, ca.Cert, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign CRL %d by %q: %w", number, ca.Cert.Subject.CommonName, err)
	}
	return der, nil
}
