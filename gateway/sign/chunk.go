package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"sync"

	"github.com/ura-gateway/ura/gateway/merkle"
)

// The chunk proof profile (gateway/ARCHITECTURE.md, Signing): a chunk of a
// pull, or a push answer, is signed once, over the Merkle root
// (gateway/merkle) of its deliveries or results, and each travels with its
// inclusion path to that root. One line still verifies alone: the root's
// JWS, the leaf hash of the payload, and the path between them.
const (
	// TypChunk marks the signed root of one chunk of deliveries or results.
	TypChunk = "ura-chunk+jws"
	// LeavesDelivery is what every leaf under a pull's chunk root is: the
	// payload of a TypDelivery JWS, byte for byte.
	LeavesDelivery = "ura-delivery"
	// LeavesResult is what every leaf under a push answer's chunk root is:
	// the payload of a TypResult JWS, byte for byte.
	LeavesResult = "ura-result"
	// rootPrefix introduces the hex Merkle root in a Chunk.
	rootPrefix = "sha256:"
)

// Chunk is the signed payload of a chunk's root: the Merkle tree head of
// the chunk's delivery (or result) payloads, bound to the member they were
// made for.
type Chunk struct {
	// Root is "sha256:" and the lowercase hex tree head (RFC 9162 §2.1.1).
	Root string `json:"root"`
	// TreeSize is how many deliveries the chunk holds.
	TreeSize int `json:"tree_size"`
	// TypOfLeaves is LeavesDelivery or LeavesResult: a leaf is never read
	// as anything else.
	TypOfLeaves string `json:"typ_of_leaves"`
	Recipient   string `json:"recipient"`
	Issuer      string `json:"iss"`
	IssuedAt    int64  `json:"iat"`
}

// Proof is what a delivered line carries beside its delivery under the
// chunk profile: where the delivery sits in its chunk and the path from it
// to the signed root.
type Proof struct {
	LeafIndex int `json:"leaf_index"`
	TreeSize  int `json:"tree_size"`
	// InclusionPath is the audit path, base64url without padding, from
	// the leaf's sibling up (RFC 9162 §2.1.3.1).
	InclusionPath []string `json:"inclusion_path"`
	// Root is the chunk's compact JWS, typ TypChunk.
	Root string `json:"root"`
}

// ChunkTree is a chunk of delivery (or result) payloads as a Merkle tree:
// the payload to sign for its root, and each leaf's proof once it is
// signed.
type ChunkTree struct {
	tree   *merkle.Tree
	leaves string
}

// NewChunkTree builds the tree over payloads, each a delivery payload
// exactly as it is sent (its leaf is SHA-256(0x00 || payload)).
func NewChunkTree(payloads [][]byte) (*ChunkTree, error) {
	return NewLeafTree(LeavesDelivery, payloads)
}

// NewLeafTree builds the tree over payloads whose kind is leaves
// (LeavesDelivery or LeavesResult), each exactly as it is sent.
func NewLeafTree(leaves string, payloads [][]byte) (*ChunkTree, error) {
	if leaves != LeavesDelivery && leaves != LeavesResult {
		return nil, fmt.Errorf("a chunk of %q leaves", leaves)
	}
	t, err := merkle.New(merkle.LeafHashes(payloads))
	if err != nil {
		return nil, err
	}
	return &ChunkTree{tree: t, leaves: leaves}, nil
}

// Payload is the Chunk to sign for this tree.
func (c *ChunkTree) Payload(recipient, issuer string, iat int64) ([]byte, error) {
	return json.Marshal(Chunk{Root: rootPrefix + hex.EncodeToString(c.tree.Root()), TreeSize: int(c.tree.Size()),
		TypOfLeaves: c.leaves, Recipient: recipient, Issuer: issuer, IssuedAt: iat})
}

