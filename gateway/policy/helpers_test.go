package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/policies"
)

var (
	memberAIM  = identity.Member{ID: "AL/GOV/AIM", Name: "AIM", Nation: "ALB", Kind: "agency", Clearance: "SECRET", Roles: []string{"licensing"}}
	memberDPD  = identity.Member{ID: "AL/GOV/DPD", Name: "Customs", Nation: "ALB", Kind: "customs", Clearance: "RESTRICTED"}
	memberITA  = identity.Member{ID: "IT/GOV/MOD", Name: "Italy MoD", Nation: "ITA", Kind: "partner", Clearance: "CONFIDENTIAL"}
	memberNATO = identity.Member{ID: "NATO/ORG/LIAISON", Name: "NATO liaison", Nation: "NATO", Kind: "liaison", Clearance: "SECRET"}
)

// record loads testdata/records/<name>.json, applies edits (top-level dotted
// paths → values; a nil value deletes) and validates it as the gateway does.
func record(t testing.TB, name string, edits map[string]any) *records.Record {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "records", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for path, v := range edits {
		parts := strings.Split(path, ".")
		m := doc
		for _, p := range parts[:len(parts)-1] {
			m = m[p].(map[string]any)
		}
		if v == nil {
			delete(m, parts[len(parts)-1])
		} else {
			m[parts[len(parts)-1]] = v
		}
	}
	body, err := json.Marshal([]any{doc})
	if err != nil {
		t.Fatal(err)
	}
	checked, err := records.DecodeBatch(body, records.FormatJSON, records.Limits{MaxRecords: 10, MaxDepth: 16, MaxStringLength: 8192})
	if err != nil {
		t.Fatal(err)
	}
	if !checked[0].Valid() {
		t.Fatalf("test record %s is invalid: %+v", name, checked[0].Errors)
	}
	return checked[0].Record
}

// newEngine builds an engine; without a timeout of its own a test gets a
// generous one, because a loaded CI machine under -race is slow and timings
// are never what a test asserts.
func newEngine(t testing.TB, opts Options) *OPA {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	e, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// copyEmbedded writes the embedded policy into a new directory, so a test
// can edit it.
func copyEmbedded(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(policies.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(policies.FS, p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeAtomic replaces a file the way a deployment would: write aside, rename.
func writeAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func captureLogger() (*slog.Logger, *syncBuffer) {
	b := &syncBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func codes(d Decision) []string {
	out := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		out[i] = r.Code
	}
	return out
}

func hasCode(d Decision, code string) bool {
	for _, r := range d.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}
