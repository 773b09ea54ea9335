package audit_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
)

// crashImage appends n events in groups of 5 and copies the log's
// directory while the store is still open, as kill -9 or a power loss
// (after the fdatasyncs that acknowledged them) leaves it: the active
// segment preallocated, its lines followed by zeros.
func crashImage(t *testing.T, n int) (dir string, signer *audittest.Signer, lines []byte) {
	t.Helper()
	live := t.TempDir()
	signer = audittest.NewSigner(t, "test-key-1")
	st, err := audit.OpenFileStore(live, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.Open(context.Background(), audit.Options{Store: st, Signer: signer, CheckpointEvery: 1 << 40, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	evs := audittest.Events(n, t0)
	for i := 0; i < n; i += 5 {
		if err := c.Append(context.Background(), evs[i:min(i+5, n)]...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(live)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "LOCK")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "000001.log"))
	if err != nil {
		t.Fatal(err)
	}
	end := bytes.IndexByte(raw, 0)
	if end < 0 || bytes.Count(raw[:end], []byte("\n")) != n || len(bytes.Trim(raw[end:], "\x00")) != 0 {
		t.Fatalf("the active segment is not %d lines and a zero tail (%d bytes, first zero at %d)", n, len(raw), end)
	}
	return dir, signer, raw[:end]
}

// TestZeroTailIsNotDamage: the preallocated tail of a log that was not
// closed is read as the end of its lines, by `ura audit verify` on the
// image as it is and by the next open, which cuts it silently; the log then
// continues and a clean close leaves only lines, as before preallocation.
func TestZeroTailIsNotDamage(t *testing.T) {
	ctx := context.Background()
	dir, signer, lines := crashImage(t, 25)
	rep, err := verifyDir(ctx, dir, signer)
	if err != nil || rep.Events != 25 || rep.Checkpoints != 1 {
		t.Fatalf("verify the image as the crash left it: %+v %v", rep, err)
	}
	st, err := audit.OpenFileStore(dir, audit.FileOptions{})
	if err != nil {
		t.Fatalf("open after the crash: %v", err)
	}
	seg := filepath.Join(dir, "000001.log")
	if raw, _ := os.ReadFile(seg); !bytes.Equal(raw, lines) {
		t.Fatalf("open left %d bytes, want the %d bytes of the lines", len(raw), len(lines))
	}
	if kept, _ := filepath.Glob(seg + ".cut-*"); len(kept) != 0 {
		t.Fatalf("a zero tail was kept aside as if torn: %v", kept)
	}
	c, err := audit.Open(ctx, audit.Options{Store: st, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	if h := c.Head(); h.Count != 25 {
		t.Fatalf("head %d after the crash, want 25", h.Count)
	}
	if err := c.Append(ctx, audittest.Events(5, t0)...); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(seg)
	if bytes.IndexByte(raw, 0) >= 0 || !bytes.HasSuffix(raw, []byte("\n")) {
		t.Fatal("a cleanly closed segment holds more than lines")
	}
	if rep, err := verifyDir(ctx, dir, signer); err != nil || rep.Events != 30 {
		t.Fatalf("after the restart: %+v %v", rep, err)
	}
}

// TestCrashLeftoversCut: a power loss can leave, after the last durable
// line, a torn line and even a later page written before an earlier one:
// bytes of groups whose fdatasync never returned. Open cuts them, keeps
// them aside for the operator, and every acknowledged event stays.
func TestCrashLeftoversCut(t *testing.T) {
	ctx := context.Background()
	dir, signer, lines := crashImage(t, 25)
	seg := filepath.Join(dir, "000001.log")
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	good := int64(len(lines))
	later := bytes.SplitAfter(lines, []byte("\n"))[3]
	if _, err := f.WriteAt([]byte(`{"action":"push","decision":"allow","hash":"ab`), good); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(later, good+8192); err != nil {
		t.Fatal(err)
	}
	f.Close()

	rep, err := verifyDir(ctx, dir, signer)
	if err != nil || rep.Events != 25 {
		t.Fatalf("verify the image as the crash left it: %+v %v", rep, err)
	}
	st, err := audit.OpenFileStore(dir, audit.FileOptions{})
	if err != nil {
		t.Fatalf("open after the crash: %v", err)
	}
	if raw, _ := os.ReadFile(seg); !bytes.Equal(raw, lines) {
		t.Fatalf("open left %d bytes, want the %d bytes of the lines", len(raw), len(lines))
	}
	kept, err := os.ReadFile(seg + ".cut-" + strconv.FormatInt(good, 10))
	if err != nil {
		t.Fatalf("the cut bytes were not kept: %v", err)
	}
	if !bytes.HasPrefix(kept, []byte(`{"action":"push"`)) || !bytes.HasSuffix(kept, later) || len(kept) != 8192+len(later) {
		t.Fatalf("kept %d bytes, not the torn tail", len(kept))
	}
	// The same crash again, before any new line: what was kept stays.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	appendTo(t, seg, "torn again")
	if st, err = audit.OpenFileStore(dir, audit.FileOptions{}); err != nil {
		t.Fatal(err)
	}
	if again, err := os.ReadFile(seg + ".cut-" + strconv.FormatInt(good, 10) + ".1"); err != nil || string(again) != "torn again" {
		t.Fatalf("the second cut at the same place: %q %v", again, err)
	}
	if first, _ := os.ReadFile(seg + ".cut-" + strconv.FormatInt(good, 10)); !bytes.Equal(first, kept) {
		t.Fatal("the first cut's bytes were overwritten")
	}
	c, err := audit.Open(ctx, audit.Options{Store: st, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Append(ctx, audittest.Events(5, t0)...); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := verifyDir(ctx, dir, signer); err != nil || rep.Events != 30 {
		t.Fatalf("after the restart: %+v %v", rep, err)
	}
}

// TestZerosInClosedSegment: zeros are the end of lines only in the active
// segment. A closed segment never keeps a zero tail (it is cut before the
// next one starts), so one there refuses the open; zeros over lines of a
// closed segment are a gap that verify names, like any damage inside a
// closed segment (open checks only a closed segment's joints).
func TestZerosInClosedSegment(t *testing.T) {
	ctx := context.Background()
	t.Run("tail", func(t *testing.T) {
		dir, _ := writeLog(t, 60, 4<<10)
		appendTo(t, filepath.Join(dir, "000001.log"), string(make([]byte, 4096)))
		if _, err := audit.OpenFileStore(dir, audit.FileOptions{}); err == nil {
			t.Fatal("a closed segment with a zero tail opened")
		}
	})
	t.Run("over lines", func(t *testing.T) {
		dir, signer := writeLog(t, 60, 4<<10)
		path := filepath.Join(dir, "000001.log")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		first := bytes.IndexByte(raw, '\n') + 1
		clear(raw[first : first+600])
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = verifyDir(ctx, dir, signer)
		var ve *audit.VerifyError
		if !errors.As(err, &ve) || ve.Seq != 2 {
			t.Fatalf("verify: %v, want a failure at seq 2", err)
		}
	})
}
