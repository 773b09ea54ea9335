package identity

import (
	"bytes"
	"cmp"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
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
	roots     *x509.CertPool
	anchors   map[string]*anchor // by the anchor certificate's raw DER
	crls      map[string][]*crl  // by the CRL's raw issuer name
	grace     time.Duration
	rollbacks []Rollback
	verdicts  verdicts
	// numbers records the highest verified CRL number per sequence across
	// restarts; nil: kept in memory only.
	numbers *CRLNumbers
}

type anchor struct {
	name       string
	prefixes   []string
	requireCRL bool
}

type crl struct {
	list    *x509.RevocationList
	seq     crlSeq
	revoked map[string]struct{} // serial numbers, as big.Int.String()
	// verified caches which issuer certificates this CRL's signature was
	// checked against, so a handshake costs a signature check only once.
	verified sync.Map // string(issuer.Raw) -> bool
}

// crlSeq names one issuer's sequence of CRL numbers: its name and the key
// it signs with (the CRL's authority key identifier).
type crlSeq struct {
	issuer string // raw DER name
	keyID  string
}

// Rollback is a CRL refused because a CRL with a higher number from the same
// issuer was seen before it: an older list replayed in place of a newer one
// would un-revoke every certificate revoked in between. The newer list stays
// in force until the issuer publishes one numbered at least as high.
type Rollback struct {
	// Issuer is the common name of the CRL's issuer.
	Issuer string
	// Number is the refused CRL's number, Kept the number of the one kept.
	Number, Kept *big.Int
	// Unverified is set when the kept CRL's signature has not yet been
	// checked (no certificate from its issuer was presented since it was
	// loaded). It is kept all the same: a forged list is never used, and a
	// genuine one must not be forgotten for want of a handshake.
	Unverified bool
	// Recorded is set when Kept is the number recorded in the CRL state
	// file (CRLNumbers) rather than a CRL this process holds: no CRL of the
	// issuer numbered that high is loaded, so the certificates it covers
	// are refused (crl_missing) until one is.
	Recorded bool
}

// TrustOptions are what a Trust is built with besides its anchors.
type TrustOptions struct {
	// Grace is how long past its nextUpdate a CRL is still trusted.
	Grace time.Duration
	// Prev is the Trust a reload replaces; nil means a first load.
	Prev *Trust
	// Numbers, when set, are the highest CRL numbers verified before, kept
	// across restarts: a CRL numbered lower than the one recorded for its
	// issuer and key is refused, as a rollback. Every CRL whose signature
	// this Trust verifies raises them.
	Numbers *CRLNumbers
}

// NewTrust parses anchors and CRLs. Any unparsable input is an error: a reload
// with a half-written file must keep the previous state.
func NewTrust(anchors []AnchorConfig, grace time.Duration) (*Trust, error) {
	return NewTrustAfter(nil, anchors, grace)
}

// NewTrustAfter is NewTrust for a reload that replaces prev. CRL numbers
// must not go back: a loaded or fetched CRL numbered lower than one prev
// held for the same issuer is refused and prev's CRL is kept in force (see
// Rollbacks). prev is only read; nil means a first load.
func NewTrustAfter(prev *Trust, anchors []AnchorConfig, grace time.Duration) (*Trust, error) {
	return NewTrustWith(anchors, TrustOptions{Grace: grace, Prev: prev})
}

// NewTrustWith is NewTrust with every option: a reload's previous Trust,
// and the CRL numbers recorded across restarts.
func NewTrustWith(anchors []AnchorConfig, opts TrustOptions) (*Trust, error) {
	prev := opts.Prev
	t := &Trust{
		roots:   x509.NewCertPool(),
		anchors: map[string]*anchor{},
		crls:    map[string][]*crl{},
		grace:   opts.Grace,
		numbers: opts.Numbers,
	}
	loaded := map[*crl]bool{}
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
			list, err := ParseCRL(raw)
			if err != nil {
				return nil, fmt.Errorf("trust anchor %s: crl %d: %w", ac.Name, i+1, err)
			}
			c := reuseCRL(prev, list)
			loaded[c] = true
			t.addCRL(c)
		}
	}
	if len(t.anchors) == 0 {
		return nil, errors.New("no trust anchors")
	}
	reported := t.keepNewest(prev)
	if t.numbers != nil {
		t.numbers.retry()
		t.refuseBelowRecorded(loaded, reported)
	}
	slices.SortFunc(t.rollbacks, func(a, b Rollback) int {
		return cmp.Or(strings.Compare(a.Issuer, b.Issuer), a.Kept.Cmp(b.Kept))
	})
	return t, nil
}

