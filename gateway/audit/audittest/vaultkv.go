package audittest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FakeVaultKV is an httptest stand-in for a Vault KV v2 mount at kv/ with
// just what audit.VaultKV uses: metadata, versioned reads, check-and-set
// writes, and soft deletion. Unit tests use it; integration tests use the
// development Vault.
type FakeVaultKV struct {
	*httptest.Server
	mu      sync.Mutex
	entries map[string][]fakeVersion
}

type fakeVersion struct {
	data    map[string]any
	created time.Time
	deleted bool
}

// NewFakeVaultKV starts the fake; it stops when the test ends.
func NewFakeVaultKV(t testing.TB) *FakeVaultKV {
	f := &FakeVaultKV{entries: map[string][]fakeVersion{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// DeleteLatest soft-deletes the current version of path.
func (f *FakeVaultKV) DeleteLatest(path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if vs := f.entries[path]; len(vs) > 0 {
		vs[len(vs)-1].deleted = true
	}
}

func (f *FakeVaultKV) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.Header.Get("X-Vault-Token") == "" {
		reply(http.StatusForbidden, map[string]any{"errors": []string{"permission denied"}})
		return
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/v1/kv/metadata/") && r.Method == http.MethodGet:
		path := strings.TrimPrefix(r.URL.Path, "/v1/kv/metadata/")
		vs := f.entries[path]
		if len(vs) == 0 {
			reply(http.StatusNotFound, map[string]any{"errors": []string{}})
			return
		}
		versions := map[string]any{}
		for i, v := range vs {
			versions[strconv.Itoa(i+1)] = map[string]any{"created_time": v.created, "deletion_time": deletion(v), "destroyed": false}
		}
		reply(http.StatusOK, map[string]any{"data": map[string]any{"current_version": len(vs), "versions": versions,
			"created_time": vs[0].created, "updated_time": vs[len(vs)-1].created}})
	case strings.HasPrefix(r.URL.Path, "/v1/kv/data/") && r.Method == http.MethodGet:
		path := strings.TrimPrefix(r.URL.Path, "/v1/kv/data/")
		vs := f.entries[path]
		n, _ := strconv.Atoi(r.URL.Query().Get("version"))
		if n == 0 {
			n = len(vs)
		}
		if n < 1 || n > len(vs) {
			reply(http.StatusNotFound, map[string]any{"errors": []string{}})
			return
		}
		v := vs[n-1]
		meta := map[string]any{"version": n, "created_time": v.created, "deletion_time": deletion(v), "destroyed": false}
		if v.deleted {
			reply(http.StatusNotFound, map[string]any{"data": map[string]any{"data": nil, "metadata": meta}})
			return
		}
		reply(http.StatusOK, map[string]any{"data": map[string]any{"data": v.data, "metadata": meta}})
	case strings.HasPrefix(r.URL.Path, "/v1/kv/data/") && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		path := strings.TrimPrefix(r.URL.Path, "/v1/kv/data/")
		var body struct {
			Data    map[string]any `json:"data"`
			Options struct {
				CAS *int `json:"cas"`
			} `json:"options"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			reply(http.StatusBadRequest, map[string]any{"errors": []string{err.Error()}})
			return
		}
		vs := f.entries[path]
		if body.Options.CAS != nil && *body.Options.CAS != len(vs) {
			reply(http.StatusBadRequest, map[string]any{"errors": []string{"check-and-set parameter did not match the current version"}})
			return
		}
		v := fakeVersion{data: body.Data, created: time.Now().UTC()}
		f.entries[path] = append(vs, v)
		reply(http.StatusOK, map[string]any{"data": map[string]any{"version": len(vs) + 1, "created_time": v.created, "deletion_time": "", "destroyed": false}})
	default:
		reply(http.StatusNotFound, map[string]any{"errors": []string{"no handler for " + r.Method + " " + r.URL.Path}})
	}
}

func deletion(v fakeVersion) string {
	if v.deleted {
		return v.created.Format(time.RFC3339Nano)
	}
	return ""
}
