package sign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// chunkOf signs payloads as one chunk of deliveries for IT/GOV/MOD with
// k's Ed25519 key under typ, its root's payload edited first when edit is
// set, and returns each line's delivery (base64url) and proof.
func chunkOf(t *testing.T, k *testKeys, typ string, payloads [][]byte, edit func(*Chunk)) ([]string, []Proof) {
	t.Helper()
	return signedLeaves(t, k, LeavesDelivery, "IT/GOV/MOD", typ, payloads, edit)
}

// signedLeaves signs payloads as one chunk of leaves (LeavesDelivery or
// LeavesResult) for recipient, its root a typ JWS, and returns each leaf
// (base64url) and its proof.
func signedLeaves(t *testing.T, k *testKeys, leaves, recipient, typ string, payloads [][]byte, edit func(*Chunk)) ([]string, []Proof) {
	t.Helper()
	tree, err := NewLeafTree(leaves, payloads)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tree.Payload(recipient, "ura", 1767225600)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var c Chunk
		_ = json.Unmarshal(raw, &c)
		edit(&c)
		raw, _ = json.Marshal(c)
	}
	root := compact(map[string]any{"alg": "EdDSA", "kid": "gw:1", "typ": typ}, raw, k.edSign)
	proofs, err := tree.Proofs(root)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(payloads))
	for i, p := range payloads {
		out[i] = b64.EncodeToString(p)
	}
	return out, proofs
}

func deliveryPayload(i int, recipient string) []byte {
	return fmt.Appendf(nil, `{"record":{"id":"AIM-LIC-2026-%06d","version":1},"decision_id":"d%d","policy_revision":"r","redactions":[],"translations":[],"recipient":%q,"iss":"ura","iat":1767225600}`, i, i, recipient)
}

// TestChunkProofs: every line of chunks of 1 to 20 deliveries verifies
// alone against the signed root, and yields its delivery payload.
func TestChunkProofs(t *testing.T) {
	k := newTestKeys(t)
	cv := NewChunkVerifier(NewVerifier(StaticKeys{Set: k.set}))
	for n := 1; n <= 20; n++ {
		payloads := make([][]byte, n)
		for i := range payloads {
			payloads[i] = deliveryPayload(i, "IT/GOV/MOD")
		}
		deliveries, proofs := chunkOf(t, k, TypChunk, payloads, nil)
		for i := range payloads {
			got, c, kid, err := cv.Verify(context.Background(), deliveries[i], proofs[i])
			if err != nil {
				t.Fatalf("%d of %d: %v", i, n, err)
			}
			if string(got) != string(payloads[i]) || c.TreeSize != n || c.Recipient != "IT/GOV/MOD" || kid != "gw:1" {
				t.Fatalf("%d of %d: payload %s chunk %+v kid %s", i, n, got, c, kid)
			}
		}
	}
}