// Proofs are the proofs of every leaf, in order, under the signed root
// rootJWS.
func (c *ChunkTree) Proofs(rootJWS string) ([]Proof, error) {
	n := int(c.tree.Size())
	out := make([]Proof, n)
	// A node is on the path of every leaf below its sibling: each is
	// encoded once, and its string shared by all those paths.
	encoded := make(map[string]string, n)
	// Every path is cut from one array: a path is at most one hash per
	// level, and there is one array to allocate instead of one per leaf.
	depth := bits.Len(uint(n))
	all := make([]string, 0, n*depth)
	for i := range out {
		path, err := c.tree.InclusionProof(uint64(i))
		if err != nil {
			return nil, err
		}
		start := len(all)
		for _, h := range path {
			s, ok := encoded[string(h)]
			if !ok {
				s = base64.RawURLEncoding.EncodeToString(h)
				encoded[string(h)] = s
			}
			all = append(all, s)
		}
		out[i] = Proof{LeafIndex: i, TreeSize: n, InclusionPath: all[start:len(all):len(all)], Root: rootJWS}
	}
	return out, nil
}

// ErrNotInChunk wraps every reason a delivery or result is refused under
// its chunk proof once the root's signature has verified: the path, the
// index, the size, the kind of leaf or the recipient do not agree with the
// signed root.
var ErrNotInChunk = errors.New("the delivery is not in the signed chunk")

// maxPath bounds an inclusion path read from outside: a tree of 2^63
// leaves needs 63 hashes.
const maxPath = 64

// ChunkVerifier verifies lines of the chunk profile. It remembers each root
// JWS it verified, so the lines of one chunk cost one signature check, not
// one each. Safe for concurrent use.
type ChunkVerifier struct {
	v     *Verifier
	mu    sync.Mutex
	roots map[string]verifiedRoot
}

type verifiedRoot struct {
	chunk Chunk
	root  []byte
	kid   string
}

// NewChunkVerifier verifies with v's keys.
func NewChunkVerifier(v *Verifier) *ChunkVerifier {
	return &ChunkVerifier{v: v, roots: map[string]verifiedRoot{}}
}

// Verify checks one delivered line of the chunk profile: delivery is the
// line's base64url delivery payload and p its proof. The root's JWS must
// verify with typ TypChunk and carry a Chunk of LeavesDelivery; the line's
// tree_size must be the signed one and its leaf_index inside it; the
// delivery's leaf hash with the inclusion path must give the signed root;
// and the delivery must be made for the chunk's recipient by its issuer.
// It returns the delivery payload, which is then as good as a verified
// TypDelivery JWS's, the signed Chunk and the kid. The error wraps
// ErrNotInChunk, or one of Verify's.
func (cv *ChunkVerifier) Verify(ctx context.Context, delivery string, p Proof) ([]byte, Chunk, string, error) {
	return cv.verifyLeaf(ctx, LeavesDelivery, delivery, p)
}

// VerifyResult checks one push result of the chunk profile as Verify
// checks a delivered line, under a root whose leaves are LeavesResult:
// result is the result's base64url payload. A delivery is never taken
// for a result, nor a result for a delivery: the signed root names what
// its leaves are, and each leaf must be one.
func (cv *ChunkVerifier) VerifyResult(ctx context.Context, result string, p Proof) ([]byte, Chunk, string, error) {
	return cv.verifyLeaf(ctx, LeavesResult, result, p)
}

func (cv *ChunkVerifier) verifyLeaf(ctx context.Context, leaves, leaf string, p Proof) ([]byte, Chunk, string, error) {
	r, err := cv.root(ctx, p.Root)
	if err != nil {
		return nil, Chunk{}, r.kid, err
	}
	if r.chunk.TypOfLeaves != leaves {
		return nil, r.chunk, r.kid, fmt.Errorf("%w: the signed root's leaves are %q, want %q", ErrNotInChunk, r.chunk.TypOfLeaves, leaves)
	}
	payload, err := checkInclusion(r, leaf, p)
	if err != nil {
		return nil, r.chunk, r.kid, err
	}
	return payload, r.chunk, r.kid, nil
}

