package store

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBadCursor is returned (wrapped) by Query when After is not a cursor this
// gateway handed out. Callers answer it as a client error.
var ErrBadCursor = errors.New("invalid cursor")

// EncodeCursor turns a store's insertion sequence into the opaque cursor
// callers see. Both stores use it, so a cursor means the same thing whichever
// driver is configured.
func EncodeCursor(seq uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// DecodeCursor is the inverse of EncodeCursor; "" is the start (0).
func DecodeCursor(c string) (uint64, error) {
	if c == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	// The decoder skips \r and \n; one position has one cursor.
	if err != nil || len(b) != 8 || base64.RawURLEncoding.EncodeToString(b) != c {
		return 0, fmt.Errorf("%w: %q", ErrBadCursor, c)
	}
	return binary.BigEndian.Uint64(b), nil
}
