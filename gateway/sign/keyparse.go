package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// parsePublicKey reads a Transit public key: base64 for Ed25519, PEM (PKIX)
// for ECDSA.
func parsePublicKey(s string) (crypto.PublicKey, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN") {
		block, _ := pem.Decode([]byte(s))
		if block == nil {
			return nil, errors.New("public key: bad PEM")
		}
		return x509.ParsePKIXPublicKey(block.Bytes)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key: %d bytes, want an Ed25519 key of %d", len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// parsePrivateKey reads a key stored in KV: PKCS#8 PEM ("PRIVATE KEY"), SEC 1
// PEM ("EC PRIVATE KEY") or a private JWK.
func parsePrivateKey(s string) (crypto.Signer, error) {
	s = strings.TrimSpace(s)
	var key any
	switch {
	case strings.HasPrefix(s, "{"):
		k, err := jwk.ParseKey([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("private key JWK: %w", err)
		}
		if err := k.Raw(&key); err != nil {
			return nil, fmt.Errorf("private key JWK: %w", err)
		}
	case strings.HasPrefix(s, "-----BEGIN"):
		block, _ := pem.Decode([]byte(s))
		if block == nil {
			return nil, errors.New("private key: bad PEM")
		}
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			err = fmt.Errorf("PEM block %q, want PRIVATE KEY", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("private key: %w", err)
		}
	default:
		return nil, errors.New("private key: neither PEM nor JWK")
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *ed25519.PrivateKey:
		return *k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("private key: curve %s, want P-256", k.Curve.Params().Name)
		}
		return k, nil
	}
	return nil, fmt.Errorf("private key: %T is neither Ed25519 nor ECDSA P-256", key)
}

// signLocal makes one raw JWS signature with a key held in memory.
func signLocal(key crypto.Signer, input []byte) ([]byte, error) {
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(k, input), nil
	case *ecdsa.PrivateKey:
		digest := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	}
	return nil, fmt.Errorf("cannot sign with %T", key)
}

// verifyES256 checks a JWS ES256 signature (r||s, 32 bytes each).
func verifyES256(pub *ecdsa.PublicKey, input, sig []byte) bool {
	digest := sha256.Sum256(input)
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, digest[:], r, s)
}
