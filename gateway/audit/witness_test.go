package audit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/sign"
)

// TestCheckWitness: the comparison of a log with its off-host checkpoint.
func TestCheckWitness(t *testing.T) {
	hashes := map[int64]string{}
	for i := int64(1); i <= 20; i++ {
		hashes[i] = strings.Repeat(string(rune('a'+i%16)), 64)
	}
	hashAt := func(_ context.Context, seq int64) (string, error) {
		h, ok := hashes[seq]
		if !ok {
			return "", audit.ErrNotFound
		}
		return h, nil
	}
	head := audit.Head{Count: 20, Hash: hashes[20]}
	cp := func(count int64, hash string) *audit.SignedCheckpoint {
		return &audit.SignedCheckpoint{Checkpoint: audit.Checkpoint{Type: audit.CheckpointType, Count: count, HeadHash: hash, Time: t0}}
	}
	cases := []struct {
		name     string
		cp       *audit.SignedCheckpoint
		rollback bool
		diverged bool
	}{
		{"no off-host checkpoint yet", nil, false, false},
		{"equal", cp(20, hashes[20]), false, false},
		{"ahead: events since the checkpoint", cp(12, hashes[12]), false, false},
		{"behind: events removed", cp(25, strings.Repeat("f", 64)), true, false},
		{"behind by one", cp(21, strings.Repeat("f", 64)), true, false},
		{"diverged at the head", cp(20, strings.Repeat("0", 64)), true, true},
		{"diverged before the head", cp(12, hashes[13]), true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := audit.CheckWitness(context.Background(), "kv test", head, tc.cp, hashAt)
			var rb *audit.RollbackError
			if got := errors.As(err, &rb); got != tc.rollback {
				t.Fatalf("rollback = %v, want %v (%v)", got, tc.rollback, err)
			}
			if !tc.rollback {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if rb.Diverged != tc.diverged || rb.Checkpoint.Count != tc.cp.Count || rb.Head != head {
				t.Fatalf("rollback error %+v", rb)
			}
			if !strings.Contains(err.Error(), "rolled back") || !strings.Contains(err.Error(), "kv test") ||
				!strings.Contains(rb.Remedy(), "ura audit verify") {
				t.Fatalf("message does not say what and where: %v / %s", err, rb.Remedy())
			}
		})
	}
	t.Run("unreadable event", func(t *testing.T) {
		err := audit.CheckWitness(context.Background(), "kv test", audit.Head{Count: 30, Hash: "x"}, cp(25, "y"), hashAt)
		var rb *audit.RollbackError
		if err == nil || errors.As(err, &rb) || !errors.Is(err, audit.ErrNotFound) {
			t.Fatalf("got %v", err)
		}
	})
}

// witnessedLog writes n events to a file store in dir with a checkpoint
// after every 10, each copied to w, and closes it.
func witnessedLog(t *testing.T, dir string, w audit.Witness, n int) {
	t.Helper()
	witnessedLogAt(t, dir, w, n, t0)
}

