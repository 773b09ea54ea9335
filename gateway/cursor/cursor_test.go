package cursor

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func sealer(t testing.TB) *Sealer {
	t.Helper()
	s, err := New(bytes.Repeat([]byte{7}, MinKeyBytes))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	s := sealer(t)
	b := []byte("IT/GOV/MOD\x00kind=licence")
	for _, pos := range []uint64{0, 1, 1 << 40, ^uint64(0)} {
		c := s.Seal(b, pos)
		if len(c) != Len {
			t.Errorf("cursor of %d characters, want %d", len(c), Len)
		}
		got, err := s.Open(b, c)
		if err != nil || got != pos {
			t.Errorf("open(seal(%d)) = %d, %v", pos, got, err)
		}
	}
}

// TestCursorTellsNothing: the same position sealed twice gives two
// cursors; positions 0 and 2^40 give cursors of one length.
func TestCursorTellsNothing(t *testing.T) {
	s := sealer(t)
	b := []byte("m")
	if first, second := s.Seal(b, 5), s.Seal(b, 5); first == second {
		t.Error("the same position sealed twice gave the same cursor")
	}
	if len(s.Seal(b, 0)) != len(s.Seal(b, 1<<40)) {
		t.Error("cursor length depends on the position")
	}
}

// TestForgedAndForeignCursorsRefused: the attacks. A made-up cursor, a
// plain store position, a cursor with one character changed, a cursor of
// another member or another query, and one sealed with another key.
func TestForgedAndForeignCursorsRefused(t *testing.T) {
	s := sealer(t)
	mine := []byte("IT/GOV/MOD\x00kind=licence")
	c := s.Seal(mine, 42)
	other, _ := New(bytes.Repeat([]byte{8}, MinKeyBytes))
	flipped := []byte(c)
	flipped[20] ^= 1
	if flipped[20] == '-'^1 || flipped[20] == '_'^1 {
		flipped[20] = 'A'
	}
	for name, tc := range map[string]struct {
		binding []byte
		cursor  string
	}{
		"made up":        {mine, strings.Repeat("A", Len)},
		"store position": {mine, "AAAAAAAAACo"},
		"altered":        {mine, string(flipped)},
		"other member":   {[]byte("NATO/ORG/LIAISON\x00kind=licence"), c},
		"other query":    {[]byte("IT/GOV/MOD\x00kind=entity"), c},
		"other key":      {mine, other.Seal(mine, 42)},
		"empty":          {mine, ""},
	} {
		if _, err := s.Open(tc.binding, tc.cursor); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestShortKeyRefused(t *testing.T) {
	if _, err := New(make([]byte, MinKeyBytes-1)); err == nil {
		t.Error("a 31-byte key was accepted")
	}
}

// FuzzOpen: a cursor is outside input; nothing opens but what was sealed.
func FuzzOpen(f *testing.F) {
	s := sealer(f)
	f.Add([]byte("m"), s.Seal([]byte("m"), 1))
	f.Add([]byte(""), "")
	f.Fuzz(func(t *testing.T, binding []byte, c string) {
		pos, err := s.Open(binding, c)
		if err == nil && s.Seal(binding, pos) == c {
			t.Fatal("a cursor sealed twice the same way: the nonce is not random")
		}
		if err == nil && !bytes.Equal(binding, []byte("m")) {
			t.Fatalf("a cursor opened for a binding it was not sealed for: %q %q", binding, c)
		}
	})
}
