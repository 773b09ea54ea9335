package merkle

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/testonly"
)

func hd(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// leafHashes are the leaf hashes of the RFC 6962 test leaves.
func leafHashes(n int) [][]byte {
	in := testonly.LeafInputs()
	out := make([][]byte, n)
	for i := range out {
		out[i] = LeafHash(in[i])
	}
	return out
}

// TestRootVectors: the root of every prefix of the RFC 6962 test leaves,
// the empty tree included, is the published one.
func TestRootVectors(t *testing.T) {
	for size, want := range testonly.RootHashes() {
		got, err := Root(leafHashes(size))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("size %d: root %x, want %x", size, got, want)
		}
	}
}

// TestLeafAndNodeHash: the domain-separation prefixes of RFC 6962 §2.1.
func TestLeafAndNodeHash(t *testing.T) {
	nh := testonly.NodeHashes()
	in := testonly.LeafInputs()
	if got := LeafHash(in[0]); !bytes.Equal(got, nh[0][0]) {
		t.Errorf("leaf hash of the empty leaf %x, want %x", got, nh[0][0])
	}
	if got := NodeHash(nh[0][0], nh[0][1]); !bytes.Equal(got, nh[1][0]) {
		t.Errorf("node hash %x, want %x", got, nh[1][0])
	}
}

// TestLeafHashes: the leaves of a chunk hashed at once are each its
// LeafHash, the test vectors' own, and stay apart (none aliases another).
func TestLeafHashes(t *testing.T) {
	nh := testonly.NodeHashes()
	in := testonly.LeafInputs()
	for _, leaves := range [][][]byte{nil, in[:1], in} {
		got := LeafHashes(leaves)
		if len(got) != len(leaves) {
			t.Fatalf("%d hashes of %d leaves", len(got), len(leaves))
		}
		for i := range got {
			got[i] = append(got[i], 0xff) // may not write into its neighbour
		}
		for i, h := range got {
			if !bytes.Equal(h[:HashSize], nh[0][i]) || !bytes.Equal(h[:HashSize], LeafHash(leaves[i])) {
				t.Errorf("leaf %d: %x, want %x", i, h[:HashSize], nh[0][i])
			}
		}
	}
}

