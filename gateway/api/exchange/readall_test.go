package exchange

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadAllWhateverIsDeclared: the declared length sizes the buffer and
// nothing else; a body longer or shorter than declared is read as it is,
// and the body limit still ends a longer one.
func TestReadAllWhateverIsDeclared(t *testing.T) {
	body := strings.Repeat("x", 3000)
	for _, declared := range []int64{-1, 0, 1, 511, 2999, 3000, 3001, 10000} {
		for name, r := range map[string]io.Reader{
			"whole":    strings.NewReader(body),
			"one byte": iotest.OneByteReader(strings.NewReader(body)),
		} {
			got, err := readAll(r, declared)
			if err != nil || string(got) != body {
				t.Errorf("declared %d, %s: %d bytes, %v", declared, name, len(got), err)
			}
		}
	}
	w := httptest.NewRecorder()
	_, err := readAll(http.MaxBytesReader(w, io.NopCloser(strings.NewReader(body)), 2000), 100)
	var mbe *http.MaxBytesError
	if !errors.As(err, &mbe) {
		t.Errorf("over the limit: %v, want *http.MaxBytesError", err)
	}
	boom := errors.New("boom")
	if _, err := readAll(io.MultiReader(bytes.NewReader([]byte("ab")), iotest.ErrReader(boom)), 2); !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
}
