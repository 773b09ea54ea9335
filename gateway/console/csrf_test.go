package console

import (
	"bytes"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// A form shown by one process is accepted by another (a replica, or the
// same gateway after a restart) when both have the configured key; with
// the random per-process key it is refused, which New warns about.
func TestCSRFKeySharedAcrossProcesses(t *testing.T) {
	key := bytes.Repeat([]byte{0x5a, 0xc3, 0x11, 0x7e}, 8)
	const binding = "AL/GOV/AUDIT|sha256:cert"
	newConsole := func(key []byte) (*Console, string) {
		t.Helper()
		var logs bytes.Buffer
		c, err := New(Options{CSRFKey: key, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return c, logs.String()
	}

	first, logs := newConsole(key)
	second, _ := newConsole(append([]byte(nil), key...))
	token := first.CSRF().Token(binding)
	if err := second.CSRF().Check(binding, token); err != nil {
		t.Fatalf("a token from a process with the same key: %v", err)
	}
	if strings.Contains(logs, "csrf_key_file") {
		t.Errorf("a configured key is warned about: %s", logs)
	}
	// The key itself is never logged, in any spelling.
	for _, spelling := range []string{string(key), hex.EncodeToString(key), "5ac3117e"} {
		if strings.Contains(logs, spelling) {
			t.Fatalf("the log holds the key: %s", logs)
		}
	}

	// The attack on a restart: the old form comes back to a process that
	// made itself a random key. It is refused, and the operator was told.
	random, logs := newConsole(nil)
	if err := random.CSRF().Check(binding, token); !errors.Is(err, ErrCSRFInvalid) {
		t.Fatalf("a token from another process's key: %v, want ErrCSRFInvalid", err)
	}
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "console.csrf_key_file is not set") {
		t.Fatalf("no warning about the per-process key: %q", logs)
	}

	if _, err := New(Options{CSRFKey: key[:31]}); err == nil {
		t.Fatal("a 31-byte key was accepted")
	}
}