// refuseBelowRecorded drops every CRL numbered lower than the number
// recorded for its sequence, and reports each loaded one that keepNewest
// has not reported already. An issuer left with no CRL has its
// certificates refused as crl_missing until a CRL numbered at least as high
// is loaded: the list the number was recorded from is not kept, and an
// older one must not stand in for it.
func (t *Trust) refuseBelowRecorded(loaded, reported map[*crl]bool) {
	for _, issuer := range slices.Sorted(maps.Keys(t.crls)) {
		var kept []*crl
		for _, c := range t.crls[issuer] {
			floor := t.numbers.floor(c.seq)
			if floor == nil || c.list.Number.Cmp(floor) >= 0 {
				kept = append(kept, c)
				continue
			}
			if loaded[c] && !reported[c] {
				t.rollbacks = append(t.rollbacks, Rollback{Issuer: c.list.Issuer.CommonName, Number: c.list.Number, Kept: floor, Recorded: true})
			}
		}
		if len(kept) == 0 {
			delete(t.crls, issuer)
		} else {
			t.crls[issuer] = kept
		}
	}
}

// Rollbacks are the CRLs refused while this Trust was built, for the
// caller to log and count.
func (t *Trust) Rollbacks() []Rollback { return slices.Clone(t.rollbacks) }

// reuseCRL returns prev's copy of list when prev already held it, so that
// its checked signatures carry over; otherwise a new entry.
func reuseCRL(prev *Trust, list *x509.RevocationList) *crl {
	if prev != nil {
		for _, c := range prev.crls[string(list.RawIssuer)] {
			if bytes.Equal(c.list.Raw, list.Raw) {
				return c
			}
		}
	}
	c := &crl{
		list:    list,
		seq:     crlSeq{issuer: string(list.RawIssuer), keyID: string(list.AuthorityKeyId)},
		revoked: make(map[string]struct{}, len(list.RevokedCertificateEntries)),
	}
	for _, e := range list.RevokedCertificateEntries {
		c.revoked[e.SerialNumber.String()] = struct{}{}
	}
	return c
}

func (t *Trust) addCRL(c *crl) {
	if !slices.Contains(t.crls[c.seq.issuer], c) {
		t.crls[c.seq.issuer] = append(t.crls[c.seq.issuer], c)
	}
}

// keepNewest compares every issuer's newly loaded CRLs with the ones prev
// held. Only issuers that still have a CRL loaded are considered: a source
// removed from the configuration takes its CRLs with it.
//
// From prev it keeps, per issuer and signing key, the highest-numbered CRL
// whose signature was verified, and a higher-numbered one not yet checked.
// The verifier always uses the highest-numbered CRL that verifies, so a
// replayed older list changes nothing, and a forged list (which never
// verifies) cannot push out a genuine one, whatever number or key it claims.
//
// It returns the loaded CRLs it reported as rollbacks.
func (t *Trust) keepNewest(prev *Trust) map[*crl]bool {
	reported := map[*crl]bool{}
	if prev == nil {
		return reported
	}
	newest := map[crlSeq]*crl{}
	for _, list := range t.crls {
		for _, c := range list {
			if n := newest[c.seq]; n == nil || c.list.Number.Cmp(n.list.Number) > 0 {
				newest[c.seq] = c
			}
		}
	}
	issuers := slices.Sorted(maps.Keys(t.crls))
	for _, issuer := range issuers {
		valid, unchecked := map[crlSeq]*crl{}, map[crlSeq]*crl{}
		for _, c := range prev.crls[issuer] {
			pick := unchecked
			switch c.signature() {
			case sigValid:
				pick = valid
			case sigInvalid:
				continue
			}
			if b := pick[c.seq]; b == nil || c.list.Number.Cmp(b.list.Number) > 0 {
				pick[c.seq] = c
			}
		}
		for seq, v := range valid {
			loaded := newest[seq]
			if loaded != nil && v.list.Number.Cmp(loaded.list.Number) > 0 {
				t.rollbacks = append(t.rollbacks, Rollback{Issuer: loaded.list.Issuer.CommonName, Number: loaded.list.Number, Kept: v.list.Number})
				reported[loaded] = true
				// What was refused is not kept: it can never be used.
				t.crls[issuer] = slices.DeleteFunc(t.crls[issuer], func(c *crl) bool {
					return c.seq == seq && c.list.Number.Cmp(v.list.Number) < 0
				})
			}
			t.addCRL(v)
		}
		for seq, u := range unchecked {
			loaded := newest[seq]
			if loaded == nil || u.list.Number.Cmp(loaded.list.Number) <= 0 {
				continue
			}
			if v := valid[seq]; v != nil && u.list.Number.Cmp(v.list.Number) <= 0 {
				continue
			}
			t.rollbacks = append(t.rollbacks, Rollback{Issuer: loaded.list.Issuer.CommonName, Number: loaded.list.Number, Kept: u.list.Number, Unverified: true})
			reported[loaded] = true
			t.addCRL(u)
		}
	}
	return reported
}