// TestChunkProofAttacks: each way to pass off a delivery under a signed
// chunk that does not hold it is refused.
func TestChunkProofAttacks(t *testing.T) {
	k := newTestKeys(t)
	other := newTestKeys(t)
	payloads := make([][]byte, 7)
	for i := range payloads {
		payloads[i] = deliveryPayload(i, "IT/GOV/MOD")
	}
	d, p := chunkOf(t, k, TypChunk, payloads, nil)
	// Another chunk of the same recipient: its root and its lines.
	otherPayloads := [][]byte{deliveryPayload(100, "IT/GOV/MOD"), deliveryPayload(101, "IT/GOV/MOD"), deliveryPayload(102, "IT/GOV/MOD"),
		deliveryPayload(103, "IT/GOV/MOD"), deliveryPayload(104, "IT/GOV/MOD"), deliveryPayload(105, "IT/GOV/MOD"), deliveryPayload(106, "IT/GOV/MOD")}
	od, op := chunkOf(t, k, TypChunk, otherPayloads, nil)
	// A chunk whose deliveries were made for another member.
	liaison := [][]byte{deliveryPayload(0, "NATO/ORG/LIAISON"), deliveryPayload(1, "NATO/ORG/LIAISON")}
	ld, lp := chunkOf(t, k, TypChunk, liaison, func(c *Chunk) { c.Recipient = "IT/GOV/MOD" })
	wrongTyp, wrongTypP := chunkOf(t, k, TypDelivery, payloads, nil)
	_, leavesP := chunkOf(t, k, TypChunk, payloads, func(c *Chunk) { c.TypOfLeaves = "ura-result" })
	_, grownP := chunkOf(t, k, TypChunk, payloads, func(c *Chunk) { c.TreeSize = 8 })
	_, upperP := chunkOf(t, k, TypChunk, payloads, func(c *Chunk) { c.Root = strings.ToUpper(c.Root) })

	const i = 3
	with := func(f func(*Proof)) Proof {
		q := p[i]
		q.InclusionPath = append([]string{}, q.InclusionPath...)
		f(&q)
		return q
	}
	tampered := strings.Replace(string(payloads[i]), `"version":1`, `"version":2`, 1)
	parts := strings.Split(p[i].Root, ".")
	forgedRoot := parts[0] + "." + b64.EncodeToString([]byte(strings.Replace(string(must(b64.DecodeString(parts[1]))), `"tree_size":7`, `"tree_size":6`, 1))) + "." + parts[2]
	otherKeyRoot := with(func(q *Proof) {
		raw := must(b64.DecodeString(parts[1]))
		q.Root = compact(map[string]any{"alg": "EdDSA", "kid": "gw:1", "typ": TypChunk}, raw, other.edSign)
	})
	cases := []struct {
		name     string
		delivery string
		proof    Proof
		want     error
	}{
		{"tampered delivery", b64.EncodeToString([]byte(tampered)), p[i], ErrNotInChunk},
		{"delivery of another line", d[i+1], p[i], ErrNotInChunk},
		{"wrong leaf index", d[i], with(func(q *Proof) { q.LeafIndex = i + 1 }), ErrNotInChunk},
		{"leaf index negative", d[i], with(func(q *Proof) { q.LeafIndex = -1 }), ErrNotInChunk},
		{"leaf index past the end", d[i], with(func(q *Proof) { q.LeafIndex = 7 }), ErrNotInChunk},
		{"tree size edited", d[i], with(func(q *Proof) { q.TreeSize = 8 }), ErrNotInChunk},
		{"path swapped", d[i], with(func(q *Proof) {
			q.InclusionPath[0], q.InclusionPath[1] = q.InclusionPath[1], q.InclusionPath[0]
		}), ErrNotInChunk},
		{"path shortened", d[i], with(func(q *Proof) { q.InclusionPath = q.InclusionPath[:len(q.InclusionPath)-1] }), ErrNotInChunk},
		{"path extended", d[i], with(func(q *Proof) { q.InclusionPath = append(q.InclusionPath, q.InclusionPath[0]) }), ErrNotInChunk},
		{"path element not base64url", d[i], with(func(q *Proof) { q.InclusionPath[0] = "!!" }), ErrNotInChunk},
		{"path element of 31 bytes", d[i], with(func(q *Proof) { q.InclusionPath[0] = q.InclusionPath[0][:42] }), ErrNotInChunk},
		{"path too long", d[i], with(func(q *Proof) { q.InclusionPath = make([]string, 65) }), ErrNotInChunk},
		{"root of another chunk", d[i], with(func(q *Proof) { q.Root = op[i].Root }), ErrNotInChunk},
		{"line of another chunk under this root", od[i], p[i], ErrNotInChunk},
		{"root with typ ura-delivery+jws", wrongTyp[i], wrongTypP[i], ErrNotInChunk},
		{"root of other leaves", d[i], leavesP[i], ErrNotInChunk},
		{"root claiming one leaf more", d[i], grownP[i], ErrNotInChunk},
		{"root in upper-case hex", d[i], upperP[i], ErrNotInChunk},
		{"root payload edited", d[i], with(func(q *Proof) { q.Root = forgedRoot }), ErrBadSignature},
		{"root signed by another key, same kid", d[i], otherKeyRoot, ErrBadSignature},
		{"no root", d[i], with(func(q *Proof) { q.Root = "" }), ErrMalformed},
		{"deliveries for another member under a root for this one", ld[0], lp[0], ErrNotInChunk},
		{"delivery not base64url", "{}", p[i], ErrMalformed},
		{"delivery padded", d[i] + "=", p[i], ErrMalformed},
	}
	cv := NewChunkVerifier(NewVerifier(StaticKeys{Set: k.set}))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _, _, err := cv.Verify(context.Background(), tc.delivery, tc.proof)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got != nil {
				t.Fatal("a refused line returned a payload")
			}
		})
	}
	// The honest line still verifies after every attack on the cache.
	if _, _, _, err := cv.Verify(context.Background(), d[i], p[i]); err != nil {
		t.Fatal(err)
	}
}

// leafChunkOf signs payloads as one chunk of leaves (LeavesDelivery or
// LeavesResult) for recipient, as a gateway signs a push answer.
func leafChunkOf(t *testing.T, k *testKeys, leaves, recipient string, payloads [][]byte) ([]string, []Proof) {
	t.Helper()
	return signedLeaves(t, k, leaves, recipient, TypChunk, payloads, nil)
}

func resultPayload(i int, recipient string) []byte {
	return fmt.Appendf(nil, `{"index":%d,"id":"AIM-LIC-2026-%06d","version":1,"status":"accepted","decision_id":"d%d","digest":"sha256:00","audit_seq":%d,"recipient":%q,"iss":"ura","iat":1767225600}`, i, i, i, i+10, recipient)
}

