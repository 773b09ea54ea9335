// Package audittest holds what tests of audit stores and their users share:
// the contract suite every audit.Store must pass, a local signer, and
// realistic events.
package audittest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/ura-gateway/ura/gateway/sign"
)

// Signer is a sign.Signer over a local Ed25519 key, for unit tests; the
// gateway signs with keys held in Vault.
type Signer struct {
	key  jwk.Key
	keys jwk.Set
	// Fail makes Sign fail, as a sealed Vault would.
	Fail atomic.Bool
	// Calls counts Sign calls.
	Calls atomic.Int64
}

var _ sign.Signer = (*Signer)(nil)

// NewSigner makes a signer with a fresh key named kid.
func NewSigner(t testing.TB, kid string) *Signer {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	return NewSignerFromSeed(t, kid, seed)
}

// NewSignerFromSeed makes a signer whose key derives from a 32-byte seed, so
// that a test and the process it starts sign with the same key.
func NewSignerFromSeed(t testing.TB, kid string, seed []byte) *Signer {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(seed)
	key, err := jwk.FromRaw(priv)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(key.Set(jwk.KeyIDKey, kid))
	must(key.Set(jwk.AlgorithmKey, jwa.EdDSA))
	pub, err := key.PublicKey()
	must(err)
	set := jwk.NewSet()
	must(set.AddKey(pub))
	return &Signer{key: key, keys: set}
}

// Sign implements sign.Signer.
func (s *Signer) Sign(ctx context.Context, payloads [][]byte) ([]string, error) {
	return s.SignTyped(ctx, sign.TypDelivery, payloads)
}

// SignTyped implements sign.Signer.
func (s *Signer) SignTyped(ctx context.Context, typ string, payloads [][]byte) ([]string, error) {
	return s.SignLabelled(ctx, typ, payloads, nil)
}

// SignLabelled implements sign.Signer.
func (s *Signer) SignLabelled(_ context.Context, typ string, payloads [][]byte, labels []json.RawMessage) ([]string, error) {
	s.Calls.Add(1)
	if s.Fail.Load() {
		return nil, errors.New("signer unavailable")
	}
	out := make([]string, len(payloads))
	for i, p := range payloads {
		hdr := jws.NewHeaders()
		if typ != "" {
			if err := hdr.Set(jws.TypeKey, typ); err != nil {
				return nil, err
			}
		}
		if i < len(labels) && labels[i] != nil {
			var label any
			if err := json.Unmarshal(labels[i], &label); err != nil {
				return nil, err
			}
			if err := hdr.Set(sign.HeaderLabel, label); err != nil {
				return nil, err
			}
		}
		sig, err := jws.Sign(p, jws.WithKey(jwa.EdDSA, s.key, jws.WithProtectedHeaders(hdr)))
		if err != nil {
			return nil, err
		}
		out[i] = string(sig)
	}
	return out, nil
}

// Keys implements sign.Signer.
func (s *Signer) Keys(context.Context) (jwk.Set, error) { return s.keys, nil }

// KeySet is the public key set, as /.well-known/jwks.json would serve it.
func (s *Signer) KeySet() jwk.Set { return s.keys }
