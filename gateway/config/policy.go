package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Policy configures the OPA policy evaluated for every record. Without dir
// or bundle the policy embedded in the binary decides.
type Policy struct {
	// Dir is a directory of Rego modules and data.json that replaces the
	// embedded policy. It is trusted as it is: protect it like the binary.
	Dir string `yaml:"dir"`
	// Bundle is an OPA bundle tarball signed per OPA's bundle signing; it is
	// verified with VerificationKey and refused when the signature is
	// missing or wrong.
	Bundle string `yaml:"bundle"`
	// VerificationKey is a PEM public key (or certificate) file.
	VerificationKey string `yaml:"verification_key"`
	// VerificationKeyID is the key id a bundle signature names, or is
	// assumed to name when it names none.
	VerificationKeyID string `yaml:"verification_key_id"`
	// VerificationAlgorithm is the JWS algorithm of the bundle signature;
	// empty takes it from the key (RSA RS256, P-256 ES256, P-384 ES384,
	// P-521 ES512, Ed25519 EdDSA).
	VerificationAlgorithm string `yaml:"verification_algorithm"`
	// Timeout bounds one evaluation; past it the record is denied.
	Timeout time.Duration `yaml:"timeout"`
	// ReloadInterval is how often dir, bundle and the shadow are polled for
	// changes.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	Shadow         PolicyShadow  `yaml:"shadow"`
	PolicyRemote   `yaml:",inline"`
}

// PolicyShadow is a candidate policy evaluated beside the active one on the
// same inputs. Its answers are compared and recorded, never used.
type PolicyShadow struct {
	Dir    string `yaml:"dir"`
	Bundle string `yaml:"bundle"`
	// Keep is how many divergences are kept in memory for the console.
	Keep int `yaml:"keep"`
}

// Configured reports whether a shadow policy is set.
func (s *PolicyShadow) Configured() bool { return s.Dir != "" || s.Bundle != "" }

// PolicyAlgorithms are the bundle signature algorithms accepted.
var PolicyAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func defaultPolicy() Policy {
	return Policy{
		VerificationKeyID: "ura",
		Timeout:           50 * time.Millisecond,
		ReloadInterval:    2 * time.Second,
		Shadow:            PolicyShadow{Keep: 1000},
	}
}

func (p *Policy) validate(v *validator, resolve func(string) string) {
	if p.Dir != "" && p.Bundle != "" {
		v.add("bundle", "set dir or bundle, not both")
	}
	v.dir("dir", resolve(p.Dir))
	v.file("bundle", resolve(p.Bundle), false)
	if p.Shadow.Dir != "" && p.Shadow.Bundle != "" {
		v.add("shadow.bundle", "set shadow.dir or shadow.bundle, not both")
	}
	v.dir("shadow.dir", resolve(p.Shadow.Dir))
	v.file("shadow.bundle", resolve(p.Shadow.Bundle), false)
	if p.Shadow.Keep < 1 {
		v.add("shadow.keep", "must be at least 1")
	}
	signed := p.Bundle != "" || p.Shadow.Bundle != ""
	switch {
	case p.VerificationKey == "" && signed:
		v.add("verification_key", "must be set to verify policy bundles")
	case p.VerificationKey != "":
		if _, err := p.LoadVerificationKey(resolve); err != nil {
			v.add("verification_key", "%v", err)
		}
	}
	if strings.TrimSpace(p.VerificationKeyID) == "" {
		v.add("verification_key_id", "must not be empty")
	}
	if p.VerificationAlgorithm != "" && !slices.Contains(PolicyAlgorithms, p.VerificationAlgorithm) {
		v.add("verification_algorithm", "must be one of %s; got %q", strings.Join(PolicyAlgorithms, ", "), p.VerificationAlgorithm)
	}
	v.positive("timeout", p.Timeout)
	if p.Timeout > 10*time.Second {
		v.add("timeout", "must be at most 10s: a policy that slow holds every request")
	}
	v.positive("reload_interval", p.ReloadInterval)
	p.PolicyRemote.validate(v, p)
}

func (v *validator) dir(field, path string) {
	if path == "" {
		return
	}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		v.add(field, "cannot read %s: %v", path, unwrapPathError(err))
	case !st.IsDir():
		v.add(field, "%s is not a directory", path)
	}
}

// VerificationKeyPEM is the bundle verification key as read from disk, with
// the signature algorithm it is used with.
type VerificationKeyPEM struct {
	PEM       string
	Algorithm string
}

// LoadVerificationKey reads and checks the bundle verification key.
func (p *Policy) LoadVerificationKey(resolve func(string) string) (VerificationKeyPEM, error) {
	raw, err := os.ReadFile(resolve(p.VerificationKey))
	if err != nil {
		return VerificationKeyPEM{}, fmt.Errorf("cannot read %s: %v", p.VerificationKey, unwrapPathError(err))
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return VerificationKeyPEM{}, errors.New("not a PEM file")
	}
	var pub any
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = c.PublicKey
		}
	default:
		return VerificationKeyPEM{}, fmt.Errorf("PEM block %q is not a public key or certificate", block.Type)
	}
	if err != nil {
		return VerificationKeyPEM{}, fmt.Errorf("parse public key: %v", err)
	}
	alg := p.VerificationAlgorithm
	if alg == "" {
		switch k := pub.(type) {
		case *rsa.PublicKey:
			alg = "RS256"
		case *ecdsa.PublicKey:
			switch k.Curve {
			case elliptic.P256():
				alg = "ES256"
			case elliptic.P384():
				alg = "ES384"
			case elliptic.P521():
				alg = "ES512"
			}
		case ed25519.PublicKey:
			alg = "EdDSA"
		}
		if alg == "" {
			return VerificationKeyPEM{}, fmt.Errorf("unsupported key type %T", pub)
		}
	}
	return VerificationKeyPEM{PEM: string(pem.EncodeToMemory(block)), Algorithm: alg}, nil
}
