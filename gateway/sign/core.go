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
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/ura-gateway/ura/gateway/config"
)

// VaultSigner signs with a key held in Vault, in either mode: Transit (the
// private key never leaves Vault) or KV (the key is read from KV v2 and used
// in memory). Both produce the same compact JWS: protected header
// {"alg","kid","typ"}, kid "<key>:<version>".
//
// The key's versions are read from Vault and reused for the configured TTL.
// The same read decides which version signs and which versions the JWKS
// publishes, so a kid the gateway signs with is always in its JWKS.
type VaultSigner struct {
	b      backend
	key    string
	alg    jwa.SignatureAlgorithm
	ttl    time.Duration
	window time.Duration
	log    *slog.Logger
	m      *Metrics
	denied func()
	now    func() time.Time

	cur atomic.Pointer[keyState]
	// mu serialises reloads so that a stale cache costs one Vault read, not
	// one per waiting request.
	mu sync.Mutex
}

var (
	_ Signer        = (*VaultSigner)(nil)
	_ crypto.Signer = (*TransitKey)(nil)
)

// Options are the optional parts of a signer.
type Options struct {
	Logger *slog.Logger
	// Metrics are shared with Auth and Peers; nil makes private ones. The
	// signer collects them all (register the signer).
	Metrics *Metrics
	// OnDenied is called when Vault refuses the token, so that the login
	// loop logs in again at once instead of at the next renewal.
	OnDenied func()
}

// backend is what differs between the modes: how key versions are read and
// how signing inputs become signatures.
type backend interface {
	mode() string
	// load reads the key's versions; prev (may be nil) lets it reuse what
	// never changes, such as the public key of an old version.
	load(ctx context.Context, prev *keyState) (*keyState, error)
	// sign returns one raw JWS signature per input, made with st.current.
	sign(ctx context.Context, st *keyState, inputs [][]byte) ([][]byte, error)
}

// keyVersion is one version of the key.
type keyVersion struct {
	version int
	public  crypto.PublicKey
	created time.Time
}

// keyState is one read of the key from Vault. It is replaced whole, never
// changed, so readers need no lock.
type keyState struct {
	current  keyVersion
	versions []keyVersion // every known version, ascending
	// private is the current version's key in kv mode; nil in transit mode.
	private crypto.Signer
	loaded  time.Time
	set     jwk.Set
	headers map[string]string // typ → base64url protected header
}

