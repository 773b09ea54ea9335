package audit

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/verdict"
)

func weirdEvent(s string, n int) Event {
	return Event{
		Time:       time.Date(2026, 6, 2, 8, 0, 0, n*1000, time.UTC),
		RequestID:  s,
		Member:     "AL/GOV/" + s,
		Action:     s,
		Decision:   s,
		DecisionID: s + `","member":"forged`,
		RecordID:   s,
		Reasons:    []verdict.Reason{{Code: s, Message: s + "\u2028\x00\"\\ë<&>"}},
		Redactions: []verdict.Redaction{{Pointer: "/licence/" + s, Rule: s}, {Pointer: "/licence/" + s}},
		Status:     n,
		Records:    n,
		Shadow:     &Shadow{Decision: s, Revision: s},
	}
}

// TestSealIsCanonical: the one-pass line equals the library's canonical
// JSON of the event with its hash, for values chosen to confuse a splice.
func TestSealIsCanonical(t *testing.T) {
	for i, s := range []string{"", "deny", `,"member":`, `\",\"member\":`, "\x01\x1f", "ë€😀", "a\\", `"`, string([]byte{0xff, 0xfe})} {
		e, err := seal(weirdEvent(s, i), int64(i+1), ZeroHash)
		if err != nil {
			t.Fatal(err)
		}
		want, err := canonicalJSON(e.Event)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.Line, want) {
			t.Fatalf("%q:\n line %s\n want %s", s, e.Line, want)
		}
		back, err := ParseLine(e.Line)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		c, _ := Canonical(back.Event)
		if HashBytes(c) != e.Event.Hash {
			t.Fatalf("%q: hash does not round-trip", s)
		}
	}
}

func TestParseLineRejects(t *testing.T) {
	good, err := seal(weirdEvent("deny", 1), 1, ZeroHash)
	if err != nil {
		t.Fatal(err)
	}
	line := string(good.Line)
	cases := map[string]string{
		"extra member":      strings.Replace(line, `{"action"`, `{"admin":true,"action"`, 1),
		"reordered members": strings.Replace(strings.Replace(line, `"action":"deny",`, ``, 1), `"decision":"deny"`, `"decision":"deny","action":"deny"`, 1),
		"whitespace":        strings.Replace(line, `"action":`, `"action": `, 1),
		"escaped slash":     strings.Replace(line, `AL/GOV`, `AL\/GOV`, 1),
		"changed value":     strings.Replace(line, `"status":1`, `"status":2`, 1),
		"hash removed":      strings.Replace(line, `"hash":"`+good.Event.Hash+`",`, ``, 1),
		"two objects":       line + line,
		"not json":          "hello",
		"empty":             "",
	}
	for name, l := range cases {
		if l == line {
			t.Fatalf("%s: tampering did not change the line", name)
		}
		if _, err := ParseLine([]byte(l)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseLine([]byte(line + "\n")); err != nil {
		t.Errorf("a line with its newline: %v", err)
	}
}

// FuzzParseLine: a stored line is outside input to the verifier.
func FuzzParseLine(f *testing.F) {
	e, _ := seal(weirdEvent("deny", 1), 1, ZeroHash)
	f.Add(e.Line)
	f.Add([]byte(`{"seq":1}`))
	f.Add([]byte(`{"checkpoint":{}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		got, err := ParseLine(line)
		if err != nil {
			return
		}
		// Anything accepted is its event's canonical form, hash included,
		// and the hash covers the rest.
		c, err := Canonical(got.Event)
		if err != nil {
			t.Fatal(err)
		}
		if HashBytes(c) != got.Event.Hash || !bytes.Equal(withHash(c, got.Event.Hash), bytes.TrimSuffix(line, []byte("\n"))) {
			t.Fatalf("accepted line is not canonical with a valid hash: %s", line)
		}
	})
}

// FuzzSeal: whatever strings and integers an event holds, seal either
// refuses it or writes a line that parses back to the same event: the log
// can always be opened again after an append succeeded.
func FuzzSeal(f *testing.F) {
	f.Add("deny", int64(3))
	f.Add(`,"member":"x`, int64(0))
	f.Add("x", int64(math.MaxInt64))
	f.Add("x", int64(math.MinInt64))
	f.Add("x", int64(MaxInt))
	f.Add("x", int64(MaxInt+1))
	f.Fuzz(func(t *testing.T, s string, n int64) {
		ev := weirdEvent(s, int(n%1000))
		ev.RecordVersion, ev.Records = int(n), int(n/3)
		e, err := seal(ev, 1, ZeroHash)
		if err != nil {
			if !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("seal: %v", err)
			}
			if n >= -MaxInt && n <= MaxInt {
				t.Fatalf("seal refused an integer in range: %d", n)
			}
			return
		}
		want, err := canonicalJSON(e.Event)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.Line, want) {
			t.Fatalf("%q: spliced line differs", s)
		}
		got, err := ParseLine(e.Line)
		if err != nil {
			t.Fatalf("%q %d: sealed line does not parse: %v", s, n, err)
		}
		if got.Event.RecordVersion != ev.RecordVersion || got.Event.Records != ev.Records {
			t.Fatalf("integers changed: %d/%d became %d/%d", ev.RecordVersion, ev.Records, got.Event.RecordVersion, got.Event.Records)
		}
	})
}

// TestUnsafeIntegerFailsOnlyItsAppend: an event with an integer JSON cannot
// carry exactly (the 2^63 record version that once made the log refuse to
// open) fails its own append; the appends around it succeed, and the log
// opens and verifies afterwards.
func TestUnsafeIntegerFailsOnlyItsAppend(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() (*Chain, *FileStore) {
		st, err := OpenFileStore(dir, FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := Open(ctx, Options{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		return c, st
	}
	c, _ := open()
	good := Event{Member: "IT/GOV/MOD", Action: "push", Decision: DecisionDeny, RecordID: "X-1", RecordVersion: 1}
	if err := c.Append(ctx, good); err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.RecordVersion = 1<<63 - 1
	if err := c.Append(ctx, good, bad); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("append of 2^63-1: %v, want ErrInvalidEvent", err)
	}
	if err := c.Append(ctx, good); err != nil {
		t.Fatalf("append after a refused event: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, st := open()
	defer c.Close()
	rep, err := VerifyStore(ctx, st, VerifyOptions{})
	if err != nil {
		t.Fatalf("verify after reopen: %v", err)
	}
	if rep.Events != 2 {
		t.Fatalf("%d events, want the 2 good ones", rep.Events)
	}
}
