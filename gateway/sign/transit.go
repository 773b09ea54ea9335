package sign

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

// transit signs in Vault: the private key never leaves it. A batch of N
// inputs costs ceil(N / batch) sign calls through batch_input.
type transit struct {
	c     *vault.Client
	mount string
	key   string
	alg   jwa.SignatureAlgorithm
	batch int
	m     *Metrics
	// co merges small requests into shared calls; nil sends each alone.
	co *coalescer
}

func (t *transit) mode() string { return "transit" }

// transitKey is the part of GET <mount>/keys/<key> the signer uses.
type transitKey struct {
	Type                 string `json:"type"`
	LatestVersion        int    `json:"latest_version"`
	MinDecryptionVersion int    `json:"min_decryption_version"`
	MinEncryptionVersion int    `json:"min_encryption_version"`
	SupportsSigning      bool   `json:"supports_signing"`
	Keys                 map[string]struct {
		PublicKey    string    `json:"public_key"`
		CreationTime time.Time `json:"creation_time"`
	} `json:"keys"`
}

// transitType is Vault's name for the key type each algorithm needs.
var transitType = map[jwa.SignatureAlgorithm]string{jwa.EdDSA: "ed25519", jwa.ES256: "ecdsa-p256"}

func (t *transit) load(ctx context.Context, _ *keyState) (*keyState, error) {
	var k transitKey
	err := vaultDo(ctx, t.c, http.MethodGet, t.mount+"/keys/"+t.key, nil, nil, &k)
	t.m.vault("transit_keys", err)
	if err != nil {
		return nil, fmt.Errorf("read transit key %s: %w", t.key, err)
	}
	if want := transitType[t.alg]; k.Type != want {
		return nil, fmt.Errorf("transit key %s is of type %q; sign.algorithm needs %q", t.key, k.Type, want)
	}
	if !k.SupportsSigning {
		return nil, fmt.Errorf("transit key %s does not support signing", t.key)
	}
	// Vault signs with the latest version unless min_encryption_version
	// says otherwise; the version is passed explicitly so that the kid,
	// which is signed too, can never disagree with the key that signed.
	cur := k.LatestVersion
	st := &keyState{}
	for name, kv := range k.Keys {
		v, err := strconv.Atoi(name)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("transit key %s: bad version %q", t.key, name)
		}
		// Below min_decryption_version Vault itself refuses to verify:
		// the operator has retired those versions.
		if v < k.MinDecryptionVersion {
			continue
		}
		pub, err := parsePublicKey(kv.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("transit key %s version %d: %w", t.key, v, err)
		}
		if err := checkKeyType(pub, t.alg); err != nil {
			return nil, fmt.Errorf("transit key %s version %d: %w", t.key, v, err)
		}
		kv := keyVersion{version: v, public: pub, created: kv.CreationTime}
		st.versions = append(st.versions, kv)
		if v == cur {
			st.current = kv
		}
	}
	if st.current.public == nil {
		return nil, fmt.Errorf("transit key %s: latest version %d has no public key", t.key, cur)
	}
	return st, nil
}

// transitSignRequest is the body of POST <mount>/sign/<key>.
type transitSignRequest struct {
	BatchInput []transitInput `json:"batch_input,omitempty"`
	Input      string         `json:"input,omitempty"`
	KeyVersion int            `json:"key_version"`
	// For ECDSA the gateway sends SHA-256(signing input) with prehashed set,
	// which is exactly what ES256 signs, and asks for the JWS encoding
	// (r||s) rather than ASN.1. Ed25519 signs the input itself (pure
	// EdDSA), so it must never be marked prehashed.
	Prehashed           bool   `json:"prehashed,omitempty"`
	HashAlgorithm       string `json:"hash_algorithm,omitempty"`
	MarshalingAlgorithm string `json:"marshaling_algorithm,omitempty"`
}

type transitInput struct {
	Input string `json:"input"`
}

type transitSignResult struct {
	Signature  string `json:"signature"`
	KeyVersion int    `json:"key_version"`
	Error      string `json:"error"`
}

type transitSignResponse struct {
	BatchResults []transitSignResult `json:"batch_results"`
	transitSignResult
}

// sign signs inputs with st's current version. A few inputs share a call
// with other requests' (see coalescer); more already amortise a call of
// their own and are sent in calls of batch inputs each, in parallel with
// other requests' calls.
func (t *transit) sign(ctx context.Context, st *keyState, inputs [][]byte) ([][]byte, error) {
	if t.co != nil && len(inputs) <= min(coalesceMax, t.batch) {
		return t.co.sign(ctx, st, inputs)
	}
	out := make([][]byte, 0, len(inputs))
	for start := 0; start < len(inputs); start += t.batch {
		sigs, errs, err := t.call(ctx, st, inputs[start:min(start+t.batch, len(inputs))])
		if err != nil {
			return nil, err
		}
		for i, e := range errs {
			if e != nil {
				return nil, fmt.Errorf("input %d: %w", start+i, e)
			}
		}
		out = append(out, sigs...)
	}
	return out, nil
}

