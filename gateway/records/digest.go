package records

import (
	"crypto/sha256"
	"encoding/hex"
)

// Digest names a record's content: "sha256:" and the hex SHA-256 of its
// canonical bytes (Canonical; what the store keeps in Record.Raw and a
// delivery signs). A push result carries the digest of what was pushed, so
// the pusher can hold the receiver to the exact bytes it took.
func Digest(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return "sha256:" + hex.EncodeToString(sum[:])
}
