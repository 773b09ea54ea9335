package policy

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzBundleSource feeds arbitrary bytes to the signed-bundle loader: the
// tarball is outside input until its signature verifies. Nothing may panic,
// and nothing but the signer's bundle may load.
func FuzzBundleSource(f *testing.F) {
	signer := newTestSigner(f)
	good := bundleOf(f, signer, "seed", nil)
	f.Add(good)
	f.Add(retar(f, good, "data.json", func(b []byte) []byte { return append(b, ' ') }))
	f.Add(bundleOf(f, nil, "unsigned", nil))
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x1f, 0x8b})
	f.Add([]byte("not a tarball"))
	dir := f.TempDir()
	vc := signer.verification()
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(dir, "b.tar.gz")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := BundleSource(path, vc).load()
		if err == nil && string(raw) != string(good) {
			// Only a bundle with a valid signature over every file loads;
			// the fuzzer cannot forge one, but it may re-pack the seed.
			if l.manifestRevision != "seed" {
				t.Fatalf("an unsigned variant loaded: revision %q", l.manifestRevision)
			}
		}
	})
}

// FuzzUntar: the tar reader that computes a bundle's revision before OPA
// reads it must cope with anything.
func FuzzUntar(f *testing.F) {
	f.Add(bundleOf(f, nil, "seed", nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		files, err := untar(raw)
		if err == nil {
			_ = revisionOf(files)
		}
	})
}