// TestInclusionVectors: the audit paths of the RFC 6962 test vectors (as
// the reference implementation's tests give them, leaf index from 0).
func TestInclusionVectors(t *testing.T) {
	for _, tc := range []struct {
		index, size uint64
		path        []string
	}{
		{0, 1, nil},
		{0, 8, []string{
			"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
		{5, 8, []string{
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
			"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
		{2, 3, []string{"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
		{1, 5, []string{
			"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
	} {
		t.Run(fmt.Sprintf("%d of %d", tc.index, tc.size), func(t *testing.T) {
			leaves := leafHashes(int(tc.size))
			got, err := InclusionProof(tc.index, leaves)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.path) {
				t.Fatalf("path of %d hashes, want %d", len(got), len(tc.path))
			}
			for i, h := range tc.path {
				if !bytes.Equal(got[i], hd(t, h)) {
					t.Errorf("path[%d] = %x, want %s", i, got[i], h)
				}
			}
			root := testonly.RootHashes()[tc.size]
			if err := VerifyInclusion(leaves[tc.index], tc.index, tc.size, got, root); err != nil {
				t.Errorf("the vector's own path: %v", err)
			}
		})
	}
}

// TestEveryProofVerifies: every leaf of every tree up to 70 leaves (odd
// sizes, powers of two and their neighbours) proves against the root, and
// against no other index.
func TestEveryProofVerifies(t *testing.T) {
	for size := 1; size <= 70; size++ {
		leaves := make([][]byte, size)
		for i := range leaves {
			leaves[i] = LeafHash([]byte(fmt.Sprintf("leaf %d", i)))
		}
		tree, err := New(leaves)
		if err != nil {
			t.Fatal(err)
		}
		for i := range leaves {
			path, err := tree.InclusionProof(uint64(i))
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(leaves[i], uint64(i), uint64(size), path, tree.Root()); err != nil {
				t.Fatalf("size %d leaf %d: %v", size, i, err)
			}
			for j := range leaves {
				if j != i && VerifyInclusion(leaves[i], uint64(j), uint64(size), path, tree.Root()) == nil {
					t.Fatalf("size %d: leaf %d's path verified as index %d", size, i, j)
				}
			}
		}
	}
}

// TestVerifyRefuses: the attacks on one proof, each refused with ErrProof.
func TestVerifyRefuses(t *testing.T) {
	leaves := leafHashes(7)
	tree, err := New(leaves)
	if err != nil {
		t.Fatal(err)
	}
	const index = 3
	path, err := tree.InclusionProof(index)
	if err != nil {
		t.Fatal(err)
	}
	root := tree.Root()
	other := LeafHash([]byte("another"))
	swapped := append([][]byte{}, path...)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	flipped := append([][]byte{}, path...)
	flipped[1] = append([]byte{}, path[1]...)
	flipped[1][0] ^= 1
	for _, tc := range []struct {
		name        string
		leaf        []byte
		index, size uint64
		path        [][]byte
		root        []byte
	}{
		{"another leaf", other, index, 7, path, root},
		{"wrong index", leaves[index], index - 1, 7, path, root},
		{"index past the end", leaves[index], 7, 7, path, root},
		{"a tree of another shape", leaves[index], index, 4, path, root},
		{"empty tree", leaves[index], 0, 0, nil, root},
		{"path shortened", leaves[index], index, 7, path[:len(path)-1], root},
		{"path extended", leaves[index], index, 7, append(append([][]byte{}, path...), other), root},
		{"path swapped", leaves[index], index, 7, swapped, root},
		{"path element changed", leaves[index], index, 7, flipped, root},
		{"path element truncated", leaves[index], index, 7, [][]byte{path[0][:31], path[1], path[2]}, root},
		{"another root", leaves[index], index, 7, path, testonly.RootHashes()[7][:31]},
		{"root of another tree", leaves[index], index, 7, path, testonly.RootHashes()[6]},
		{"leaf data, not its hash", testonly.LeafInputs()[index], index, 7, path, root},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyInclusion(tc.leaf, tc.index, tc.size, tc.path, tc.root)
			if !errors.Is(err, ErrProof) {
				t.Fatalf("err = %v, want ErrProof", err)
			}
		})
	}
}

// TestSizeIsNotInThePath: the same path proves leaf 3 in trees of 6, 7 and
// 8 leaves whose left halves agree, so the size a verifier checks against
// must be signed with the root, never read from beside the path.
func TestSizeIsNotInThePath(t *testing.T) {
	leaves := leafHashes(8)
	tree, err := New(leaves[:7])
	if err != nil {
		t.Fatal(err)
	}
	path, err := tree.InclusionProof(3)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []uint64{6, 7, 8} {
		if err := VerifyInclusion(leaves[3], 3, size, path, tree.Root()); err != nil {
			t.Errorf("size %d: %v", size, err)
		}
	}
}

// TestNewRefusesBadLeaf: a leaf that is not a SHA-256 hash is no leaf.
func TestNewRefusesBadLeaf(t *testing.T) {
	if _, err := New([][]byte{LeafHash(nil), []byte("short")}); err == nil {
		t.Fatal("a 5-byte leaf hash was taken")
	}
	if _, err := InclusionProof(2, leafHashes(2)); err == nil {
		t.Fatal("a proof of a leaf past the end")
	}
}

// FuzzVerifyInclusion: whatever the proof, VerifyInclusion never panics,
// and it accepts a proof only for the one index and size the leaf was
// proved at, with the path as made.
func FuzzVerifyInclusion(f *testing.F) {
	f.Add(uint16(7), uint16(3), uint16(3), uint16(7), []byte{}, byte(0))
	f.Add(uint16(1), uint16(0), uint16(0), uint16(1), []byte{1}, byte(0))
	f.Add(uint16(256), uint16(255), uint16(255), uint16(256), []byte{}, byte(0))
	f.Fuzz(func(t *testing.T, size, index, claimIndex, claimSize uint16, edit []byte, at byte) {
		n := int(size%300) + 1
		i := uint64(index) % uint64(n)
		leaves := make([][]byte, n)
		for k := range leaves {
			leaves[k] = LeafHash([]byte{byte(k), byte(k >> 8)})
		}
		tree, err := New(leaves)
		if err != nil {
			t.Fatal(err)
		}
		path, err := tree.InclusionProof(i)
		if err != nil {
			t.Fatal(err)
		}
		// Edit the path with the fuzzer's bytes: a changed element, or
		// elements dropped or added.
		changed := false
		if len(edit) > 0 && len(path) > 0 {
			k := int(at) % len(path)
			switch edit[0] % 3 {
			case 0:
				e := append([]byte{}, path[k]...)
				e[int(edit[len(edit)-1])%HashSize] ^= 1 | edit[0]
				path[k], changed = e, true
			case 1:
				path, changed = append(path[:k:k], path[k+1:]...), true
			case 2:
				path, changed = append(path, edit), true
			}
		}
		ci, cs := uint64(claimIndex), uint64(claimSize)
		err = VerifyInclusion(leaves[i], ci, cs, path, tree.Root())
		// The size is taken as given: a path may prove the same leaf in
		// trees of several sizes (leaf 3 is the same under the root of 6, 7
		// or 8 leaves' left half), so a verifier must take it from the
		// signature over the root, as sign.VerifyChunkLine does.
		switch {
		case cs != uint64(n):
		case ci == i && !changed && err != nil:
			t.Fatalf("the honest proof of %d of %d refused: %v", i, n, err)
		case (ci != i || changed) && err == nil:
			t.Fatalf("accepted leaf %d of %d claimed as index %d (path changed: %v)", i, n, ci, changed)
		}
		if err != nil && !errors.Is(err, ErrProof) {
			t.Fatalf("error %v does not wrap ErrProof", err)
		}
	})
}
