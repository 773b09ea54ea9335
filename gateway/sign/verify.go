package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Why a JWS is refused. Verify's errors wrap exactly one of these.
var (
	// ErrMalformed: not a compact JWS with a JSON protected header.
	ErrMalformed = errors.New("malformed JWS")
	// ErrAlgNotAllowed: alg is not EdDSA or ES256 (none and HS256
	// included), or not the algorithm of the key the kid names.
	ErrAlgNotAllowed = errors.New("alg not allowed")
	// ErrHeaderNotAllowed: the header names its own key (jku, x5u, jwk,
	// x5c) or asks for extensions (crit, b64). Keys come from the JWKS
	// only, never from the token.
	ErrHeaderNotAllowed = errors.New("header not allowed")
	// ErrUnknownKey: no kid, or a kid that is not in the JWKS.
	ErrUnknownKey = errors.New("unknown kid")
	// ErrBadSignature: the signature does not match the header and payload.
	ErrBadSignature = errors.New("bad signature")
)

// AllowedAlgorithms are the only algorithms the gateway signs or accepts.
var AllowedAlgorithms = []jwa.SignatureAlgorithm{jwa.EdDSA, jwa.ES256}

// forbiddenHeaders name a key or change how the JWS is read. A verifier that
// honoured them would let the token choose its own key.
var forbiddenHeaders = []string{"jku", "x5u", "jwk", "x5c", "crit", "b64"}

// maxJWSLen bounds a JWS read from outside; a record is far smaller.
const maxJWSLen = 64 << 20

// Verifier checks compact JWS against a JWKS: the whole gateway's rule for
// what counts as signed. Safe for concurrent use.
type Verifier struct {
	src KeySource
}

// NewVerifier verifies against the keys src supplies.
func NewVerifier(src KeySource) *Verifier { return &Verifier{src: src} }

// Verify is VerifyContext with a 10-second bound on fetching keys.
func (v *Verifier) Verify(compact string) (payload []byte, kid string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return v.VerifyContext(ctx, compact)
}