func (cv *ChunkVerifier) root(ctx context.Context, compact string) (verifiedRoot, error) {
	cv.mu.Lock()
	r, ok := cv.roots[compact]
	cv.mu.Unlock()
	if ok {
		return r, nil
	}
	if compact == "" {
		return r, fmt.Errorf("%w: the proof has no root", ErrMalformed)
	}
	payload, kid, err := cv.v.VerifyContext(ctx, compact)
	r.kid = kid
	if err != nil {
		return r, err
	}
	// The protected header is covered by the signature just checked.
	if typ := Typ(compact); typ != TypChunk {
		return r, fmt.Errorf("%w: the root has typ %q, want %q", ErrNotInChunk, typ, TypChunk)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&r.chunk); err != nil {
		return r, fmt.Errorf("%w: the signed root is not a chunk: %v", ErrNotInChunk, err)
	}
	c := r.chunk
	hexRoot, ok := strings.CutPrefix(c.Root, rootPrefix)
	r.root, err = hex.DecodeString(hexRoot)
	switch {
	case !ok || err != nil || len(r.root) != merkle.HashSize || hexRoot != strings.ToLower(hexRoot):
		return r, fmt.Errorf("%w: the signed root %q is not sha256:<64 lowercase hex>", ErrNotInChunk, c.Root)
	case c.TreeSize < 1:
		return r, fmt.Errorf("%w: the signed root has tree_size %d", ErrNotInChunk, c.TreeSize)
	case c.TypOfLeaves != LeavesDelivery && c.TypOfLeaves != LeavesResult:
		return r, fmt.Errorf("%w: the signed root's leaves are %q, want %q or %q", ErrNotInChunk, c.TypOfLeaves, LeavesDelivery, LeavesResult)
	}
	cv.mu.Lock()
	cv.roots[compact] = r
	cv.mu.Unlock()
	return r, nil
}

func checkInclusion(r verifiedRoot, leaf string, p Proof) ([]byte, error) {
	c := r.chunk
	switch {
	case p.TreeSize != c.TreeSize:
		return nil, fmt.Errorf("%w: the line says tree_size %d, the signed root %d", ErrNotInChunk, p.TreeSize, c.TreeSize)
	case p.LeafIndex < 0 || p.LeafIndex >= c.TreeSize:
		return nil, fmt.Errorf("%w: leaf_index %d outside a tree of %d", ErrNotInChunk, p.LeafIndex, c.TreeSize)
	case len(p.InclusionPath) > maxPath:
		return nil, fmt.Errorf("%w: an inclusion path of %d hashes", ErrNotInChunk, len(p.InclusionPath))
	case len(leaf) > maxJWSLen:
		return nil, fmt.Errorf("%w: a %s longer than %d bytes", ErrMalformed, noun(c.TypOfLeaves), maxJWSLen)
	}
	payload, err := base64.RawURLEncoding.DecodeString(leaf)
	if err != nil {
		return nil, fmt.Errorf("%w: the %s is not base64url", ErrMalformed, noun(c.TypOfLeaves))
	}
	path := make([][]byte, len(p.InclusionPath))
	for i, s := range p.InclusionPath {
		if path[i], err = base64.RawURLEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("%w: inclusion_path[%d] is not base64url", ErrNotInChunk, i)
		}
	}
	if err := merkle.VerifyInclusion(merkle.LeafHash(payload), uint64(p.LeafIndex), uint64(c.TreeSize), path, r.root); err != nil {
		return nil, fmt.Errorf("%w: the %s and its inclusion path do not lead to the signed root (a payload, leaf_index or path changed, or a root of another chunk)", ErrNotInChunk, noun(c.TypOfLeaves))
	}
	var d struct {
		Record    json.RawMessage `json:"record"`
		Status    string          `json:"status"`
		Recipient string          `json:"recipient"`
		Issuer    string          `json:"iss"`
	}
	if err := json.Unmarshal(payload, &d); err != nil {
		return nil, fmt.Errorf("%w: the leaf is not a %s", ErrNotInChunk, noun(c.TypOfLeaves))
	}
	// Belt and braces beside typ_of_leaves: a delivery carries a record and
	// a result a status, never the other.
	if c.TypOfLeaves == LeavesDelivery && (len(d.Record) == 0 || d.Status != "") ||
		c.TypOfLeaves == LeavesResult && (d.Status == "" || len(d.Record) != 0) {
		return nil, fmt.Errorf("%w: the leaf is not a %s", ErrNotInChunk, noun(c.TypOfLeaves))
	}
	if d.Recipient != c.Recipient || d.Issuer != c.Issuer {
		return nil, fmt.Errorf("%w: the %s was made for %q by %q, the chunk for %q by %q",
			ErrNotInChunk, noun(c.TypOfLeaves), d.Recipient, d.Issuer, c.Recipient, c.Issuer)
	}
	return payload, nil
}

// noun names a kind of leaf in an error: "delivery" or "result".
func noun(leaves string) string {
	return strings.TrimPrefix(leaves, "ura-")
}
