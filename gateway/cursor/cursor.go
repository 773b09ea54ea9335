// Package cursor seals the positions a pull hands out, so that a cursor
// tells its holder nothing and is good only for the query it came from.
//
// A store position is a sequence number over every record written, hidden
// ones included: handed out as it is, two cursors would tell a partner how
// many records were written between them, and any well-formed number could
// be tried. A sealed cursor is the position encrypted and authenticated
// (AES-256-GCM, random nonce) with the member and the query as associated
// data: it has one length whatever the position, differs on every answer,
// and opens only for the same member asking the same query.
package cursor

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrInvalid is a cursor that does not open: not one this gateway handed
// out, handed out to another member or for another query, or altered.
var ErrInvalid = errors.New("cursor: not a cursor handed out for this query")

// MinKeyBytes is the shortest key accepted.
const MinKeyBytes = 32

// Len is the length of every sealed cursor, in characters.
var Len = base64.RawURLEncoding.EncodedLen(12 + 8 + 16)

// Sealer seals and opens cursors with one key. Every replica of a gateway
// must have the same key, or a cursor from one is refused by another.
type Sealer struct {
	aead cipher.AEAD
}

// New derives the sealing key from secret (at least MinKeyBytes).
func New(secret []byte) (*Sealer, error) {
	if len(secret) < MinKeyBytes {
		return nil, fmt.Errorf("cursor: key of %d bytes; at least %d are needed", len(secret), MinKeyBytes)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "ura cursor v1", 32)
	if err != nil {
		return nil, fmt.Errorf("cursor: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("cursor: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("cursor: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Random is a Sealer with a key of its own, for a gateway configured
// without one: its cursors stop opening when the process ends.
func Random() *Sealer {
	secret := make([]byte, MinKeyBytes)
	_, _ = rand.Read(secret) // crypto/rand never fails on supported platforms
	s, _ := New(secret)
	return s
}

// Seal hides position pos for binding (the member and the query).
func (s *Sealer) Seal(binding []byte, pos uint64) string {
	out := make([]byte, 12, 12+8+16)
	_, _ = rand.Read(out)
	var plain [8]byte
	binary.BigEndian.PutUint64(plain[:], pos)
	out = s.aead.Seal(out, out[:12], plain[:], binding)
	return base64.RawURLEncoding.EncodeToString(out)
}

// Open returns the position sealed in c for binding, or ErrInvalid.
func (s *Sealer) Open(binding []byte, c string) (uint64, error) {
	if len(c) != Len {
		return 0, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(c)
	if err != nil || len(raw) != 12+8+16 {
		return 0, ErrInvalid
	}
	plain, err := s.aead.Open(nil, raw[:12], raw[12:], binding)
	if err != nil {
		return 0, ErrInvalid
	}
	return binary.BigEndian.Uint64(plain), nil
}
