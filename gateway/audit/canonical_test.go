package audit

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/policy"
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
		Reasons:    []policy.Reason{{Code: s, Message: s + "\u2028\x00\"\\ë<&>"}},
		Redactions: []string{"/licence/" + s},
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

// FuzzSeal: whatever strings an event holds, the spliced line is the
// library's canonical form.
func FuzzSeal(f *testing.F) {
	f.Add("deny", 3)
	f.Add(`,"member":"x`, 0)
	f.Fuzz(func(t *testing.T, s string, n int) {
		e, err := seal(weirdEvent(s, n%1000), 1, ZeroHash)
		if err != nil {
			return
		}
		want, err := canonicalJSON(e.Event)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.Line, want) {
			t.Fatalf("%q: spliced line differs", s)
		}
		if _, err := ParseLine(e.Line); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
	})
}
