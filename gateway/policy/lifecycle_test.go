package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/policies"
)

// TestHotReloadUnderLoad swaps the policy repeatedly, and through a broken
// version, while 8 goroutines decide without pause: every decision is the
// policy's own, none is a fail-closed deny.
func TestHotReloadUnderLoad(t *testing.T) {
	dir := copyEmbedded(t)
	// The deadline is far away: this test is about reloads, and a machine
	// running it under -race beside other work must not turn slowness into
	// a false failure.
	e := newEngine(t, Options{Source: DirSource(dir), Logger: discard, Timeout: time.Minute})
	first := e.Revision()
	lic := record(t, "licence", nil)
	orig, err := os.ReadFile(filepath.Join(dir, "pull.rego"))
	if err != nil {
		t.Fatal(err)
	}

	var (
		stop      atomic.Bool
		decisions atomic.Int64
		bad       atomic.Int64
		wg        sync.WaitGroup
		mu        sync.Mutex
		firstBad  Decision
		slowest   time.Duration
		revisions = map[string]bool{}
	)
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				start := time.Now()
				d := e.Decide(context.Background(), Input{Caller: memberDPD, Action: Pull, Record: lic})
				took := time.Since(start)
				decisions.Add(1)
				mu.Lock()
				slowest = max(slowest, took)
				revisions[d.Revision] = true
				if !d.Allow || len(d.Redact) != 2 {
					if bad.Add(1) == 1 {
						firstBad = d
					}
				}
				mu.Unlock()
			}
		})
	}

	reloads := 0
	for i := range 6 {
		// Each version differs by a comment: a new revision, the same answers.
		writeAtomic(t, filepath.Join(dir, "pull.rego"), append(append([]byte{}, orig...), []byte("\n# version "+string(rune('a'+i))+"\n")...))
		if err := e.Reload(context.Background()); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		reloads++
		if i == 2 {
			// A broken policy mid-way: refused, the running one stays.
			writeAtomic(t, filepath.Join(dir, "push.rego"), []byte("package ura\n\ndeny contains"))
			if err := e.Reload(context.Background()); err == nil {
				t.Fatal("a policy that does not parse was accepted")
			}
			// The next poll sees the same broken files: not retried, not
			// counted again.
			_ = e.Reload(context.Background())
			pushRego, _ := fs.ReadFile(policies.FS, "push.rego")
			writeAtomic(t, filepath.Join(dir, "push.rego"), pushRego)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()

	if bad.Load() != 0 {
		t.Fatalf("%d of %d decisions during reloads were wrong; first: %+v", bad.Load(), decisions.Load(), firstBad)
	}
	if e.Revision() == first {
		t.Fatal("the revision never changed")
	}
	if len(revisions) < 2 {
		t.Errorf("decisions saw only %d revisions", len(revisions))
	}
	// Restoring push.rego brings back the files already running: no reload.
	if got := testutil.ToFloat64(e.metrics.reloads.WithLabelValues("ok")); int(got) != reloads {
		t.Errorf("ura_policy_reloads_total{ok} = %v, want %d", got, reloads)
	}
	if got := testutil.ToFloat64(e.metrics.reloads.WithLabelValues("error")); got != 1 {
		t.Errorf("ura_policy_reloads_total{error} = %v, want 1 (the same broken files counted once)", got)
	}
	if last := e.Status().LastReload; last == nil || last.Result != "ok" {
		t.Errorf("last reload %+v", last)
	}
	t.Logf("%d decisions across %d reloads; slowest %s", decisions.Load(), reloads, slowest)
}

// TestWatchReloads: the poller notices a changed directory by itself.
func TestWatchReloads(t *testing.T) {
	dir := copyEmbedded(t)
	e := newEngine(t, Options{Source: DirSource(dir), Logger: discard})
	first := e.Revision()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Watch(ctx, 10*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	writeAtomic(t, filepath.Join(dir, "extra.rego"), []byte("package ura\n\nextra := true\n"))
	deadline := time.Now().Add(10 * time.Second)
	for e.Revision() == first {
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not reload")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testSigner signs bundles as an operator would with `opa sign`.
type testSigner struct {
	key    *rsa.PrivateKey
	pubPEM string
	keyPEM string
}

func newTestSigner(t testing.TB) *testSigner {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	priv, _ := x509.MarshalPKCS8PrivateKey(k)
	return &testSigner{
		key:    k,
		pubPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
		keyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})),
	}
}

func (s *testSigner) verification() *bundle.VerificationConfig {
	return VerificationConfig("ura", s.pubPEM, "RS256")
}

// bundleOf builds an OPA bundle tarball of the embedded policy (edited by
// edit), signed by s unless s is nil.
func bundleOf(t testing.TB, s *testSigner, revision string, edit func(files map[string][]byte)) []byte {
	t.Helper()
	files := map[string][]byte{}
	err := fs.WalkDir(policies.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rego") && p != "data.json" {
			return err
		}
		files[p], err = fs.ReadFile(policies.FS, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(files)
	}
	b := bundle.Bundle{Manifest: bundle.Manifest{Revision: revision}, Data: map[string]any{}}
	b.Manifest.Init()
	for p, raw := range files {
		if p == "data.json" {
			if err := json.Unmarshal(raw, &b.Data); err != nil {
				t.Fatal(err)
			}
			continue
		}
		m, err := ast.ParseModuleWithOpts(p, string(raw), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		b.Modules = append(b.Modules, bundle.ModuleFile{URL: "/" + p, Path: "/" + p, Raw: raw, Parsed: m})
	}
	if s != nil {
		if err := b.GenerateSignature(bundle.NewSigningConfig(s.keyPEM, "RS256", ""), "ura", false); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).DisableFormat(true).Write(b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// retar rewrites one file inside a bundle tarball, keeping the signature.
func retar(t testing.TB, tarball []byte, name string, edit func([]byte) []byte) []byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(tarball))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out bytes.Buffer
	gw := gzip.NewWriter(&out)
	tw := tar.NewWriter(gw)
	found := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if strings.TrimPrefix(h.Name, "/") == name {
			b = edit(b)
			found = true
		}
		h.Size = int64(len(b))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write(b)
	}
	if !found {
		t.Fatalf("no %s in the bundle", name)
	}
	_ = tw.Close()
	_ = gw.Close()
	return out.Bytes()
}

// TestSignedBundle: a bundle signed with the configured key loads; one with
// a tampered file, no signature, or another key's signature is refused, and
// a refused reload keeps the running policy.
func TestSignedBundle(t *testing.T) {
	signer := newTestSigner(t)
	other := newTestSigner(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "ura.tar.gz")
	good := bundleOf(t, signer, "2026.06-1", nil)
	writeAtomic(t, path, good)

	e := newEngine(t, Options{Source: BundleSource(path, signer.verification()), Logger: discard})
	st := e.Status()
	if st.Active.Source != SourceBundle || st.Active.ManifestRevision != "2026.06-1" {
		t.Fatalf("status %+v", st.Active)
	}
	lic := record(t, "licence", nil)
	if d := e.Decide(context.Background(), Input{Caller: memberDPD, Action: Pull, Record: lic}); !d.Allow || len(d.Redact) != 2 {
		t.Fatalf("the signed bundle decides differently: %+v", d)
	}
	running := e.Revision()

	loosened := func(b []byte) []byte {
		// An attacker removes customs' redactions.
		return bytes.Replace(b, []byte(`"/licence/contract_value",`), nil, 1)
	}
	cases := []struct {
		name    string
		tarball []byte
		want    string
	}{
		{"tampered data file", retar(t, good, "data.json", loosened), "digest mismatch"},
		{"tampered module", retar(t, good, "pull.rego", func(b []byte) []byte {
			return append(b, []byte("\nredact := set()\n")...)
		}), "digest mismatch"},
		{"unsigned", bundleOf(t, nil, "2026.06-2", nil), "missing .signatures.json"},
		{"signed by another key", bundleOf(t, other, "2026.06-3", nil), "verification"},
		{"file added after signing", func() []byte {
			b := bundleOf(t, signer, "2026.06-4", nil)
			return appendTarFile(t, b, "allow_all.rego", []byte("package ura\n\nextra := true\n"))
		}(), "not included in bundle signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.tar.gz")
			writeAtomic(t, bad, tc.tarball)
			_, err := New(context.Background(), Options{Source: BundleSource(bad, signer.verification()), Logger: discard})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			// The same bundle arriving as a reload is refused, and the
			// running policy keeps deciding.
			before := testutil.ToFloat64(e.metrics.reloads.WithLabelValues("error"))
			writeAtomic(t, path, tc.tarball)
			if err := e.Reload(context.Background()); err == nil {
				t.Fatal("reload accepted the bundle")
			}
			if e.Revision() != running {
				t.Fatal("a refused bundle replaced the running policy")
			}
			if got := testutil.ToFloat64(e.metrics.reloads.WithLabelValues("error")); got != before+1 {
				t.Errorf("ura_policy_reloads_total{error} %v → %v", before, got)
			}
			if d := e.Decide(context.Background(), Input{Caller: memberDPD, Action: Pull, Record: lic}); !d.Allow || len(d.Redact) != 2 {
				t.Fatalf("after a refused reload: %+v", d)
			}
		})
	}

	// A newly signed version is accepted.
	writeAtomic(t, path, bundleOf(t, signer, "2026.06-5", func(files map[string][]byte) {
		files["extra.rego"] = []byte("package ura\n\nextra := true\n")
	}))
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.Revision() == running || e.Status().Active.ManifestRevision != "2026.06-5" {
		t.Fatalf("the new signed bundle was not loaded: %+v", e.Status().Active)
	}
}

