package config

import (
	"strings"
	"testing"
)

// TestSignProof: sign.proof defaults to chunk, takes chunk or jws, and
// refuses anything else naming the field.
func TestSignProof(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want string // the proof in force, or "" when refused
	}{
		{"", ProofChunk},
		{"sign:\n  proof: chunk\n", ProofChunk},
		{"sign:\n  proof: jws\n", ProofJWS},
		{"sign:\n  proof: merkle\n", ""},
		{"sign:\n  proof: JWS\n", ""},
		{"sign:\n  proof: \"\"\n", ""},
	} {
		cfg, err := Parse([]byte(tc.yaml), "")
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.Validate()
		refused := err != nil && strings.Contains(err.Error(), "sign.proof: must be chunk")
		switch {
		case tc.want == "" && !refused:
			t.Errorf("%q: not refused by sign.proof: %v", tc.yaml, err)
		case tc.want != "" && (refused || cfg.Sign.Proof != tc.want):
			t.Errorf("%q: proof %q, refused %v", tc.yaml, cfg.Sign.Proof, refused)
		}
	}
}