// call is one Transit sign call for at most batch inputs.
func (t *transit) call(ctx context.Context, st *keyState, chunk [][]byte) ([][]byte, []error, error) {
	req := transitSignRequest{KeyVersion: st.current.version, BatchInput: make([]transitInput, len(chunk))}
	for i, in := range chunk {
		req.BatchInput[i].Input = base64.StdEncoding.EncodeToString(t.message(in))
	}
	t.marshaling(&req, "jws")
	var resp transitSignResponse
	err := vaultDo(ctx, t.c, http.MethodPost, t.mount+"/sign/"+t.key, nil, req, &resp)
	t.m.vault("transit_sign", err)
	if err != nil {
		return nil, nil, fmt.Errorf("vault transit sign %s: %w", t.key, err)
	}
	if len(resp.BatchResults) != len(chunk) {
		return nil, nil, fmt.Errorf("vault transit sign %s: %d results for %d inputs", t.key, len(resp.BatchResults), len(chunk))
	}
	sigs := make([][]byte, len(chunk))
	errs := make([]error, len(chunk))
	for i, r := range resp.BatchResults {
		if sigs[i], errs[i] = t.decode(r, st.current.version, "jws"); errs[i] != nil {
			errs[i] = fmt.Errorf("vault transit sign %s: %w", t.key, errs[i])
		}
	}
	return sigs, errs, nil
}

// message is what Vault is asked to sign for one JWS signing input.
func (t *transit) message(input []byte) []byte {
	if t.alg == jwa.ES256 {
		d := sha256.Sum256(input)
		return d[:]
	}
	return input
}

func (t *transit) marshaling(req *transitSignRequest, format string) {
	if t.alg == jwa.ES256 {
		req.Prehashed = true
		req.HashAlgorithm = "sha2-256"
		req.MarshalingAlgorithm = format
	}
}

// decode turns "vault:v<N>:<signature>" into raw bytes, refusing a result
// made with another version than the kid names.
func (t *transit) decode(r transitSignResult, version int, format string) ([]byte, error) {
	if r.Error != "" {
		return nil, errors.New(r.Error)
	}
	prefix := "vault:v" + strconv.Itoa(version) + ":"
	enc, ok := strings.CutPrefix(r.Signature, prefix)
	if !ok {
		return nil, fmt.Errorf("signature made with another key version than %d", version)
	}
	// Ed25519 and ASN.1 signatures come in standard base64; marshaling
	// algorithm jws makes Vault use base64url without padding.
	if t.alg == jwa.ES256 && format == "jws" {
		return base64.RawURLEncoding.DecodeString(enc)
	}
	return base64.StdEncoding.DecodeString(enc)
}

// TransitKey is one version of a Transit key as a crypto.Signer, for code
// that signs one payload at a time through jwx (jws.Sign with
// jws.WithKey(alg, key)). Every Sign is one Vault call; the gateway's own
// path batches instead (VaultSigner).
//
// crypto.Signer has no context: Context bounds each call and defaults to a
// background context with the Vault client's timeout.
type TransitKey struct {
	Context context.Context

	t       *transit
	version int
	public  crypto.PublicKey
}

// TransitKey returns the version that signs now as a crypto.Signer, and its
// kid. It fails when the signer is not in transit mode.
func (s *VaultSigner) TransitKey(ctx context.Context) (*TransitKey, string, error) {
	t, ok := s.b.(*transit)
	if !ok {
		return nil, "", errors.New("not a transit signer")
	}
	st, err := s.state(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return &TransitKey{Context: ctx, t: t, version: st.current.version, public: st.current.public}, s.kid(st.current.version), nil
}

// Public returns the version's public key.
func (k *TransitKey) Public() crypto.PublicKey { return k.public }

// Sign signs in Vault. For Ed25519, opts.HashFunc() must be 0 and msg is the
// whole message; for ECDSA it must be SHA-256 and msg the digest; the
// signature is ASN.1 DER, as crypto.Signer promises.
func (k *TransitKey) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	req := transitSignRequest{KeyVersion: k.version, Input: base64.StdEncoding.EncodeToString(msg)}
	switch k.t.alg {
	case jwa.EdDSA:
		if opts.HashFunc() != 0 {
			return nil, errors.New("ed25519: pre-hashed messages are not supported")
		}
	case jwa.ES256:
		if opts.HashFunc() != crypto.SHA256 || len(msg) != sha256.Size {
			return nil, errors.New("ecdsa-p256: want a SHA-256 digest")
		}
		req.Prehashed, req.HashAlgorithm, req.MarshalingAlgorithm = true, "sha2-256", "asn1"
	}
	ctx := k.Context
	if ctx == nil {
		ctx = context.Background()
	}
	var resp transitSignResponse
	err := vaultDo(ctx, k.t.c, http.MethodPost, k.t.mount+"/sign/"+k.t.key, nil, req, &resp)
	k.t.m.vault("transit_sign", err)
	if err != nil {
		return nil, fmt.Errorf("%w: vault transit sign %s: %w", ErrUnavailable, k.t.key, err)
	}
	return k.t.decode(resp.transitSignResult, k.version, "asn1")
}
