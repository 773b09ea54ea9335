package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// ClockSkew backdates NotBefore so that a peer whose clock runs a little
// behind does not reject a certificate issued a moment ago.
const ClockSkew = 5 * time.Minute

// CA is a certificate authority that can sign intermediates, leaves and CRLs.
type CA struct {
	// Cert is this CA's own certificate.
	Cert *x509.Certificate
	// Key signs everything this CA issues. A crypto.Signer rather than a
	// concrete key type so a CA key may later live in an HSM or Vault.
	Key crypto.Signer
	// Chain holds the intermediates from this CA (included) up to, but
	// excluding, the root; it is empty for a root. Leaves append it to
	// themselves so that peers only need the root as a trust anchor.
	Chain []*x509.Certificate
}

// NewRootCA creates a self-signed root with a fresh ECDSA P-256 key, valid
// from a few minutes ago for validity. MaxPathLen 1 allows exactly one
// intermediate below it: the root stays offline in spirit and a leaf signed
// under a second, unplanned intermediate level is refused by verifiers.
func NewRootCA(commonName string, validity time.Duration) (*CA, error) {
	now := time.Now()
	return NewRootCABetween(commonName, now.Add(-ClockSkew), now.Add(validity))
}

// NewRootCABetween is NewRootCA with an explicit validity period, for
// fixtures whose dates matter (a CA backdated so that an expired leaf still
// lies inside its issuer's validity).
func NewRootCABetween(commonName string, notBefore, notAfter time.Time) (*CA, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl, err := caTemplate(commonName, key.Public(), notBefore, notAfter)
	if err != nil {
		return nil, err
	}
	tmpl.MaxPathLen = 1
	cert, err := signCert(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-sign root %q: %w", commonName, err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// NewIntermediate creates an issuing CA signed by ca. MaxPathLen 0 means it
// may sign leaves only, so a stolen issuing key cannot mint further CAs.
func (ca *CA) NewIntermediate(commonName string, validity time.Duration) (*CA, error) {
	now := time.Now()
	return ca.NewIntermediateBetween(commonName, now.Add(-ClockSkew), now.Add(validity))
}

// NewIntermediateBetween is NewIntermediate with an explicit validity period.
func (ca *CA) NewIntermediateBetween(commonName string, notBefore, notAfter time.Time) (*CA, error) {
	if err := ca.check(); err != nil {
		return nil, err
	}
	// A child of a MaxPathLen-0 CA would be rejected by every verifier;
	// failing here gives the reason instead of a puzzling handshake error.
	if ca.Cert.MaxPathLen == 0 && ca.Cert.MaxPathLenZero {
		return nil, fmt.Errorf("CA %q has path length 0 and cannot sign another CA", ca.Cert.Subject.CommonName)
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl, err := caTemplate(commonName, key.Public(), notBefore, notAfter)
	if err != nil {
		return nil, err
	}
	tmpl.MaxPathLen = 0
	tmpl.MaxPathLenZero = true
	cert, err := signCert(tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign intermediate %q: %w", commonName, err)
	}
	chain := append([]*x509.Certificate{cert}, ca.Chain...)
	return &CA{Cert: cert, Key: key, Chain: chain}, nil
}

func (ca *CA) check() error {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return errors.New("CA has no certificate or key")
	}
	if !ca.Cert.IsCA {
		return fmt.Errorf("certificate %q is not a CA", ca.Cert.Subject.CommonName)
	}
	return nil
}

func caTemplate(commonName string, pub crypto.PublicKey, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("CA %q: NotAfter %s is not after NotBefore %s", commonName, notAfter, notBefore)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             notBefore.UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          skid,
	}, nil
}

// signCert signs tmpl and parses the result back, so callers hold exactly
// what a peer will see on the wire rather than the template.
func signCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate P-256 key: %w", err)
	}
	return key, nil
}

var serialLimit = new(big.Int).Lsh(big.NewInt(1), 128)

// newSerial returns a random positive 128-bit serial. Unpredictable serials
// keep a chosen-prefix collision from being aimed at a certificate before it
// is signed, and make two CAs' serials practically never clash in a CRL.
func newSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, serialLimit)
		if err != nil {
			return nil, fmt.Errorf("generate serial: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// subjectKeyID follows RFC 7093 method 1 (leftmost 160 bits of the SHA-256
// of the subjectPublicKey bits). It is set explicitly so that issuers and
// CRLs can be matched by key identifier whatever the Go version defaults to.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	var spki struct {
		Algorithm        pkix.AlgorithmIdentifier
		SubjectPublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	sum := sha256.Sum256(spki.SubjectPublicKey.Bytes)
	return sum[:20], nil
}
