package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
)

func exportOf(t *testing.T, dir string) []byte {
	t.Helper()
	st, err := audit.OpenFileStore(dir, audit.FileOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var buf bytes.Buffer
	if err := audit.Export(context.Background(), st, &buf, 1); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestVerifyExport(t *testing.T) {
	dir, signer := writeLog(t, 40, 1<<20)
	exp := exportOf(t, dir)
	keys := audit.VerifyOptions{Keys: signer.KeySet()}
	rep, err := audit.VerifyExport(bytes.NewReader(exp), keys)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != 40 || rep.Checkpoints != 4 || !rep.Signed {
		t.Fatalf("report %+v", rep)
	}
	lines := bytes.SplitAfter(exp, []byte("\n"))
	cases := []struct {
		name string
		edit func([][]byte) [][]byte
		want string
	}{
		{"event modified", func(l [][]byte) [][]byte {
			l[3] = bytes.Replace(l[3], []byte(`"request_id":"req-`), []byte(`"request_id":"REQ-`), 1)
			return l
		}, "seq 4: hash mismatch"},
		{"tail and its checkpoints cut", func(l [][]byte) [][]byte { return l[:20] }, ""},
		{"checkpoint moved before its event", func(l [][]byte) [][]byte {
			// line 9 is event 10, line 10 its checkpoint; swap them.
			l[9], l[10] = l[10], l[9]
			return l
		}, ""},
		{"checkpoint from another log", func(l [][]byte) [][]byte {
			other, _ := writeLog(t, 10, 1<<20)
			o := bytes.SplitAfter(exportOf(t, other), []byte("\n"))
			l[11] = o[10]
			return l
		}, "bad signature"},
		{"checkpoint after a later event", func(l [][]byte) [][]byte {
			l[10], l[11] = l[11], l[10]
			return l
		}, "appears after seq 11"},
		{"garbage line", func(l [][]byte) [][]byte { l[5] = []byte("{}\n"); return l }, "seq 6"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.edit(append([][]byte{}, lines...))
			_, err := audit.VerifyExport(bytes.NewReader(bytes.Join(l, nil)), keys)
			if tc.name == "tail and its checkpoints cut" {
				// Without checkpoints from elsewhere, a cut that also drops
				// the checkpoints is only caught by a published checkpoint.
				cps := checkpointsOf(t, dir)
				_, err = audit.VerifyExport(bytes.NewReader(bytes.Join(l, nil)), audit.VerifyOptions{Keys: signer.KeySet(), Checkpoints: cps})
				if err == nil || !strings.Contains(err.Error(), "truncated") {
					t.Fatalf("cut export with published checkpoints: %v", err)
				}
				return
			}
			if tc.name == "checkpoint moved before its event" {
				// Early checkpoints are held until the chain gets there.
				if err != nil {
					t.Fatalf("a checkpoint before its event: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want …%s…", err, tc.want)
			}
		})
	}
}

func checkpointsOf(t *testing.T, dir string) []audit.SignedCheckpoint {
	st, err := audit.OpenFileStore(dir, audit.FileOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cps, err := st.Checkpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cps
}

func TestVerifyWithoutKeysSaysSo(t *testing.T) {
	dir, _ := writeLog(t, 20, 1<<20)
	rep, err := audit.VerifyExport(bytes.NewReader(exportOf(t, dir)), audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Signed || rep.Checkpoints != 2 {
		t.Fatalf("%+v", rep)
	}
	// A wrong key set rejects the checkpoints.
	other := audittest.NewSigner(t, "test-key-1")
	if _, err := audit.VerifyExport(bytes.NewReader(exportOf(t, dir)), audit.VerifyOptions{Keys: other.KeySet()}); err == nil {
		t.Fatal("checkpoints verified with someone else's key")
	}
}

// TestProofs: a proof verifies, and every way of bending it fails.
func TestProofs(t *testing.T) {
	dir, signer := writeLog(t, 30, 1<<20)
	st, err := audit.OpenFileStore(dir, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.Open(context.Background(), audit.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := c.Proof(context.Background(), 13)
	if err != nil {
		t.Fatal(err)
	}
	if p.Checkpoint.Count != 20 || len(p.Following) != 7 {
		t.Fatalf("proof of 13: checkpoint %d, %d following", p.Checkpoint.Count, len(p.Following))
	}
	if err := audit.VerifyProof(p, signer.KeySet()); err != nil {
		t.Fatal(err)
	}
	other, _ := c.Proof(context.Background(), 25)
	bend := map[string]func(p *audit.Proof){
		"event changed": func(p *audit.Proof) { p.Event.Decision = audit.DecisionAllow },
		"event and hash changed": func(p *audit.Proof) {
			p.Event.Decision = audit.DecisionAllow
			c, _ := audit.Canonical(p.Event)
			p.Event.Hash = audit.HashBytes(c)
		},
		"following dropped":      func(p *audit.Proof) { p.Following = p.Following[1:] },
		"following changed":      func(p *audit.Proof) { p.Following[2] = strings.Replace(p.Following[2], `"status":`, `"status":1`, 1) },
		"following reordered":    func(p *audit.Proof) { p.Following[0], p.Following[1] = p.Following[1], p.Following[0] },
		"other checkpoint":       func(p *audit.Proof) { p.Checkpoint = other.Checkpoint },
		"checkpoint head edited": func(p *audit.Proof) { cp := *p.Checkpoint; cp.HeadHash = strings.Repeat("a", 64); p.Checkpoint = &cp },
		"no checkpoint":          func(p *audit.Proof) { p.Checkpoint = nil },
	}
	for name, f := range bend {
		t.Run(name, func(t *testing.T) {
			q, _ := c.Proof(context.Background(), 13)
			f(q)
			if err := audit.VerifyProof(q, signer.KeySet()); err == nil {
				t.Fatal("bent proof verified")
			}
		})
	}
	if _, err := c.Proof(context.Background(), 31); !errors.Is(err, audit.ErrNotFound) {
		t.Fatalf("proof of a missing seq: %v", err)
	}
}

// FuzzVerifyExport: an export is outside input; the verifier must never
// panic and must never accept a changed export of a signed log.
func FuzzVerifyExport(f *testing.F) {
	f.Add([]byte(`{"checkpoint":{"count":1,"head_hash":"00","jws":"x","time":"2026-01-01T00:00:00Z","type":"urn:ura:audit:checkpoint"}}` + "\n"))
	f.Add([]byte(`{"action":"push"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = audit.VerifyExport(bytes.NewReader(data), audit.VerifyOptions{})
	})
}

// TestCheckpointTypConfusion: a signature the gateway made for something
// else (a delivered record) over checkpoint-shaped bytes is not a checkpoint.
func TestCheckpointTypConfusion(t *testing.T) {
	signer := audittest.NewSigner(t, "k1")
	ctx := context.Background()
	head := audit.Head{Count: 5, Hash: strings.Repeat("ab", 32)}
	good, err := audit.SignCheckpoint(ctx, signer, head, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.VerifyCheckpoint(good, signer.KeySet()); err != nil {
		t.Fatalf("genuine checkpoint: %v", err)
	}
	inner, _ := json.Marshal(good.Checkpoint)
	sigs, err := signer.SignTyped(ctx, "ura-delivery+jws", [][]byte{inner})
	if err != nil {
		t.Fatal(err)
	}
	forged := good
	forged.JWS = sigs[0]
	if _, err := audit.VerifyCheckpoint(forged, signer.KeySet()); err == nil || !strings.Contains(err.Error(), "not as a checkpoint") {
		t.Fatalf("delivery signature accepted as a checkpoint: %v", err)
	}
	// Signed payload of another type.
	other := good.Checkpoint
	other.Type = "urn:ura:something-else"
	raw, _ := json.Marshal(other)
	sigs, _ = signer.SignTyped(ctx, audit.CheckpointTyp, [][]byte{raw})
	forged.JWS = sigs[0]
	if _, err := audit.VerifyCheckpoint(forged, signer.KeySet()); err == nil {
		t.Fatal("a payload of another type accepted as a checkpoint")
	}
	// Outer fields that differ from the signed ones.
	lie := good
	lie.Count = 6
	if _, err := audit.VerifyCheckpoint(lie, signer.KeySet()); err == nil {
		t.Fatal("checkpoint fields differing from the signed payload accepted")
	}
}
