package identity

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/ura-gateway/ura/certs"
)

// Reasons a caller's certificate is refused. They are stable: metrics and logs
// are keyed by them.
const (
	ReasonNoCertificate   = "no_certificate"
	ReasonExpired         = "expired"
	ReasonUnknownCA       = "unknown_ca"
	ReasonBadChain        = "bad_chain"
	ReasonRevoked         = "revoked"
	ReasonCRLStale        = "crl_stale"
	ReasonCRLMissing      = "crl_missing"
	ReasonPrefix          = "prefix_not_allowed"
	ReasonSANCount        = "san_uri_count"
	ReasonSANInvalid      = "san_uri_invalid"
	ReasonProtocolVersion = "protocol_version"
)

// RefusedError is why a certificate was refused. Its text carries no
// certificate contents beyond the claimed member, which is safe to log.
type RefusedError struct {
	Reason string
	Detail string
}

func (e *RefusedError) Error() string {
	return "ura identity refused: " + e.Reason + ": " + e.Detail
}

func refused(reason, format string, args ...any) error {
	return &RefusedError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the refusal reason carried by err, or "" if none.
func ReasonOf(err error) string {
	var re *RefusedError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}

// AnchorConfig is one trust anchor as read from disk.
type AnchorConfig struct {
	Name     string
	CertPEM  []byte
	Prefixes []string
	// CRLs are PEM or DER CRLs for certificates below this anchor. When any
	// are given, every certificate below the anchor must be covered by one.
	CRLs [][]byte
}

// Trust is an immutable snapshot of the trust anchors and revocation lists.
// A reload builds a new Trust and swaps it in whole.
type Trust struct {
	roots   *x509.CertPool
	anchors map[string]*anchor // by the anchor certificate's raw DER
	crls    map[string][]*crl  // by the CRL's raw issuer name
	grace   time.Duration
}

type anchor struct {
	name       string
	prefixes   []string
	requireCRL bool
}

type crl struct {
	list    *x509.RevocationList
	revoked map[string]struct{} // serial numbers, as big.Int.String()
	// verified caches which issuer certificates this CRL's signature was
	// checked against, so a handshake costs a signature check only once.
	verified sync.Map // string(issuer.Raw) -> bool
}

// NewTrust parses anchors and CRLs. Any unparsable input is an error: a reload
// with a half-written file must keep the previous state.
func NewTrust(anchors []AnchorConfig, grace time.Duration) (*Trust, error) {
	t := &Trust{
		roots:   x509.NewCertPool(),
		anchors: map[string]*anchor{},
		crls:    map[string][]*crl{},
		grace:   grace,
	}
	for _, ac := range anchors {
		certsIn, err := certs.ParseCertsPEM(ac.CertPEM)
		if err != nil {
			return nil, fmt.Errorf("trust anchor %s: %w", ac.Name, err)
		}
		a := &anchor{name: ac.Name, prefixes: ac.Prefixes, requireCRL: len(ac.CRLs) > 0}
		for _, c := range certsIn {
			if !c.IsCA {
				return nil, fmt.Errorf("trust anchor %s: %s is not a CA certificate", ac.Name, c.Subject.CommonName)
			}
			if prev, dup := t.anchors[string(c.Raw)]; dup {
				return nil, fmt.Errorf("trust anchor %s: certificate %s is already anchor %s", ac.Name, c.Subject.CommonName, prev.name)
			}
			t.roots.AddCert(c)
			t.anchors[string(c.Raw)] = a
		}
		for i, raw := range ac.CRLs {
			list, err := parseCRL(raw)
			if err != nil {
				return nil, fmt.Errorf("trust anchor %s: crl %d: %w", ac.Name, i+1, err)
			}
			c := &crl{list: list, revoked: make(map[string]struct{}, len(list.RevokedCertificateEntries))}
			for _, e := range list.RevokedCertificateEntries {
				c.revoked[e.SerialNumber.String()] = struct{}{}
			}
			t.crls[string(list.RawIssuer)] = append(t.crls[string(list.RawIssuer)], c)
		}
	}
	if len(t.anchors) == 0 {
		return nil, errors.New("no trust anchors")
	}
	return t, nil
}

// Verify checks a peer's certificate chain as sent in the handshake and
// returns the member ID it proves. It is the whole identity decision.
func (t *Trust) Verify(peer []*x509.Certificate, now time.Time) (string, error) {
	if len(peer) == 0 {
		return "", refused(ReasonNoCertificate, "the client sent no certificate")
	}
	leaf := peer[0]
	id, err := memberFromLeaf(leaf)
	if err != nil {
		return "", err
	}
	inter := x509.NewCertPool()
	for _, c := range peer[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         t.roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return "", classify(err, id)
	}
	// A chain may reach more than one anchor (cross-signing); the member is
	// accepted through the first anchor allowed to vouch for it.
	lastErr := refused(ReasonPrefix, "no trust anchor of this chain may vouch for %s", id)
	for _, chain := range chains {
		a := t.anchors[string(chain[len(chain)-1].Raw)]
		if a == nil || !a.allows(id) {
			continue
		}
		if err := t.checkRevocation(chain, a, now); err != nil {
			lastErr = err
			continue
		}
		return id, nil
	}
	return "", lastErr
}

// Revoked reports whether the leaf of a live connection is on a current CRL.
// It lets a revocation take effect on connections opened before the CRL
// reload, not only on new handshakes.
func (t *Trust) Revoked(leaf *x509.Certificate) bool {
	for _, c := range t.crls[string(leaf.RawIssuer)] {
		if _, ok := c.revoked[leaf.SerialNumber.String()]; ok {
			return true
		}
	}
	return false
}

func (a *anchor) allows(id string) bool {
	for _, p := range a.prefixes {
		if PrefixAllows(p, id) {
			return true
		}
	}
	return false
}

// checkRevocation fails closed for the leaf: under an anchor with CRLs, the
// leaf must be covered by a current CRL from its issuer. Intermediates are
// checked against any CRL configured from their issuer (an authority
// revocation list), which most PKIs do not publish, so it is not required.
func (t *Trust) checkRevocation(chain []*x509.Certificate, a *anchor, now time.Time) error {
	if !a.requireCRL {
		return nil
	}
	for i := 0; i < len(chain)-1; i++ {
		cert, issuer := chain[i], chain[i+1]
		list := t.crlFor(cert, issuer)
		if list == nil {
			if i > 0 {
				continue
			}
			return refused(ReasonCRLMissing, "no CRL from '%s' covers '%s'", issuer.Subject.CommonName, cert.Subject.CommonName)
		}
		if now.After(list.list.NextUpdate.Add(t.grace)) {
			return refused(ReasonCRLStale, "the CRL from '%s' expired at %s", issuer.Subject.CommonName, list.list.NextUpdate.UTC().Format(time.RFC3339))
		}
		if _, ok := list.revoked[cert.SerialNumber.String()]; ok {
			return refused(ReasonRevoked, "certificate %s from '%s' is revoked", serialHex(cert.SerialNumber), issuer.Subject.CommonName)
		}
	}
	return nil
}

// crlFor returns the newest CRL whose signature verifies under issuer.
func (t *Trust) crlFor(cert, issuer *x509.Certificate) *crl {
	var best *crl
	for _, c := range t.crls[string(cert.RawIssuer)] {
		ok, seen := c.verified.Load(string(issuer.Raw))
		if !seen {
			ok = c.list.CheckSignatureFrom(issuer) == nil
			c.verified.Store(string(issuer.Raw), ok)
		}
		if ok.(bool) && (best == nil || c.list.Number.Cmp(best.list.Number) > 0) {
			best = c
		}
	}
	return best
}

func classify(err error, id string) error {
	var inv x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return refused(ReasonExpired, "certificate for %s is outside its validity period", id)
	case errors.As(err, &ua):
		return refused(ReasonUnknownCA, "certificate for %s is not issued under a configured trust anchor", id)
	default:
		return refused(ReasonBadChain, "certificate for %s: %v", id, err)
	}
}

func parseCRL(raw []byte) (*x509.RevocationList, error) {
	if b, _ := pem.Decode(raw); b != nil {
		if b.Type != "X509 CRL" {
			return nil, fmt.Errorf("PEM block %q is not an X509 CRL", b.Type)
		}
		raw = b.Bytes
	} else if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("-----")) {
		return nil, errors.New("truncated PEM")
	}
	return x509.ParseRevocationList(raw)
}

func serialHex(n *big.Int) string { return fmt.Sprintf("%x", n) }
