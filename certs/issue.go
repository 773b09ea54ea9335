package certs

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/url"
	"time"
)

// DefaultLeafValidity is used when LeafOptions.NotAfter is zero. 397 days is
// the longest lifetime public TLS clients accept, so dev certificates never
// get away with something production ones could not.
const DefaultLeafValidity = 397 * 24 * time.Hour

// LeafOptions describes an end-entity certificate. Fields are taken as given,
// without identity checks, so tests can also build the certificates an
// attacker would present (no member URI, two of them, a malformed one).
type LeafOptions struct {
	CommonName string
	// URIs are complete SAN URIs, e.g. "urn:ura:member:AL/GOV/AIM" (identity.MemberURI).
	URIs        []string
	DNSNames    []string
	IPAddresses []net.IP
	// NotBefore defaults to now minus a few minutes of clock skew; NotAfter
	// defaults to now plus DefaultLeafValidity. Both may lie in the past to
	// build expired certificates.
	NotBefore, NotAfter time.Time
	// Server and Client select the extended key usages. Leaving both false
	// yields a certificate without the extension, which Go accepts for any
	// usage; set at least one for anything but negative tests.
	Server, Client bool
}

// Leaf is an issued end-entity certificate with its key.
type Leaf struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain is the leaf first, then its intermediates, excluding the root:
	// exactly what a TLS peer must send so the other side can verify it
	// against the root alone.
	Chain []*x509.Certificate
}

// Issue signs a new leaf with a fresh ECDSA P-256 key and a random 128-bit
// serial.
func (ca *CA) Issue(opts LeafOptions) (*Leaf, error) {
	if err := ca.check(); err != nil {
		return nil, err
	}
	now := time.Now()
	notBefore, notAfter := opts.NotBefore, opts.NotAfter
	if notBefore.IsZero() {
		notBefore = now.Add(-ClockSkew)
	}
	if notAfter.IsZero() {
		notAfter = now.Add(DefaultLeafValidity)
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("leaf %q: NotAfter %s is not after NotBefore %s", opts.CommonName, notAfter, notBefore)
	}
	uris := make([]*url.URL, 0, len(opts.URIs))
	for _, s := range opts.URIs {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("leaf %q: SAN URI %q: %w", opts.CommonName, s, err)
		}
		uris = append(uris, u)
	}
	var eku []x509.ExtKeyUsage
	if opts.Server {
		eku = append(eku, x509.ExtKeyUsageServerAuth)
	}
	if opts.Client {
		eku = append(eku, x509.ExtKeyUsageClientAuth)
	}

	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.CommonName},
		NotBefore:             notBefore.UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
		SubjectKeyId:          skid,
		URIs:                  uris,
		DNSNames:              opts.DNSNames,
		IPAddresses:           opts.IPAddresses,
	}
	cert, err := signCert(tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign leaf %q: %w", opts.CommonName, err)
	}
	chain := append([]*x509.Certificate{cert}, ca.Chain...)
	return &Leaf{Cert: cert, Key: key, Chain: chain}, nil
}

// TLSCertificate returns the leaf in the form crypto/tls serves, with the
// intermediates included so the peer can build the path to its root.
func (l *Leaf) TLSCertificate() tls.Certificate {
	der := make([][]byte, len(l.Chain))
	for i, c := range l.Chain {
		der[i] = c.Raw
	}
	return tls.Certificate{Certificate: der, PrivateKey: l.Key, Leaf: l.Cert}
}
