package store

import (
	"errors"
	"math"
	"testing"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, seq := range []uint64{0, 1, 255, 256, 1 << 40, math.MaxUint64} {
		c := EncodeCursor(seq)
		got, err := DecodeCursor(c)
		if err != nil || got != seq {
			t.Errorf("DecodeCursor(EncodeCursor(%d) = %q) = %d, %v", seq, c, got, err)
		}
	}
	if got, err := DecodeCursor(""); err != nil || got != 0 {
		t.Errorf("empty cursor = %d, %v; want the start", got, err)
	}
}

func TestCursorRejects(t *testing.T) {
	for _, c := range []string{"!", "AAAA", "AAAAAAAAAAAA", "AAAAAAAAAAA=", "AAAAAAAAAA-", "AAAAAAAAAAAAAAAAAAAAAA", " AAAAAAAAAAA", "AAAAAAAAAA+"} {
		if _, err := DecodeCursor(c); !errors.Is(err, ErrBadCursor) {
			t.Errorf("DecodeCursor(%q) = %v, want ErrBadCursor", c, err)
		}
	}
}

// FuzzDecodeCursor: a cursor comes from the caller's query string.
func FuzzDecodeCursor(f *testing.F) {
	f.Add("")
	f.Add(EncodeCursor(42))
	f.Add("AAAAAAAAAA-")
	f.Fuzz(func(t *testing.T, c string) {
		seq, err := DecodeCursor(c)
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("error %v is not ErrBadCursor", err)
			}
			return
		}
		if c != "" && EncodeCursor(seq) != c {
			t.Fatalf("%q decodes to %d, which encodes as %q", c, seq, EncodeCursor(seq))
		}
	})
}
