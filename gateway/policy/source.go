package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
)

// maxBundleBytes bounds what a policy source may hold, compressed or not: a
// policy is kilobytes, so anything near this is a mistake or an attack.
const maxBundleBytes = 32 << 20

// Source is where a policy bundle comes from: the embedded default, a
// directory, or a signed OPA bundle tarball.
type Source struct {
	// Kind is "embedded", "dir" or "bundle".
	Kind string
	// Path is the directory or the tarball; empty for the embedded bundle.
	Path string
	// FS is the embedded bundle's files.
	FS fs.FS
	// Verify is required for a bundle: a tarball whose signature does not
	// verify with it is refused.
	Verify *bundle.VerificationConfig
}

// Source kinds.
const (
	SourceEmbedded = "embedded"
	SourceDir      = "dir"
	SourceBundle   = "bundle"
)

// EmbeddedSource is the default bundle compiled into the binary.
func EmbeddedSource(fsys fs.FS) Source { return Source{Kind: SourceEmbedded, FS: fsys} }

// DirSource is a directory that replaces the embedded bundle.
func DirSource(dir string) Source { return Source{Kind: SourceDir, Path: dir} }

// BundleSource is an OPA bundle tarball verified with vc.
func BundleSource(file string, vc *bundle.VerificationConfig) Source {
	return Source{Kind: SourceBundle, Path: file, Verify: vc}
}

func (s Source) String() string {
	if s.Path == "" {
		return s.Kind
	}
	return s.Kind + " " + s.Path
}

// snapshot is one read of a source: the files that make up the policy and
// the raw bytes OPA's reader is given, so that what is hashed is exactly
// what is compiled.
type snapshot struct {
	files    map[string][]byte // bundle-relative path → content
	tarball  []byte
	revision string
}

// policyFile reports whether a bundle file takes part in decisions. Tests
// are run by `ura policy test`, not compiled into the gateway, so editing a
// test does not change the revision.
func policyFile(p string) bool {
	base := path.Base(p)
	switch {
	case strings.HasSuffix(base, "_test.rego"):
		return false
	case strings.HasSuffix(base, ".rego"):
		return true
	case base == "data.json", base == "data.yaml", base == "data.yml", base == ".manifest":
		return true
	}
	return false
}

// read takes one consistent copy of the source.
func (s Source) read() (*snapshot, error) { return s.readFiles(false) }

// readFiles is read, with the Rego tests too when withTests is set.
func (s Source) readFiles(withTests bool) (*snapshot, error) {
	switch s.Kind {
	case SourceEmbedded:
		return readFS(s.FS, withTests)
	case SourceDir:
		return readFS(os.DirFS(s.Path), withTests)
	case SourceBundle:
		raw, err := readLimited(s.Path)
		if err != nil {
			return nil, err
		}
		files, err := untar(raw)
		if err != nil {
			return nil, fmt.Errorf("bundle %s: %w", s.Path, err)
		}
		return &snapshot{files: files, tarball: raw, revision: revisionOf(files)}, nil
	}
	return nil, fmt.Errorf("unknown policy source kind %q", s.Kind)
}

func readLimited(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose on close
	raw, err := io.ReadAll(io.LimitReader(f, maxBundleBytes+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxBundleBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", file, maxBundleBytes)
	}
	return raw, nil
}

func readFS(fsys fs.FS, withTests bool) (*snapshot, error) {
	files := map[string][]byte{}
	total := 0
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		wanted := policyFile(p) || withTests && isTestFile(p)
		if !d.Type().IsRegular() || !wanted {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if total += len(b); total > maxBundleBytes {
			return fmt.Errorf("policy files exceed %d bytes", maxBundleBytes)
		}
		files[p] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no policy files (*.rego, data.json) found")
	}
	tb, err := tarball(files)
	if err != nil {
		return nil, err
	}
	return &snapshot{files: files, tarball: tb, revision: revisionOf(files)}, nil
}

func isTestFile(p string) bool { return strings.HasSuffix(path.Base(p), "_test.rego") }

// revisionOf is the bundle hash: SHA-256 over every policy file's path and
// content digest, in path order. It depends on nothing but the files, so the
// same policy has the same revision on every gateway and after a restart.
func revisionOf(files map[string][]byte) string {
	paths := make([]string, 0, len(files))
	for p := range files {
		if policyFile(p) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	h := sha256.New()
	for _, p := range paths {
		d := sha256.Sum256(files[p])
		_, _ = fmt.Fprintf(h, "%s\x00%x\n", p, d) // a hash.Hash never returns a write error
	}
	return hex.EncodeToString(h.Sum(nil))
}

// tarball packs files as an OPA bundle, so that a directory and a signed
// tarball go through the same reader.
func tarball(files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		b := files[p]
		if err := tw.WriteHeader(&tar.Header{Name: "/" + p, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func untar(raw []byte) (map[string][]byte, error) {
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not a gzip tarball: %w", err)
	}
	tr := tar.NewReader(io.LimitReader(gz, maxBundleBytes+1))
	files := map[string][]byte{}
	total := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		p := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		if total += len(b); total > maxBundleBytes {
			return nil, fmt.Errorf("bundle expands beyond %d bytes", maxBundleBytes)
		}
		files[p] = b
	}
	return files, nil
}

// loaded is a source read, verified and parsed, not yet compiled.
type loaded struct {
	source   Source
	revision string
	// manifestRevision is the revision the bundle's .manifest declares, if any.
	manifestRevision string
	modules          map[string]*ast.Module
	data             map[string]any
}

// load reads, verifies and parses a source. Nothing here changes the running
// policy: a failure leaves it as it was.
func (s Source) load() (*loaded, error) {
	snap, err := s.read()
	if err != nil {
		return nil, err
	}
	return s.loadSnapshot(snap)
}

// loadSnapshot verifies and parses what read returned.
func (s Source) loadSnapshot(snap *snapshot) (*loaded, error) { return s.parse(snap, false) }

// parse verifies and parses a snapshot; Rego tests are kept only when
// withTests is set.
func (s Source) parse(snap *snapshot, withTests bool) (*loaded, error) {
	r := bundle.NewReader(bytes.NewReader(snap.tarball)).
		WithSizeLimitBytes(maxBundleBytes).
		WithRegoVersion(ast.RegoV1)
	if s.Kind == SourceBundle {
		if s.Verify == nil {
			return nil, errors.New("a policy bundle needs a verification key")
		}
		r = r.WithBundleVerificationConfig(s.Verify)
	} else {
		r = r.WithSkipBundleVerification(true)
	}
	b, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s, err)
	}
	l := &loaded{
		source:           s,
		revision:         snap.revision,
		manifestRevision: b.Manifest.Revision,
		modules:          map[string]*ast.Module{},
		data:             b.Data,
	}
	if l.data == nil {
		l.data = map[string]any{}
	}
	for _, mf := range b.Modules {
		if !withTests && isTestFile(mf.Path) {
			continue
		}
		l.modules[mf.Path] = mf.Parsed
	}
	if len(l.modules) == 0 {
		return nil, fmt.Errorf("%s: no Rego modules", s)
	}
	return l, nil
}
