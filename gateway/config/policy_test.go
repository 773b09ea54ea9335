package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writePublicKey(t *testing.T, dir, name string, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPolicyValidate(t *testing.T) {
	dir := t.TempDir()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsaPath := writePublicKey(t, dir, "rsa.pem", &rsaKey.PublicKey)
	ecPath := writePublicKey(t, dir, "ec.pem", &ecKey.PublicKey)
	edPath := writePublicKey(t, dir, "ed.pem", edPub)
	notPEM := filepath.Join(dir, "key.txt")
	_ = os.WriteFile(notPEM, []byte("not a key"), 0o600)
	privPath := filepath.Join(dir, "private.pem")
	privDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	_ = os.WriteFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600)
	bundlePath := filepath.Join(dir, "ura.tar.gz")
	_ = os.WriteFile(bundlePath, []byte("tarball"), 0o600)

	with := func(edit func(*Policy)) Policy {
		p := defaultPolicy()
		edit(&p)
		return p
	}
	tests := []struct {
		name string
		p    Policy
		want []string // "path: message prefix"
	}{
		{name: "defaults: the embedded policy", p: defaultPolicy()},
		{name: "directory", p: with(func(p *Policy) { p.Dir = dir })},
		{name: "signed bundle", p: with(func(p *Policy) { p.Bundle, p.VerificationKey = bundlePath, rsaPath })},
		{name: "shadow directory beside a bundle", p: with(func(p *Policy) {
			p.Bundle, p.VerificationKey, p.Shadow.Dir = bundlePath, ecPath, dir
		})},
		{name: "dir and bundle", p: with(func(p *Policy) { p.Dir, p.Bundle, p.VerificationKey = dir, bundlePath, rsaPath }),
			want: []string{"policy.bundle: set dir or bundle, not both"}},
		{name: "bundle without a key", p: with(func(p *Policy) { p.Bundle = bundlePath }),
			want: []string{"policy.verification_key: must be set"}},
		{name: "shadow bundle without a key", p: with(func(p *Policy) { p.Shadow.Bundle = bundlePath }),
			want: []string{"policy.verification_key: must be set"}},
		{name: "missing directory", p: with(func(p *Policy) { p.Dir = filepath.Join(dir, "nope") }),
			want: []string{"policy.dir: cannot read"}},
		{name: "directory is a file", p: with(func(p *Policy) { p.Dir = bundlePath }),
			want: []string{"policy.dir: " + bundlePath + " is not a directory"}},
		{name: "missing bundle", p: with(func(p *Policy) { p.Bundle, p.VerificationKey = filepath.Join(dir, "nope.tar.gz"), rsaPath }),
			want: []string{"policy.bundle: cannot read"}},
		{name: "key not PEM", p: with(func(p *Policy) { p.Bundle, p.VerificationKey = bundlePath, notPEM }),
			want: []string{"policy.verification_key: not a PEM file"}},
		{name: "private key given as verification key", p: with(func(p *Policy) { p.Bundle, p.VerificationKey = bundlePath, privPath }),
			want: []string{`policy.verification_key: PEM block "PRIVATE KEY" is not a public key`}},
		{name: "unknown algorithm", p: with(func(p *Policy) { p.VerificationKey, p.VerificationAlgorithm = rsaPath, "HS256" }),
			want: []string{"policy.verification_algorithm: must be one of"}},
		{name: "empty key id", p: with(func(p *Policy) { p.VerificationKeyID = " " }),
			want: []string{"policy.verification_key_id: must not be empty"}},
		{name: "both shadows", p: with(func(p *Policy) { p.Shadow.Dir, p.Shadow.Bundle, p.VerificationKey = dir, bundlePath, edPath }),
			want: []string{"policy.shadow.bundle: set shadow.dir or shadow.bundle"}},
		{name: "no timeout", p: with(func(p *Policy) { p.Timeout = 0 }),
			want: []string{"policy.timeout: must be a positive duration"}},
		{name: "timeout too long", p: with(func(p *Policy) { p.Timeout = time.Minute }),
			want: []string{"policy.timeout: must be at most 10s"}},
		{name: "no reload interval", p: with(func(p *Policy) { p.ReloadInterval = 0 }),
			want: []string{"policy.reload_interval: must be a positive duration"}},
		{name: "keep nothing", p: with(func(p *Policy) { p.Shadow.Keep = 0 }),
			want: []string{"policy.shadow.keep: must be at least 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &validator{}
			tt.p.validate(v.at("policy"), func(s string) string { return s })
			var got []string
			if v.errs != nil {
				for _, e := range *v.errs {
					got = append(got, e.Error())
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("errors = %q, want %q", got, tt.want)
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
					t.Fatalf("errors = %q, want one starting %q", got, w)
				}
			}
		})
	}
}

func TestPolicyVerificationAlgorithmFromKey(t *testing.T) {
	dir := t.TempDir()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	for path, want := range map[string]string{
		writePublicKey(t, dir, "rsa.pem", &rsaKey.PublicKey): "RS256",
		writePublicKey(t, dir, "p384.pem", &p384.PublicKey):  "ES384",
		writePublicKey(t, dir, "ed.pem", edPub):              "EdDSA",
	} {
		p := Policy{VerificationKey: path}
		k, err := p.LoadVerificationKey(func(s string) string { return s })
		if err != nil || k.Algorithm != want || !strings.Contains(k.PEM, "PUBLIC KEY") {
			t.Errorf("%s: %+v %v, want %s", filepath.Base(path), k.Algorithm, err, want)
		}
	}
	p := Policy{VerificationKey: writePublicKey(t, dir, "rsa2.pem", &rsaKey.PublicKey), VerificationAlgorithm: "PS256"}
	if k, err := p.LoadVerificationKey(func(s string) string { return s }); err != nil || k.Algorithm != "PS256" {
		t.Errorf("explicit algorithm: %+v %v", k, err)
	}
}

// The section parses from YAML with relative paths resolved against the
// configuration file.
func TestPolicyYAML(t *testing.T) {
	cfg, err := Parse([]byte("policy:\n  dir: policies\n  timeout: 20ms\n  shadow:\n    keep: 5\n"), "/etc/ura")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.Dir != "policies" || cfg.Policy.Timeout != 20*time.Millisecond || cfg.Policy.Shadow.Keep != 5 ||
		cfg.Policy.ReloadInterval != 2*time.Second || cfg.Path(cfg.Policy.Dir) != "/etc/ura/policies" {
		t.Errorf("policy section %+v", cfg.Policy)
	}
	if _, err := Parse([]byte("policy:\n  shadow_dir: x\n"), "."); err == nil || !strings.Contains(err.Error(), "shadow_dir") {
		t.Errorf("a misspelt key was accepted: %v", err)
	}
}
