package audittest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/ura-gateway/ura/gateway/audit"
)

// RollBackFileLog does to a file store's directory what an attacker or a
// careless repair does: it keeps the first keep events (across segments)
// and only the checkpoints that cover no more than that, so that the log
// still verifies on its own.
func RollBackFileLog(t testing.TB, dir string, keep int64) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "[0-9][0-9][0-9][0-9][0-9][0-9]*.log"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(segs)
	var seen int64
	for _, seg := range segs {
		if seen >= keep {
			if err := os.Remove(seg); err != nil {
				t.Fatal(err)
			}
			continue
		}
		raw, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.SplitAfter(raw, []byte("\n"))
		var kept [][]byte
		for _, l := range lines {
			if len(bytes.TrimSpace(l)) == 0 || seen >= keep {
				continue
			}
			kept = append(kept, l)
			seen++
		}
		if err := os.WriteFile(seg, bytes.Join(kept, nil), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cpPath := filepath.Join(dir, "checkpoints.ndjson")
	raw, err := os.ReadFile(cpPath)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	var kept [][]byte
	for _, l := range bytes.SplitAfter(raw, []byte("\n")) {
		var cp audit.SignedCheckpoint
		if len(bytes.TrimSpace(l)) == 0 || json.Unmarshal(l, &cp) != nil || cp.Count > keep {
			continue
		}
		kept = append(kept, l)
	}
	if err := os.WriteFile(cpPath, bytes.Join(kept, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Witness is an in-memory audit.Witness; SetErr makes it unreachable.
type Witness struct {
	mu      sync.Mutex
	cp      *audit.SignedCheckpoint
	version int
	err     error
	puts    int
	back    int
}

var _ audit.Witness = (*Witness)(nil)

func (w *Witness) String() string { return "test witness" }

// Latest implements audit.Witness.
func (w *Witness) Latest(context.Context) (*audit.SignedCheckpoint, int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return nil, 0, w.err
	}
	if w.cp == nil {
		return nil, w.version, nil
	}
	c := *w.cp
	return &c, w.version, nil
}

// Put implements audit.Witness.
func (w *Witness) Put(_ context.Context, cp audit.SignedCheckpoint, version int) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if version != w.version {
		return 0, fmt.Errorf("at version %d, not %d: %w", w.version, version, audit.ErrWitnessMoved)
	}
	if w.cp != nil && cp.Count < w.cp.Count {
		w.back++
	}
	w.cp, w.version = &cp, w.version+1
	w.puts++
	return w.version, nil
}

// Backwards is how many Puts wrote a checkpoint older than the one held:
// what several writers must never do.
func (w *Witness) Backwards() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.back
}

// Set makes cp the witness's latest checkpoint, as another writer would.
func (w *Witness) Set(cp audit.SignedCheckpoint) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cp, w.version = &cp, w.version+1
}

// SetErr makes the witness unreachable (err) or reachable again (nil).
func (w *Witness) SetErr(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = err
}

// Puts is how many checkpoints Put stored.
func (w *Witness) Puts() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.puts
}