func witnessedLogAt(t *testing.T, dir string, w audit.Witness, n int, start time.Time) {
	t.Helper()
	ctx := context.Background()
	st, err := audit.OpenFileStore(dir, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.Open(ctx, audit.Options{Store: st, Signer: audittest.NewSigner(t, "audit-witness/1"), Witness: w,
		CheckpointEvery: 1 << 40, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	evs := audittest.Events(n, start)
	for i := 0; i < n; i += 10 {
		if err := c.Append(ctx, evs[i:min(i+10, n)]...); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func openWitnessed(t *testing.T, dir string, w audit.Witness, optional bool) (*audit.Chain, error) {
	t.Helper()
	st, err := audit.OpenFileStore(dir, audit.FileOptions{})
	if err != nil {
		return nil, err
	}
	c, err := audit.Open(context.Background(), audit.Options{Store: st, Witness: w, WitnessOptional: optional,
		Signer: audittest.NewSigner(t, "audit-witness/1"), CheckpointEvery: 1 << 40, CheckpointInterval: time.Hour})
	if err != nil {
		_ = st.Close()
	}
	return c, err
}

// TestOpenRefusesRollback: a log cut back behind the checkpoint its witness
// holds does not open, although its own checkpoints match it; the same log
// uncut does.
func TestOpenRefusesRollback(t *testing.T) {
	cases := []struct {
		name string
		keep int64
	}{
		{"last checkpoint and its events removed", 90},
		{"last 5 checkpoints and 45 events removed", 55},
		{"everything removed", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := &audittest.Witness{}
			witnessedLog(t, dir, w, 100)
			if cp, _, _ := w.Latest(context.Background()); cp == nil || cp.Count != 100 {
				t.Fatalf("witness holds %+v, want the checkpoint at 100", cp)
			}
			audittest.RollBackFileLog(t, dir, tc.keep)
			// The log on its own is consistent: only the witness tells.
			st, err := audit.OpenFileStore(dir, audit.FileOptions{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := audit.VerifyStore(context.Background(), st, audit.VerifyOptions{}); err != nil {
				t.Fatalf("the cut log should verify on its own: %v", err)
			}
			_ = st.Close()

			_, err = openWitnessed(t, dir, w, false)
			var rb *audit.RollbackError
			if !errors.As(err, &rb) || rb.Diverged || rb.Head.Count != tc.keep || rb.Checkpoint.Count != 100 {
				t.Fatalf("open after a rollback to %d: %v", tc.keep, err)
			}
			for _, want := range []string{"refusing to open", "What to do", "restore the log"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message lacks %q: %v", want, err)
				}
			}
			// WitnessOptional is about an unreachable witness, never about
			// a rollback.
			if _, err := openWitnessed(t, dir, w, true); !errors.As(err, &rb) {
				t.Fatalf("optional witness let a rolled-back log open: %v", err)
			}
		})
	}
	t.Run("intact", func(t *testing.T) {
		dir := t.TempDir()
		w := &audittest.Witness{}
		witnessedLog(t, dir, w, 100)
		c, err := openWitnessed(t, dir, w, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Append(context.Background(), audittest.Events(5, t0)...); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		if cp, _, _ := w.Latest(context.Background()); cp == nil || cp.Count != 105 {
			t.Fatalf("witness holds %+v, want 105", cp)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestOpenRefusesRewrittenLog: a log rebuilt with other events up to the
// same length and freshly signed checkpoints still does not match.
func TestOpenRefusesRewrittenLog(t *testing.T) {
	dir := t.TempDir()
	w := &audittest.Witness{}
	witnessedLog(t, dir, w, 50)
	// Another log of the same length, events at other times: other hashes.
	other := t.TempDir()
	witnessedLogAt(t, other, &audittest.Witness{}, 50, t0.Add(time.Hour))
	_, err := openWitnessed(t, other, w, false)
	var rb *audit.RollbackError
	if !errors.As(err, &rb) || !rb.Diverged {
		t.Fatalf("open: %v", err)
	}
}

// TestWitnessUnreachable: fail closed by default; with WitnessOptional the
// log opens and is compared at its next checkpoint, which fails the log if
// it was rolled back meanwhile.
func TestWitnessUnreachable(t *testing.T) {
	dir := t.TempDir()
	w := &audittest.Witness{}
	witnessedLog(t, dir, w, 40)
	w.SetErr(errors.New("connection refused"))
	_, err := openWitnessed(t, dir, w, false)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "unreachable: start") {
		t.Fatalf("open with the witness down: %v", err)
	}

	t.Run("optional, intact", func(t *testing.T) {
		c, err := openWitnessed(t, dir, w, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Append(context.Background(), audittest.Events(3, t0)...); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Checkpoint(context.Background()); err == nil {
			t.Fatal("a checkpoint that could not reach the witness reported success")
		}
		w.SetErr(nil)
		if _, err := c.Checkpoint(context.Background()); err != nil {
			t.Fatalf("retry once the witness is back: %v", err)
		}
		if cp, _, _ := w.Latest(context.Background()); cp == nil || cp.Count != 43 {
			t.Fatalf("witness holds %+v, want 43", cp)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("optional, rolled back", func(t *testing.T) {
		audittest.RollBackFileLog(t, dir, 20)
		w.SetErr(errors.New("connection refused"))
		c, err := openWitnessed(t, dir, w, true)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// The open asked for a checkpoint run, which compares the log as
		// soon as the witness answers; so does an explicit checkpoint.
		w.SetErr(nil)
		_, err = c.Checkpoint(context.Background())
		var rb *audit.RollbackError
		if !errors.As(err, &rb) || !errors.Is(err, audit.ErrUnavailable) {
			t.Fatalf("checkpoint after a rollback: %v", err)
		}
		if err := c.Append(context.Background(), audittest.Events(1, t0)...); !errors.Is(err, audit.ErrUnavailable) {
			t.Fatalf("append after the rollback was found: %v", err)
		}
		if err := c.Check(context.Background()); err == nil {
			t.Fatal("readiness still OK")
		}
	})
}

// TestWitnessCatchesUp: a checkpoint stored locally but not off the host
// (the gateway stopped in between) is copied after the next open.
func TestWitnessCatchesUp(t *testing.T) {
	dir := t.TempDir()
	w := &audittest.Witness{}
	witnessedLog(t, dir, nil, 30)
	c, err := openWitnessed(t, dir, w, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cp, _, _ := w.Latest(context.Background()); cp == nil || cp.Count != 30 || w.Puts() != 1 {
		t.Fatalf("witness holds %+v after %d puts, want 30 after 1", cp, w.Puts())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWitnessMovedRetries: a compare-and-set that loses reads again and
// checks what it finds.
func TestWitnessMovedRetries(t *testing.T) {
	dir := t.TempDir()
	w := &audittest.Witness{}
	witnessedLog(t, dir, w, 20)
	c, err := openWitnessed(t, dir, w, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Another writer stores the same checkpoint again: a new version.
	cp, _, _ := w.Latest(context.Background())
	w.Set(*cp)
	if err := c.Append(context.Background(), audittest.Events(2, t0)...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := w.Latest(context.Background()); got.Count != 22 {
		t.Fatalf("witness at %d, want 22", got.Count)
	}
}

// TestVaultKVWire: VaultKV against a fake KV v2 API: empty, forward with
// check-and-set, a lost race, a deleted current version.
func TestVaultKVWire(t *testing.T) {
	fake := audittest.NewFakeVaultKV(t)
	vc := config.Default().Vault
	vc.Addr, vc.Token, vc.MaxRetries = fake.URL, "test-token", 0
	client, err := sign.NewVaultClient(vc, func(s string) string { return s })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w := audit.NewVaultKV(client, "kv", "ura-audit/checkpoints/gw1")
	if cp, ver, err := w.Latest(ctx); cp != nil || ver != 0 || err != nil {
		t.Fatalf("empty: %+v %d %v", cp, ver, err)
	}
	dir := t.TempDir()
	witnessedLog(t, dir, w, 30)
	cp, ver, err := w.Latest(ctx)
	if err != nil || cp == nil || cp.Count != 30 || ver != 3 || cp.JWS == "" {
		t.Fatalf("after three checkpoints: %+v %d %v", cp, ver, err)
	}
	if _, err := w.Put(ctx, *cp, 2); !errors.Is(err, audit.ErrWitnessMoved) {
		t.Fatalf("stale check-and-set: %v", err)
	}
	audittest.RollBackFileLog(t, dir, 10)
	var rb *audit.RollbackError
	if _, err := openWitnessed(t, dir, w, false); !errors.As(err, &rb) {
		t.Fatalf("rolled back: %v", err)
	}
	// A replay: the checkpoint at 10 written again as the newest version,
	// as whoever holds the gateway's token could.
	st, err := audit.OpenFileStore(dir, audit.FileOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	cps, _ := st.Checkpoints(ctx)
	_ = st.Close()
	if len(cps) != 1 || cps[0].Count != 10 {
		t.Fatalf("local checkpoints %+v", cps)
	}
	if _, err := w.Put(ctx, cps[0], 3); err != nil {
		t.Fatal(err)
	}
	if _, err := openWitnessed(t, dir, w, true); !errors.Is(err, audit.ErrWitnessTampered) {
		t.Fatalf("replayed older checkpoint: %v", err)
	}
	fake.DeleteLatest("ura-audit/checkpoints/gw1")
	if _, err := openWitnessed(t, dir, w, true); !errors.Is(err, audit.ErrWitnessTampered) {
		t.Fatalf("deleted current version: %v", err)
	}
}

// racingWitness is a witness that other replicas write to just before each
// of the chain's first Puts, with next's checkpoints in turn.
type racingWitness struct {
	*audittest.Witness
	next []audit.SignedCheckpoint
}

func (r *racingWitness) Put(ctx context.Context, cp audit.SignedCheckpoint, version int) (int, error) {
	if len(r.next) > 0 {
		r.Set(r.next[0])
		r.next = r.next[1:]
	}
	return r.Witness.Put(ctx, cp, version)
}

// TestWitnessRacesWhileItMovesForward: replicas checkpointing one log can
// overtake each other many times running; each lost compare-and-set that
// finds the witness further on is retried, however many there are, and
// losing without the witness moving forward still gives up.
func TestWitnessRacesWhileItMovesForward(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	witnessedLog(t, dir, nil, 80)
	st, err := audit.OpenFileStore(dir, audit.FileOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	cps, err := st.Checkpoints(ctx)
	_ = st.Close()
	if err != nil || len(cps) != 8 {
		t.Fatalf("local checkpoints: %d, %v", len(cps), err)
	}

	t.Run("moving forward", func(t *testing.T) {
		w := &racingWitness{Witness: &audittest.Witness{}, next: cps[:7]}
		c, err := openWitnessed(t, dir, w, false)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Checkpoint(ctx); err != nil {
			t.Fatalf("after seven lost races, each further on: %v", err)
		}
		if got, _, _ := w.Latest(ctx); got == nil || got.Count != 80 || w.Backwards() != 0 {
			t.Fatalf("witness at %+v, %d backwards, want 80 and none", got, w.Backwards())
		}
	})
	t.Run("standing still", func(t *testing.T) {
		same := []audit.SignedCheckpoint{cps[0], cps[0], cps[0], cps[0], cps[0]}
		w := &racingWitness{Witness: &audittest.Witness{}, next: same}
		c, err := openWitnessed(t, dir, w, false)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Checkpoint(ctx); !errors.Is(err, audit.ErrWitnessMoved) {
			t.Fatalf("losing to a witness that does not move forward: %v, want ErrWitnessMoved", err)
		}
	})
}