// VerifyContext returns the payload and kid of a valid JWS. The error wraps
// ErrMalformed, ErrAlgNotAllowed, ErrHeaderNotAllowed, ErrUnknownKey or
// ErrBadSignature, or ErrUnavailable when the keys cannot be read.
func (v *Verifier) VerifyContext(ctx context.Context, compact string) ([]byte, string, error) {
	hdr, err := parseProtected(compact)
	if err != nil {
		return nil, "", err
	}
	key, err := v.lookup(ctx, hdr.kid)
	if err != nil {
		return nil, hdr.kid, err
	}
	if err := keyFits(key, hdr.alg); err != nil {
		return nil, hdr.kid, err
	}
	var raw any
	if err := key.Raw(&raw); err != nil {
		return nil, hdr.kid, fmt.Errorf("%w: key %s: %v", ErrUnknownKey, hdr.kid, err)
	}
	// The algorithm is pinned from our own allow-list and the key, never
	// taken from the token, and the key comes from the JWKS.
	payload, err := jws.Verify([]byte(compact), jws.WithKey(hdr.alg, raw))
	if err != nil {
		return nil, hdr.kid, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return payload, hdr.kid, nil
}

type protected struct {
	alg jwa.SignatureAlgorithm
	kid string
	typ string
}

// parseProtected applies every rule that needs no key.
func parseProtected(compact string) (protected, error) {
	var p protected
	if len(compact) > maxJWSLen {
		return p, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxJWSLen)
	}
	parts := strings.Split(compact, ".")
	if len(parts) != 3 {
		return p, fmt.Errorf("%w: %d parts, want 3 (compact serialization)", ErrMalformed, len(parts))
	}
	if len(parts[0]) > maxHeaderLen {
		return p, fmt.Errorf("%w: header too long", ErrMalformed)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return p, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw, &h); err != nil || h == nil {
		return p, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	for _, name := range forbiddenHeaders {
		if _, ok := h[name]; ok {
			return p, fmt.Errorf("%w: %q", ErrHeaderNotAllowed, name)
		}
	}
	var alg, kid, typ string
	if err := json.Unmarshal(h["alg"], &alg); err != nil {
		return p, fmt.Errorf("%w: no alg", ErrMalformed)
	}
	p.alg = jwa.SignatureAlgorithm(alg)
	if !algAllowed(p.alg) {
		return p, fmt.Errorf("%w: %q (want EdDSA or ES256)", ErrAlgNotAllowed, alg)
	}
	if k, ok := h["kid"]; !ok || json.Unmarshal(k, &kid) != nil || kid == "" {
		return p, fmt.Errorf("%w: the header has no kid", ErrUnknownKey)
	}
	if t, ok := h["typ"]; ok {
		if json.Unmarshal(t, &typ) != nil {
			return p, fmt.Errorf("%w: typ is not a string", ErrMalformed)
		}
	}
	if parts[2] == "" {
		return p, fmt.Errorf("%w: no signature", ErrMalformed)
	}
	p.kid, p.typ = kid, typ
	for i, part := range parts[1:] {
		if _, err := base64.RawURLEncoding.DecodeString(part); err != nil {
			return p, fmt.Errorf("%w: %s is not base64url", ErrMalformed, [...]string{"payload", "signature"}[i])
		}
	}
	return p, nil
}

func algAllowed(alg jwa.SignatureAlgorithm) bool {
	for _, a := range AllowedAlgorithms {
		if alg == a {
			return true
		}
	}
	return false
}

func (v *Verifier) lookup(ctx context.Context, kid string) (jwk.Key, error) {
	set, err := v.src.KeySet(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if k, ok := set.LookupKeyID(kid); ok {
		return k, nil
	}
	// A kid we have not seen may be a rotation the cached set predates.
	set, err = v.src.KeySet(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if k, ok := set.LookupKeyID(kid); ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: %q is not in the JWKS", ErrUnknownKey, kid)
}

// keyFits refuses a key that was published for another algorithm, or whose
// type cannot make alg signatures: the HS256-with-the-public-key trick and
// its relatives end here.
func keyFits(key jwk.Key, alg jwa.SignatureAlgorithm) error {
	if ka := key.Algorithm(); ka != nil && ka.String() != "" && ka.String() != alg.String() {
		return fmt.Errorf("%w: %s, but key %s is for %s", ErrAlgNotAllowed, alg, key.KeyID(), ka)
	}
	var raw any
	if err := key.Raw(&raw); err != nil {
		return fmt.Errorf("%w: %v", ErrUnknownKey, err)
	}
	if err := checkKeyType(publicOf(raw), alg); err != nil {
		return fmt.Errorf("%w: %v", ErrAlgNotAllowed, err)
	}
	return nil
}

func publicOf(k any) crypto.PublicKey {
	switch k := k.(type) {
	case ed25519.PrivateKey:
		return k.Public()
	case *ecdsa.PrivateKey:
		return &k.PublicKey
	case ecdsa.PublicKey:
		return &k
	}
	return k
}

// ParseJWKS reads a JWK Set that may hold only public EdDSA (Ed25519) and
// ES256 (P-256) signing keys, each with a kid. A private key in a JWKS is a
// leak, and refused rather than quietly stripped.
func ParseJWKS(data []byte) (jwk.Set, error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	out := jwk.NewSet()
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		if k.KeyID() == "" {
			return nil, fmt.Errorf("jwks: key %d has no kid", i)
		}
		if _, ok := out.LookupKeyID(k.KeyID()); ok {
			return nil, fmt.Errorf("jwks: kid %q appears twice", k.KeyID())
		}
		if u := k.KeyUsage(); u != "" && u != string(jwk.ForSignature) {
			continue
		}
		var raw any
		if err := k.Raw(&raw); err != nil {
			return nil, fmt.Errorf("jwks: key %q: %w", k.KeyID(), err)
		}
		switch r := raw.(type) {
		case ed25519.PrivateKey, *ecdsa.PrivateKey, ecdsa.PrivateKey:
			return nil, fmt.Errorf("jwks: key %q is a private key", k.KeyID())
		case ed25519.PublicKey:
		case *ecdsa.PublicKey:
			if r.Curve != elliptic.P256() {
				return nil, fmt.Errorf("jwks: key %q: curve %s, want P-256", k.KeyID(), r.Curve.Params().Name)
			}
		default:
			// RSA, symmetric and other keys can never verify an accepted
			// JWS; leaving them out means no alg can be tricked into them.
			continue
		}
		if err := out.AddKey(k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ErrLabelMismatch is CheckLabel's error: the label in a JWS's protected
// header is not the label of the record its payload delivers.
var ErrLabelMismatch = errors.New("the label in the protected header is not the delivered record's")

// CheckLabel checks the binding of label and record in a verified JWS: when
// its protected header carries a label (HeaderLabel), the payload must
// deliver a record with the same label, compared as JSON values. A header
// without one (a result, a trailer, a delivery signed before labels were
// bound in the header) passes. Call it only on a JWS that verified, whose
// header the signature covers.
func CheckLabel(compact string, payload []byte) error {
	h, _, ok := strings.Cut(compact, ".")
	if !ok || len(h) > maxHeaderLen {
		return fmt.Errorf("%w: malformed header", ErrMalformed)
	}
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(raw, &hdr); err != nil {
		return fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	inHeader, ok := hdr[HeaderLabel]
	if !ok {
		return nil
	}
	var p struct {
		Record struct {
			Label json.RawMessage `json:"label"`
		} `json:"record"`
	}
	if err := json.Unmarshal(payload, &p); err != nil || p.Record.Label == nil {
		return fmt.Errorf("%w: the payload delivers no labelled record", ErrLabelMismatch)
	}
	var a, b any
	if json.Unmarshal(inHeader, &a) != nil || json.Unmarshal(p.Record.Label, &b) != nil || !reflect.DeepEqual(a, b) {
		return ErrLabelMismatch
	}
	return nil
}
