package audit_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
)

var t0 = time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC)

func TestFileStoreContract(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audittest.Opener {
		dir := t.TempDir()
		// Small segments, so that the contract also runs across segment joints.
		return func() (audit.Store, error) {
			return audit.OpenFileStore(dir, audit.FileOptions{SegmentBytes: 8 << 10})
		}
	})
}

// writeLog writes n events with a checkpoint every 10 through a real chain
// and file store, and returns the directory and the signer.
func writeLog(t *testing.T, n int, segBytes int64) (string, *audittest.Signer) {
	t.Helper()
	dir := t.TempDir()
	signer := audittest.NewSigner(t, "test-key-1")
	st, err := audit.OpenFileStore(dir, audit.FileOptions{SegmentBytes: segBytes})
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.Open(context.Background(), audit.Options{Store: st, Signer: signer, CheckpointEvery: 1 << 40, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	evs := audittest.Events(n, t0)
	for i := 0; i < n; i += 10 {
		if err := c.Append(context.Background(), evs[i:min(i+10, n)]...); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, signer
}

func segmentLines(t *testing.T, dir string) (string, [][]byte) {
	t.Helper()
	path := filepath.Join(dir, "000001.log")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, bytes.SplitAfter(raw, []byte("\n"))[:bytes.Count(raw, []byte("\n"))]
}

// TestTamperingDetected is the five tamperings on a real log written by the
// embedded store, each caught and named at its first bad position.
func TestTamperingDetected(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func(t *testing.T, dir string, keys *audittest.Signer)
		wantSeq int64
		want    string
		// unsigned: whether verification without keys must also catch it.
		unsigned bool
	}{
		{name: "modified decision", wantSeq: 19, want: "hash mismatch", unsigned: true,
			tamper: func(t *testing.T, dir string, _ *audittest.Signer) {
				path, lines := segmentLines(t, dir)
				lines[18] = bytes.Replace(lines[18], []byte(`"decision":"deny"`), []byte(`"decision":"allow"`), 1)
				writeLines(t, path, lines)
			}},
		{name: "modified and every later hash recomputed", wantSeq: 20, want: "does not match the checkpoint", unsigned: false,
			tamper: func(t *testing.T, dir string, _ *audittest.Signer) {
				path, lines := segmentLines(t, dir)
				lines = rechain(t, lines, 12, func(e *audit.Event) { e.Member = "AL/GOV/NOBODY" })
				writeLines(t, path, lines)
			}},
		{name: "deleted", wantSeq: 8, want: "missing: found seq 9", unsigned: true,
			tamper: func(t *testing.T, dir string, _ *audittest.Signer) {
				path, lines := segmentLines(t, dir)
				writeLines(t, path, append(lines[:7:7], lines[8:]...))
			}},
		{name: "inserted", wantSeq: 31, want: "found seq 30 again", unsigned: true,
			tamper: func(t *testing.T, dir string, _ *audittest.Signer) {
				path, lines := segmentLines(t, dir)
				dup := append([][]byte{}, lines[:30]...)
				dup = append(dup, lines[29])
				writeLines(t, path, append(dup, lines[30:]...))
			}},
		{name: "reordered", wantSeq: 5, want: "missing: found seq 6", unsigned: true,
			tamper: func(t *testing.T, dir string, _ *audittest.Signer) {
				path, lines := segmentLines(t, dir)
				lines[4], lines[5] = lines[5], lines[4]
				writeLines(t, path, lines)
			}},
		{name: "truncated", wantSeq: 46, want: "truncated", unsigned: true,
			tamper: func(t *testing.T, dir string, _ *audittest.Signer) {
				path, lines := segmentLines(t, dir)
				writeLines(t, path, lines[:45])
			}},
		{name: "forged checkpoint", wantSeq: 50, want: "bad signature", unsigned: false,
			tamper: func(t *testing.T, dir string, _ *audittest.Signer) {
				// An attacker's own key signs a checkpoint over a rewritten tail.
				forger := audittest.NewSigner(t, "test-key-1")
				path, lines := segmentLines(t, dir)
				lines = rechain(t, lines, 45, func(e *audit.Event) { e.Decision = audit.DecisionAllow })
				writeLines(t, path, lines)
				last, _ := audit.ParseLine(lines[len(lines)-1])
				cp, err := audit.SignCheckpoint(context.Background(), forger, audit.Head{Count: last.Event.Seq, Hash: last.Event.Hash}, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				replaceCheckpoints(t, dir, 40, cp)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, signer := writeLog(t, 50, 1<<20)
			ctx := context.Background()
			if _, err := verifyDir(ctx, dir, signer); err != nil {
				t.Fatalf("untampered log fails: %v", err)
			}
			tc.tamper(t, dir, signer)
			_, err := verifyDir(ctx, dir, signer)
			var ve *audit.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("tampering not detected: %v", err)
			}
			if ve.Seq != tc.wantSeq || !strings.Contains(ve.Reason, tc.want) {
				t.Fatalf("got %q, want seq %d: …%s…", err, tc.wantSeq, tc.want)
			}
			t.Logf("detected: %v", err)
			if tc.unsigned {
				if _, err := verifyDir(ctx, dir, nil); err == nil {
					t.Errorf("verification without keys missed it")
				}
			}
			// The writer refuses to open a tampered log (unless the damage is
			// in a part it does not re-check, which verify reports above).
			if st, err := audit.OpenFileStore(dir, audit.FileOptions{}); err == nil {
				_, cerr := audit.Open(ctx, audit.Options{Store: st})
				st.Close()
				if cerr == nil && tc.name != "forged checkpoint" && tc.name != "modified and every later hash recomputed" {
					t.Errorf("the gateway opened a tampered log")
				}
			}
		})
	}
}

func verifyDir(ctx context.Context, dir string, signer *audittest.Signer) (audit.Report, error) {
	st, err := audit.OpenFileStore(dir, audit.FileOptions{ReadOnly: true})
	if err != nil {
		return audit.Report{}, err
	}
	defer st.Close()
	opts := audit.VerifyOptions{}
	if signer != nil {
		opts.Keys = signer.KeySet()
	}
	return audit.VerifyStore(ctx, st, opts)
}

func writeLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

// rechain changes event at index i and recomputes every hash after it, as an
// attacker with write access to the files (but not the signing key) would.
func rechain(t *testing.T, lines [][]byte, i int, change func(*audit.Event)) [][]byte {
	t.Helper()
	out := append([][]byte{}, lines...)
	prev := audit.ZeroHash
	if i > 0 {
		e, _ := audit.ParseLine(out[i-1])
		prev = e.Event.Hash
	}
	for j := i; j < len(out); j++ {
		e, err := audit.ParseLine(out[j])
		if err != nil {
			t.Fatal(err)
		}
		ev := e.Event
		if j == i {
			change(&ev)
		}
		ev.Prev = prev
		c, _ := audit.Canonical(ev)
		ev.Hash = audit.HashBytes(c)
		prev = ev.Hash
		out[j] = append(mustLine(t, ev), '\n')
	}
	return out
}

func mustLine(t *testing.T, e audit.Event) []byte {
	t.Helper()
	c, err := audit.Canonical(e)
	if err != nil {
		t.Fatal(err)
	}
	// Canonical omits the hash; insert it where JCS order puts it (after
	// "decision_id" or "decision", before "member").
	line := bytes.Replace(c, []byte(`,"member":`), []byte(`,"hash":"`+e.Hash+`","member":`), 1)
	if _, err := audit.ParseLine(line); err != nil {
		t.Fatalf("rechained line invalid: %v", err)
	}
	return line
}

func replaceCheckpoints(t *testing.T, dir string, keepBelow int64, extra audit.SignedCheckpoint) {
	t.Helper()
	path := filepath.Join(dir, "checkpoints.ndjson")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, l := range bytes.SplitAfter(raw, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		if bytes.Contains(l, []byte(`"count":40,`)) || bytes.Contains(l, []byte(`"count":50,`)) {
			continue
		}
		out = append(out, l...)
	}
	line, err := audit.ExportCheckpointLine(extra)
	if err != nil {
		t.Fatal(err)
	}
	inner := bytes.TrimSuffix(bytes.TrimPrefix(line, []byte(`{"checkpoint":`)), []byte("}"))
	out = append(out, append(inner, '\n')...)
	_ = keepBelow
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTornLineRepaired: a crash in the middle of a write leaves a partial
// final line; open truncates exactly it and the chain continues.
func TestTornLineRepaired(t *testing.T) {
	dir, signer := writeLog(t, 30, 1<<20)
	path := filepath.Join(dir, "000001.log")
	before, _ := os.ReadFile(path)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	_, _ = f.WriteString(`{"action":"push","decision":"allow","hash":"ab`)
	f.Close()

	st, err := audit.OpenFileStore(dir, audit.FileOptions{})
	if err != nil {
		t.Fatalf("open with a torn line: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatalf("open did not truncate exactly the torn line: %d bytes before, %d after", len(before), len(after))
	}
	c, err := audit.Open(context.Background(), audit.Options{Store: st, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Append(context.Background(), audittest.Events(3, t0)...); err != nil {
		t.Fatal(err)
	}
	c.Close()
	rep, err := verifyDir(context.Background(), dir, signer)
	if err != nil || rep.Events != 33 {
		t.Fatalf("after repair: %+v %v", rep, err)
	}
}

// TestOpenRefusesDamage: anything but a torn final line refuses the open.
func TestOpenRefusesDamage(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"garbage complete line at the end", func(t *testing.T, dir string) {
			appendTo(t, filepath.Join(dir, "000002.log"), "not json\n")
		}, "not an event"},
		{"modified line in the last segment", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "000002.log")
			raw, _ := os.ReadFile(path)
			_ = os.WriteFile(path, bytes.Replace(raw, []byte(`"status":200`), []byte(`"status":201`), 1), 0o600)
		}, "hash mismatch"},
		{"missing middle segment", func(t *testing.T, dir string) {
			segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
			if len(segs) < 3 {
				t.Fatalf("want at least 3 segments, have %d", len(segs))
			}
			_ = os.Remove(filepath.Join(dir, "000002.log"))
		}, "missing"},
		{"segment joint broken", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "000001.log")
			raw, _ := os.ReadFile(path)
			lines := bytes.SplitAfter(raw, []byte("\n"))
			_ = os.WriteFile(path, bytes.Join(lines[:len(lines)-2], nil), 0o600)
		}, "expected"},
		{"last segment truncated below the latest checkpoint", func(t *testing.T, dir string) {
			segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
			last := segs[len(segs)-1]
			_ = os.Truncate(last, 0)
		}, "truncated"},
		{"torn line in a closed segment", func(t *testing.T, dir string) {
			appendTo(t, filepath.Join(dir, "000001.log"), `{"action":`)
		}, "partial line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, signer := writeLog(t, 60, 4<<10)
			tc.damage(t, dir)
			st, err := audit.OpenFileStore(dir, audit.FileOptions{})
			if err == nil {
				_, err = audit.Open(context.Background(), audit.Options{Store: st, Signer: signer})
				st.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("open: %v; want an error mentioning %q", err, tc.want)
			}
			t.Logf("refused: %v", err)
		})
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// TestStoreFailureIsUnavailable: once the segment file fails underneath the
// log, Append reports ErrUnavailable, and keeps doing so: nothing is
// acknowledged that is not durable.
func TestStoreFailureIsUnavailable(t *testing.T) {
	dir := t.TempDir()
	st, err := audit.OpenFileStore(dir, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.Open(context.Background(), audit.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Append(ctx, audittest.Events(5, t0)...); err != nil {
		t.Fatal(err)
	}
	audit.BreakActiveSegmentForTest(st)
	if err := c.Append(ctx, audittest.Events(1, t0)...); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("append on a broken segment: %v, want ErrUnavailable", err)
	}
	if err := c.Check(ctx); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("readiness after failure: %v", err)
	}
	if err := c.Append(ctx, audittest.Events(1, t0)...); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("later append: %v, want ErrUnavailable (sticky)", err)
	}
	if h := c.Head(); h.Count != 5 {
		t.Fatalf("head moved to %d after failed appends", h.Count)
	}
}

func TestSegmentsRoll(t *testing.T) {
	dir, signer := writeLog(t, 200, 4<<10)
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(segs) < 5 {
		t.Fatalf("%d segments for 200 events at 4 KiB; want rolling", len(segs))
	}
	rep, err := verifyDir(context.Background(), dir, signer)
	if err != nil || rep.Events != 200 || rep.Checkpoints != 20 {
		t.Fatalf("%+v %v", rep, err)
	}
}

func TestSecondWriterRefused(t *testing.T) {
	dir := t.TempDir()
	st, err := audit.OpenFileStore(dir, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := audit.OpenFileStore(dir, audit.FileOptions{}); !errors.Is(err, audit.ErrInUse) {
		t.Fatalf("second writer: %v", err)
	}
	ro, err := audit.OpenFileStore(dir, audit.FileOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("a read-only open beside the writer: %v", err)
	}
	ro.Close()
}
