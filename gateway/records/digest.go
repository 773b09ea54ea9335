package records

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/gowebpki/jcs"
)

// Digest names a record's content: "sha256:" and the hex SHA-256 of the
// RFC 8785 (JSON Canonicalization Scheme) form of its canonical bytes
// (Canonical; what the store keeps in Record.Raw and a delivery signs). A
// push result carries the digest of what was pushed, so the pusher can hold
// the receiver to the exact content it took, whatever JSON library either
// side uses. The stored bytes keep numbers as they were decoded; the JCS
// form writes them as IEEE doubles, as RFC 8785 does. A record JCS cannot
// write (a number beyond an IEEE double) is digested over its canonical
// bytes as stored, on every side alike.
func Digest(canonical []byte) string {
	b, err := jcs.Transform(canonical)
	if err != nil {
		b = canonical
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
