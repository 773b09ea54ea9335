package records

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// TestDigestIsRFC8785: two spellings of one JSON value (key order,
// whitespace, number forms, escapes) have one digest, that of the RFC 8785
// form; a different value has another.
func TestDigestIsRFC8785(t *testing.T) {
	a := Digest([]byte(`{"b":1.50,"a":"\u00e9","c":[1e2,-0]}`))
	b := Digest([]byte(`{ "a":"é", "c":[100, 0], "b":1.5 }`))
	if a != b {
		t.Fatalf("one value, two digests: %s %s", a, b)
	}
	sum := sha256.Sum256([]byte(`{"a":"é","b":1.5,"c":[100,0]}`))
	if want := "sha256:" + hex.EncodeToString(sum[:]); a != want {
		t.Fatalf("digest %s, want that of the RFC 8785 form %s", a, want)
	}
	if Digest([]byte(`{"b":1.51}`)) == Digest([]byte(`{"b":1.5}`)) {
		t.Fatal("two values, one digest")
	}
	// Beyond an IEEE double: digested over the bytes as stored, not refused.
	if d := Digest([]byte(`{"n":1e400}`)); d == "" {
		t.Fatal("no digest")
	}
}