// New builds the signer that cfg.Mode selects.
func New(client *vault.Client, cfg config.Sign, opts Options) (*VaultSigner, error) {
	alg, err := algorithm(cfg.Algorithm)
	if err != nil {
		return nil, err
	}
	m := orNew(opts.Metrics)
	var b backend
	switch cfg.Mode {
	case config.SignModeTransit:
		t := &transit{c: client, mount: cfg.TransitMount, key: cfg.Key, alg: alg, batch: cfg.BatchSize, m: m}
		t.co = &coalescer{limit: cfg.BatchSize, call: t.call}
		b = t
	case config.SignModeKV:
		b = &kv{c: client, mount: cfg.KVMount, path: cfg.KVPath, alg: alg, m: m}
	default:
		return nil, fmt.Errorf("sign.mode %q: want transit or kv", cfg.Mode)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &VaultSigner{
		b: b, key: cfg.Key, alg: alg, ttl: cfg.JWKSCacheTTL, window: cfg.VerificationWindow,
		log: logger.With("component", "sign", "mode", b.mode(), "key", cfg.Key), m: m,
		denied: opts.OnDenied, now: time.Now,
	}, nil
}

func algorithm(name string) (jwa.SignatureAlgorithm, error) {
	switch name {
	case config.AlgEd25519:
		return jwa.EdDSA, nil
	case config.AlgECDSAP256:
		return jwa.ES256, nil
	}
	return "", fmt.Errorf("sign.algorithm %q: want ed25519 or ecdsa-p256", name)
}

// Sign signs each payload as a delivered record.
func (s *VaultSigner) Sign(ctx context.Context, payloads [][]byte) ([]string, error) {
	return s.SignTyped(ctx, TypDelivery, payloads)
}

// SignTyped signs each payload with typ in the protected header. It returns
// every signature or none; its error wraps ErrUnavailable.
func (s *VaultSigner) SignTyped(ctx context.Context, typ string, payloads [][]byte) ([]string, error) {
	return s.SignLabelled(ctx, typ, payloads, nil)
}

// SignLabelled signs each payload with typ, and its label when it has one,
// in the protected header.
func (s *VaultSigner) SignLabelled(ctx context.Context, typ string, payloads [][]byte, labels []json.RawMessage) ([]string, error) {
	if len(payloads) == 0 {
		return nil, nil
	}
	start := time.Now()
	st, err := s.state(ctx)
	if err != nil {
		return nil, s.unavailable("load key", err)
	}
	hdr, ok := st.headers[typ]
	if !ok {
		hdr = encodeHeader(s.alg, s.kid(st.current.version), typ)
	}
	inputs := make([][]byte, len(payloads))
	for i, p := range payloads {
		hdr := hdr
		if i < len(labels) && labels[i] != nil {
			if hdr, err = encodeLabelledHeader(s.alg, s.kid(st.current.version), typ, labels[i]); err != nil {
				return nil, fmt.Errorf("label of payload %d: %w", i, err)
			}
		}
		in := make([]byte, 0, len(hdr)+1+base64.RawURLEncoding.EncodedLen(len(p)))
		in = append(in, hdr...)
		in = append(in, '.')
		inputs[i] = base64.RawURLEncoding.AppendEncode(in, p)
	}
	sigs, err := s.b.sign(ctx, st, inputs)
	if err != nil {
		if isDenied(err) && s.denied != nil {
			s.denied()
		}
		return nil, s.unavailable("sign", err)
	}
	if len(sigs) != len(inputs) {
		return nil, s.unavailable("sign", fmt.Errorf("%d signatures for %d inputs", len(sigs), len(inputs)))
	}
	// One check per call catches a key that Vault replaced under the same
	// name and version (deleted and re-created): its signatures would not
	// verify against the published key.
	if err := verifyRaw(s.alg, st.current.public, inputs[0], sigs[0]); err != nil {
		s.cur.CompareAndSwap(st, nil)
		return nil, s.unavailable("self-check", fmt.Errorf("signature by %s does not verify with its published key: %w", s.kid(st.current.version), err))
	}
	out := make([]string, len(inputs))
	for i, in := range inputs {
		jws := make([]byte, 0, len(in)+1+base64.RawURLEncoding.EncodedLen(len(sigs[i])))
		jws = append(jws, in...)
		jws = append(jws, '.')
		out[i] = string(base64.RawURLEncoding.AppendEncode(jws, sigs[i]))
	}
	s.m.signatures.WithLabelValues(s.b.mode()).Add(float64(len(out)))
	s.m.signSeconds.WithLabelValues(s.b.mode()).Observe(time.Since(start).Seconds())
	return out, nil
}

func (s *VaultSigner) unavailable(op string, err error) error {
	s.m.failures.WithLabelValues(s.b.mode(), op).Inc()
	s.log.Warn("signing failed", "op", op, "error", err)
	return fmt.Errorf("%w: %s %s: %w", ErrUnavailable, s.b.mode(), op, err)
}

// Keys returns the public key of every version in the verification window.
// When Vault cannot be read it serves the last set it read: public keys do
// not stop being true when Vault is down, and verifiers need them most then.
func (s *VaultSigner) Keys(ctx context.Context) (jwk.Set, error) {
	st, err := s.state(ctx)
	if err != nil {
		if last := s.cur.Load(); last != nil {
			s.log.Warn("serving the last key set read from Vault", "error", err, "age", s.now().Sub(last.loaded).String())
			return last.set, nil
		}
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return st.set, nil
}

// KeyID is the kid new signatures carry, reading the key if needed.
func (s *VaultSigner) KeyID(ctx context.Context) (string, error) {
	st, err := s.state(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return s.kid(st.current.version), nil
}

// Refresh reads the key from Vault now, whatever the cache says, so that a
// rotation is used at once.
func (s *VaultSigner) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.reloadLocked(ctx)
	return err
}

// Name and Check make the signer a readiness check: the key must be readable
// and of the configured type.
func (s *VaultSigner) Name() string { return "signing_key" }

// Check reads the key when the cached read is stale.
func (s *VaultSigner) Check(ctx context.Context) error {
	_, err := s.state(ctx)
	return err
}

func (s *VaultSigner) kid(version int) string { return s.key + ":" + strconv.Itoa(version) }

func (s *VaultSigner) state(ctx context.Context) (*keyState, error) {
	if st := s.cur.Load(); st != nil && s.now().Sub(st.loaded) < s.ttl {
		return st, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.cur.Load(); st != nil && s.now().Sub(st.loaded) < s.ttl {
		return st, nil
	}
	return s.reloadLocked(ctx)
}

func (s *VaultSigner) reloadLocked(ctx context.Context) (*keyState, error) {
	prev := s.cur.Load()
	st, err := s.b.load(ctx, prev)
	if err != nil {
		if isDenied(err) && s.denied != nil {
			s.denied()
		}
		return nil, err
	}
	st.loaded = s.now()
	st.versions = s.inWindow(st.versions, st.current.version, st.loaded)
	if st.set, err = s.buildSet(st.versions); err != nil {
		return nil, err
	}
	st.headers = make(map[string]string, 3)
	for _, typ := range []string{TypDelivery, TypResult, TypTrailer, TypChunk} {
		st.headers[typ] = encodeHeader(s.alg, s.kid(st.current.version), typ)
	}
	if prev == nil || prev.current.version != st.current.version {
		s.log.Info("signing key version in use", "kid", s.kid(st.current.version), "published_versions", len(st.versions))
	}
	s.m.keyVersion.WithLabelValues(s.b.mode(), s.key).Set(float64(st.current.version))
	s.m.jwksKeys.WithLabelValues(s.b.mode(), s.key).Set(float64(len(st.versions)))
	s.cur.Store(st)
	return st, nil
}

// inWindow keeps the versions a verifier may still be asked about: never a
// version newer than the one signing (a key created but not yet used), and
// a superseded version only while its successor is younger than the window.
func (s *VaultSigner) inWindow(all []keyVersion, current int, now time.Time) []keyVersion {
	slices.SortFunc(all, func(a, b keyVersion) int { return a.version - b.version })
	out := make([]keyVersion, 0, len(all))
	for i, kv := range all {
		if kv.version > current {
			continue
		}
		if s.window > 0 && kv.version < current && i+1 < len(all) {
			if next := all[i+1]; !next.created.IsZero() && now.Sub(next.created) > s.window {
				continue
			}
		}
		out = append(out, kv)
	}
	return out
}

func (s *VaultSigner) buildSet(versions []keyVersion) (jwk.Set, error) {
	set := jwk.NewSet()
	for _, kv := range versions {
		k, err := publicJWK(kv.public, s.alg, s.kid(kv.version))
		if err != nil {
			return nil, fmt.Errorf("version %d: %w", kv.version, err)
		}
		if err := set.AddKey(k); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// publicJWK is the JWKS entry for one key version.
func publicJWK(pub crypto.PublicKey, alg jwa.SignatureAlgorithm, kid string) (jwk.Key, error) {
	if err := checkKeyType(pub, alg); err != nil {
		return nil, err
	}
	k, err := jwk.FromRaw(pub)
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: alg, jwk.KeyUsageKey: jwk.ForSignature} {
		if err := k.Set(name, v); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func checkKeyType(pub crypto.PublicKey, alg jwa.SignatureAlgorithm) error {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if alg == jwa.EdDSA && len(k) == ed25519.PublicKeySize {
			return nil
		}
	case *ecdsa.PublicKey:
		if alg == jwa.ES256 && k.Curve == elliptic.P256() {
			return nil
		}
	}
	return fmt.Errorf("a %s key cannot make %s signatures (sign.algorithm does not match the key in Vault)", keyTypeName(pub), alg)
}

func keyTypeName(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return "ed25519"
	case *ecdsa.PublicKey:
		return "ecdsa-" + k.Curve.Params().Name
	}
	return fmt.Sprintf("%T", pub)
}

// encodeHeader is the base64url protected header. Field order is fixed so
// that every JWS of one batch shares the same bytes.
func encodeHeader(alg jwa.SignatureAlgorithm, kid, typ string) string {
	raw, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg.String(), kid, typ})
	return base64.RawURLEncoding.EncodeToString(raw)
}

// encodeLabelledHeader is encodeHeader with the record's label.
func encodeLabelledHeader(alg jwa.SignatureAlgorithm, kid, typ string, label json.RawMessage) (string, error) {
	raw, err := json.Marshal(struct {
		Alg   string          `json:"alg"`
		Kid   string          `json:"kid"`
		Typ   string          `json:"typ"`
		Label json.RawMessage `json:"label"`
	}{alg.String(), kid, typ, label})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// verifyRaw checks one raw JWS signature over input.
func verifyRaw(alg jwa.SignatureAlgorithm, pub crypto.PublicKey, input, sig []byte) error {
	switch alg {
	case jwa.EdDSA:
		k, ok := pub.(ed25519.PublicKey)
		if ok && ed25519.Verify(k, input, sig) {
			return nil
		}
	case jwa.ES256:
		k, ok := pub.(*ecdsa.PublicKey)
		if ok && len(sig) == 64 {
			if verifyES256(k, input, sig) {
				return nil
			}
		}
	}
	return errors.New("signature does not verify")
}

// isDenied reports whether Vault refused the token: expired, revoked, or
// lacking the policy.
func isDenied(err error) bool {
	var re *vault.ResponseError
	return errors.As(err, &re) && re.StatusCode == 403
}