// TestChunkResultProofs: every result of push answers of 1 to 20 results
// verifies alone under its root (typ_of_leaves ura-result), and yields its
// signed payload; the same leaves are never taken for deliveries.
func TestChunkResultProofs(t *testing.T) {
	k := newTestKeys(t)
	cv := NewChunkVerifier(NewVerifier(StaticKeys{Set: k.set}))
	for n := 1; n <= 20; n++ {
		payloads := make([][]byte, n)
		for i := range payloads {
			payloads[i] = resultPayload(i, "AL/GOV/AIM")
		}
		results, proofs := leafChunkOf(t, k, LeavesResult, "AL/GOV/AIM", payloads)
		for i := range payloads {
			got, c, kid, err := cv.VerifyResult(context.Background(), results[i], proofs[i])
			if err != nil {
				t.Fatalf("%d of %d: %v", i, n, err)
			}
			if string(got) != string(payloads[i]) || c.TreeSize != n || c.TypOfLeaves != LeavesResult || c.Recipient != "AL/GOV/AIM" || kid != "gw:1" {
				t.Fatalf("%d of %d: payload %s chunk %+v kid %s", i, n, got, c, kid)
			}
			if _, _, _, err := cv.Verify(context.Background(), results[i], proofs[i]); !errors.Is(err, ErrNotInChunk) {
				t.Fatalf("%d of %d: a result taken for a delivery: %v", i, n, err)
			}
		}
	}
}

// TestChunkResultProofAttacks: each way to pass off a push result under a
// signed root that does not hold it is refused, and so is a delivery passed
// off as a result or a result as a delivery.
func TestChunkResultProofAttacks(t *testing.T) {
	k := newTestKeys(t)
	payloads := make([][]byte, 7)
	for i := range payloads {
		payloads[i] = resultPayload(i, "AL/GOV/AIM")
	}
	r, p := leafChunkOf(t, k, LeavesResult, "AL/GOV/AIM", payloads)
	// Another push answer of the same member.
	other := make([][]byte, 7)
	for i := range other {
		other[i] = resultPayload(i+100, "AL/GOV/AIM")
	}
	or, op := leafChunkOf(t, k, LeavesResult, "AL/GOV/AIM", other)
	// A pull's chunk of deliveries for the same member.
	deliveries := make([][]byte, 7)
	for i := range deliveries {
		deliveries[i] = deliveryPayload(i, "AL/GOV/AIM")
	}
	dd, dp := leafChunkOf(t, k, LeavesDelivery, "AL/GOV/AIM", deliveries)
	// Deliveries under a root that calls them results (a root no gateway
	// makes, signed with its key).
	mislabelled, mp := leafChunkOf(t, k, LeavesResult, "AL/GOV/AIM", deliveries)
	// Results made for another member under a root for this one.
	liaison := [][]byte{resultPayload(0, "NATO/ORG/LIAISON"), resultPayload(1, "NATO/ORG/LIAISON")}
	lr, lp := leafChunkOf(t, k, LeavesResult, "AL/GOV/AIM", liaison)

	const i = 3
	with := func(f func(*Proof)) Proof {
		q := p[i]
		q.InclusionPath = append([]string{}, q.InclusionPath...)
		f(&q)
		return q
	}
	changed := b64.EncodeToString([]byte(strings.Replace(string(payloads[i]), `"status":"accepted"`, `"status":"denied"`, 1)))
	cases := []struct {
		name   string
		result string
		proof  Proof
		want   error
	}{
		{"result payload changed", changed, p[i], ErrNotInChunk},
		{"result of another line", r[i+1], p[i], ErrNotInChunk},
		{"wrong leaf index", r[i], with(func(q *Proof) { q.LeafIndex = i + 1 }), ErrNotInChunk},
		{"path swapped", r[i], with(func(q *Proof) {
			q.InclusionPath[0], q.InclusionPath[1] = q.InclusionPath[1], q.InclusionPath[0]
		}), ErrNotInChunk},
		{"root of another push answer", r[i], with(func(q *Proof) { q.Root = op[i].Root }), ErrNotInChunk},
		{"result of another push answer under this root", or[i], p[i], ErrNotInChunk},
		{"root of a delivery chunk", r[i], with(func(q *Proof) { q.Root = dp[i].Root }), ErrNotInChunk},
		{"a delivery with its own proof, as a result", dd[i], dp[i], ErrNotInChunk},
		{"deliveries under a root of results", mislabelled[i], mp[i], ErrNotInChunk},
		{"results for another member under a root for this one", lr[0], lp[0], ErrNotInChunk},
	}
	cv := NewChunkVerifier(NewVerifier(StaticKeys{Set: k.set}))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _, _, err := cv.VerifyResult(context.Background(), tc.result, tc.proof)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got != nil {
				t.Fatal("a refused result returned a payload")
			}
		})
	}
	// And the reverse: a result with its proof is no delivery.
	if _, _, _, err := cv.Verify(context.Background(), r[i], p[i]); !errors.Is(err, ErrNotInChunk) {
		t.Errorf("a result taken for a delivery: %v", err)
	}
	if _, _, _, err := cv.VerifyResult(context.Background(), r[i], p[i]); err != nil {
		t.Fatal(err)
	}
}