func appendTarFile(t testing.TB, tarball []byte, name string, content []byte) []byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(tarball))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out bytes.Buffer
	gw := gzip.NewWriter(&out)
	tw := tar.NewWriter(gw)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		_ = tw.WriteHeader(h)
		_, _ = tw.Write(b)
	}
	_ = tw.WriteHeader(&tar.Header{Name: "/" + name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	_, _ = tw.Write(content)
	_ = tw.Close()
	_ = gw.Close()
	return out.Bytes()
}

// TestShadowDivergence: a candidate that would stop redacting for customs
// and refuse partners everything is compared on every decision; the
// answers returned are the active policy's, and every difference is
// counted, logged and listed.
func TestShadowDivergence(t *testing.T) {
	shadowDir := copyEmbedded(t)
	data, _ := os.ReadFile(filepath.Join(shadowDir, "data.json"))
	data = bytes.Replace(data, []byte(`"/licence/contract_value",`), nil, 1)
	writeAtomic(t, filepath.Join(shadowDir, "data.json"), data)
	pull, _ := os.ReadFile(filepath.Join(shadowDir, "pull.rego"))
	pull = append(pull, []byte("\ndeny contains reason(\"partners_paused\", \"partner pulls are paused\") if {\n\tinput.action == \"pull\"\n\tinput.caller.kind == \"partner\"\n}\n")...)
	writeAtomic(t, filepath.Join(shadowDir, "pull.rego"), pull)

	logger, logs := captureLogger()
	plain := newEngine(t, Options{Logger: discard, Timeout: 5 * time.Second})
	shadow := DirSource(shadowDir)
	e := newEngine(t, Options{Shadow: &shadow, Logger: logger, ShadowKeep: 3, Timeout: 5 * time.Second})

	lic := record(t, "licence", nil)
	albOnly := record(t, "licence", map[string]any{"label.releasable_to": []any{"ALB"}})
	transfer := record(t, "transfer_ita", nil)
	inputs := []Input{
		{Caller: memberDPD, Action: Pull, Record: lic},      // diverges: redaction
		{Caller: memberAIM, Action: Pull, Record: lic},      // same
		{Caller: memberITA, Action: Pull, Record: transfer}, // diverges: allow
		{Caller: memberITA, Action: Pull, Record: albOnly},  // same: both deny
		{Caller: memberDPD, Action: Pull, Record: lic},      // diverges
		{Caller: memberITA, Action: Pull, Record: transfer}, // diverges
	}
	for i, in := range inputs {
		got := e.Decide(context.Background(), in)
		want := plain.Decide(context.Background(), in)
		if got.Allow != want.Allow || !sameSet(got.Redact, want.Redact) || got.Revision != want.Revision {
			t.Fatalf("input %d: the shadow changed the outcome: %+v, want %+v", i, got, want)
		}
		e.waitShadow()
	}
	if got := testutil.ToFloat64(e.metrics.divergences); got != 4 {
		t.Fatalf("ura_policy_shadow_divergences_total = %v, want 4", got)
	}
	list := e.Divergences()
	if len(list) != 3 {
		t.Fatalf("kept %d divergences, want the last 3", len(list))
	}
	if st := e.Status(); st.ShadowDivergences != 4 || st.Shadow == nil || st.Shadow.Revision == st.Active.Revision {
		t.Errorf("status %+v", st)
	}
	last := list[len(list)-1]
	if last.Member != "IT/GOV/MOD" || last.RecordID != transfer.ID || !last.Active.Allow || last.Shadow.Allow ||
		last.Shadow.Reasons[0] != "partners_paused" || last.Active.DecisionID == last.Shadow.DecisionID {
		t.Errorf("last divergence %+v", last)
	}
	if list[0].Member != "IT/GOV/MOD" {
		t.Errorf("oldest kept divergence %+v, want the 2nd of 4", list[0])
	}
	customs := list[1]
	if customs.Member != "AL/GOV/DPD" || !customs.Active.Allow || !customs.Shadow.Allow ||
		len(customs.Active.Redact) != 2 || len(customs.Shadow.Redact) != 1 {
		t.Errorf("customs divergence %+v", customs)
	}
	out := logs.String()
	if !strings.Contains(out, "shadow policy diverges") || !strings.Contains(out, last.Shadow.DecisionID) {
		t.Errorf("divergence not logged: %s", out)
	}
	for _, leak := range []string{"Novakova", "1840000", "KAYO", "Rinas"} {
		if strings.Contains(out, leak) {
			t.Errorf("divergence log carries record content %q", leak)
		}
	}

	// A burst is queued, not dropped: every decision is compared.
	for range 100 {
		if d := e.Decide(context.Background(), inputs[0]); !d.Allow || len(d.Redact) != 2 {
			t.Fatalf("burst: %+v", d)
		}
	}
	e.waitShadow()
	if got := testutil.ToFloat64(e.metrics.divergences); got != 104 {
		t.Errorf("after a burst of 100: %v divergences, want 104", got)
	}
	if got := testutil.ToFloat64(e.metrics.shadowSkipped); got != 0 {
		t.Errorf("%v comparisons skipped", got)
	}
}