type sigState int

const (
	sigUnchecked sigState = iota // no issuer certificate seen yet
	sigInvalid                   // checked, and no issuer's key verifies it
	sigValid                     // verified under some issuer certificate
)

func (c *crl) signature() sigState {
	state := sigUnchecked
	c.verified.Range(func(_, ok any) bool {
		if ok.(bool) {
			state = sigValid
			return false
		}
		state = sigInvalid
		return true
	})
	return state
}

// Verify checks a peer's certificate chain as sent in the handshake and
// returns the member ID it proves. It is the whole identity decision, made
// at the handshake and again on every request of an open connection, so
// that an expiry, a revocation or a removed anchor ends access on
// connections opened before it with the refusal a new handshake would get.
//
// A chain accepted once is remembered by this Trust until the first moment
// its answer could change (a certificate's notAfter, a CRL's nextUpdate plus
// grace); a reload builds a new Trust and so forgets every answer.
func (t *Trust) Verify(peer []*x509.Certificate, now time.Time) (string, error) {
	if len(peer) == 0 {
		return "", refused(ReasonNoCertificate, "the client sent no certificate")
	}
	key := chainKey(peer)
	if id, ok := t.verdicts.get(key, now); ok {
		return id, nil
	}
	v, err := t.verify(peer, now)
	if err != nil {
		return "", err
	}
	t.verdicts.put(key, v)
	return v.id, nil
}

func (t *Trust) verify(peer []*x509.Certificate, now time.Time) (verdict, error) {
	leaf := peer[0]
	id, err := memberFromLeaf(leaf)
	if err != nil {
		return verdict{}, err
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
		return verdict{}, classify(err, id)
	}
	// A chain may reach more than one anchor (cross-signing); the member is
	// accepted through the first anchor allowed to vouch for it.
	lastErr := refused(ReasonPrefix, "no trust anchor of this chain may vouch for %s", id)
	for _, chain := range chains {
		a := t.anchors[string(chain[len(chain)-1].Raw)]
		if a == nil || !a.allows(id) {
			continue
		}
		v := verdict{id: id}
		for _, c := range chain {
			v.narrow(c.NotBefore, c.NotAfter)
		}
		if err := t.checkRevocation(chain, a, now, &v); err != nil {
			lastErr = err
			continue
		}
		return v, nil
	}
	return verdict{}, lastErr
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
// Every CRL it relies on narrows v to the time that CRL is current.
func (t *Trust) checkRevocation(chain []*x509.Certificate, a *anchor, now time.Time, v *verdict) error {
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
		v.narrow(time.Time{}, list.list.NextUpdate.Add(t.grace))
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
			if ok.(bool) && t.numbers != nil {
				t.numbers.raise(c)
			}
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

// ParseCRL parses one CRL, PEM ("X509 CRL") or DER, as the gateway loads
// it from a file or a URL. It checks the form only, never the signature
// (the issuer's certificate is known only when a chain presents it), and
// refuses a CRL without a CRL number: without one, an older list could not
// be told from a newer one.
func ParseCRL(raw []byte) (*x509.RevocationList, error) {
	if b, _ := pem.Decode(raw); b != nil {
		if b.Type != "X509 CRL" {
			return nil, fmt.Errorf("PEM block %q is not an X509 CRL", b.Type)
		}
		raw = b.Bytes
	} else if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("-----")) {
		return nil, errors.New("truncated PEM")
	}
	list, err := x509.ParseRevocationList(raw)
	if err != nil {
		return nil, err
	}
	if list.Number == nil || list.Number.Sign() < 0 {
		return nil, errors.New("the CRL carries no CRL number")
	}
	return list, nil
}

func serialHex(n *big.Int) string { return fmt.Sprintf("%x", n) }
