// Package merkle is the Merkle tree of RFC 6962 §2.1 (RFC 9162 §2.1) with
// SHA-256, for the chunk proofs of a pull (gateway/ARCHITECTURE.md,
// Signing): one signature over a chunk's root stands for each of its
// records, and an inclusion path proves one record is under that root.
//
// It is a thin layer over github.com/transparency-dev/merkle, which does the
// tree arithmetic; this package only fixes the hash (SHA-256 with the
// RFC 6962 leaf and node prefixes) and the shape of what it hands out.
package merkle

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// HashSize is the length of every hash of the tree: SHA-256.
const HashSize = sha256.Size

var hasher = rfc6962.DefaultHasher

// ErrProof wraps every reason VerifyInclusion refuses.
var ErrProof = errors.New("inclusion proof does not verify")

// LeafHash is SHA-256(0x00 || data).
func LeafHash(data []byte) []byte { return hasher.HashLeaf(data) }

// LeafHashes is LeafHash of each of leaves, in order, by one hasher into
// one array: a chunk's leaves cost no allocation each.
func LeafHashes(leaves [][]byte) [][]byte {
	h := sha256.New()
	all := make([]byte, 0, len(leaves)*HashSize)
	out := make([][]byte, len(leaves))
	prefix := []byte{rfc6962.RFC6962LeafHashPrefix}
	for i, l := range leaves {
		h.Reset()
		h.Write(prefix)
		h.Write(l)
		all = h.Sum(all)
		out[i] = all[i*HashSize : (i+1)*HashSize : (i+1)*HashSize]
	}
	return out
}

// NodeHash is SHA-256(0x01 || left || right).
func NodeHash(left, right []byte) []byte { return hasher.HashChildren(left, right) }

// Tree holds every node hash of a tree of leaf hashes that a proof may
// need: the roots of its perfect subtrees, level by level. Building it is
// one pass over the leaves; each proof after that is a look-up.
type Tree struct {
	// levels[l][i] is the hash of the perfect subtree of 2^l leaves that
	// starts at leaf i·2^l.
	levels [][][]byte
	root   []byte
	size   uint64
}

// New builds the tree of leafHashes, in order (each LeafHash of a leaf's
// data).
func New(leafHashes [][]byte) (*Tree, error) {
	t := &Tree{size: uint64(len(leafHashes))}
	rf := &compact.RangeFactory{Hash: hasher.HashChildren}
	r := rf.NewEmptyRange(0)
	visit := func(id compact.NodeID, hash []byte) {
		for len(t.levels) <= int(id.Level) {
			t.levels = append(t.levels, nil)
		}
		lvl := t.levels[id.Level]
		if uint64(len(lvl)) != id.Index {
			return // an ephemeral node of the root: never part of a proof as such
		}
		t.levels[id.Level] = append(lvl, hash)
	}
	for i, h := range leafHashes {
		if len(h) != HashSize {
			return nil, fmt.Errorf("merkle: leaf %d: hash of %d bytes, want %d", i, len(h), HashSize)
		}
		if err := r.Append(h, visit); err != nil {
			return nil, fmt.Errorf("merkle: %w", err)
		}
	}
	if t.size == 0 {
		t.root = hasher.EmptyRoot()
		return t, nil
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return nil, fmt.Errorf("merkle: %w", err)
	}
	t.root = root
	return t, nil
}

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return t.size }

// Root is the tree head (RFC 9162 §2.1.1): of no leaves, SHA-256 of
// nothing.
func (t *Tree) Root() []byte { return t.root }

// InclusionProof is the audit path of leaf index (RFC 9162 §2.1.3.1), from
// the leaf's sibling up.
func (t *Tree) InclusionProof(index uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, t.size)
	if err != nil {
		return nil, fmt.Errorf("merkle: %w", err)
	}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		if int(id.Level) >= len(t.levels) || id.Index >= uint64(len(t.levels[id.Level])) {
			return nil, fmt.Errorf("merkle: node %d/%d is not in a tree of %d leaves", id.Level, id.Index, t.size)
		}
		hashes[i] = t.levels[id.Level][id.Index]
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// Root is the root of the tree of leafHashes.
func Root(leafHashes [][]byte) ([]byte, error) {
	t, err := New(leafHashes)
	if err != nil {
		return nil, err
	}
	return t.Root(), nil
}

// InclusionProof is the audit path of leaf index in the tree of leafHashes.
func InclusionProof(index uint64, leafHashes [][]byte) ([][]byte, error) {
	t, err := New(leafHashes)
	if err != nil {
		return nil, err
	}
	return t.InclusionProof(index)
}

// VerifyInclusion checks that leafHash is leaf index of the tree of size
// leaves whose root is root, by path (RFC 9162 §2.1.3.2). Every hash must be
// HashSize bytes, index below size, and the path exactly as long as that
// index and size give: a path shortened, extended or reordered, or an index
// other than the leaf's, is refused. The error wraps ErrProof.
func VerifyInclusion(leafHash []byte, index, size uint64, path [][]byte, root []byte) error {
	if len(leafHash) != HashSize || len(root) != HashSize {
		return fmt.Errorf("%w: a hash is not %d bytes", ErrProof, HashSize)
	}
	for i, h := range path {
		if len(h) != HashSize {
			return fmt.Errorf("%w: path element %d is %d bytes, want %d", ErrProof, i, len(h), HashSize)
		}
	}
	if err := proof.VerifyInclusion(hasher, index, size, leafHash, path, root); err != nil {
		var mismatch proof.RootMismatchError
		if errors.As(err, &mismatch) {
			return fmt.Errorf("%w: the path leads to another root", ErrProof)
		}
		return fmt.Errorf("%w: %v", ErrProof, err)
	}
	return nil
}
