package registers

import (
	"regexp"
	"strings"
	"testing"
)

// normaliseByExpression is NormaliseName as the Rego policy's normalise()
// states it; NormaliseName must answer exactly as it does.
func normaliseByExpression(name string) string {
	return strings.TrimSpace(regexp.MustCompile(`[^\p{L}\p{N}]+`).ReplaceAllString(strings.ToLower(name), " "))
}

var nameSamples = []string{
	"", " ", "KAYO sh.a.", "  Kayo  SH.A. ", "Ümit & Söhne GmbH", "ΑΘΗΝΑ Α.Ε.", "北京 公司 (2)", "x\u00a0y\u2003z",
	"Ⅻ Roman numeral", "٣ Arabic digit", "O'Neil--Smith", "a\xffb", "\xff", "tab\tand\nnewline", "İstanbul", "ẞ",
	"...", "a", "-a-", "名", "e\u0301", "\U0001F600 smile",
}

func TestNormaliseNameIsTheExpression(t *testing.T) {
	for _, s := range nameSamples {
		if got, want := NormaliseName(s), normaliseByExpression(s); got != want {
			t.Errorf("NormaliseName(%q) = %q, the expression gives %q", s, got, want)
		}
	}
}

func FuzzNormaliseName(f *testing.F) {
	for _, s := range nameSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := NormaliseName(s), normaliseByExpression(s); got != want {
			t.Errorf("NormaliseName(%q) = %q, the expression gives %q", s, got, want)
		}
	})
}

// TestNormaliseNameASCII: the ASCII shortcut gives what the pass over the
// runes gives, for every ASCII character in every position.
func TestNormaliseNameASCII(t *testing.T) {
	var all strings.Builder
	for c := range 0x80 {
		all.WriteByte(byte(c))
		all.WriteString("a")
		all.WriteByte(byte(c))
	}
	for _, s := range append([]string{all.String(), "\x00A\x7fB", "  --Ab9__z  "}, nameSamples...) {
		got, ok := normaliseNameASCII(s)
		if want := normaliseNameRunes(s); ok && got != want {
			t.Errorf("normaliseNameASCII(%q) = %q, want %q", s, got, want)
		}
	}
	if _, ok := normaliseNameASCII("Mëtaliku"); ok {
		t.Error("a name outside ASCII took the shortcut")
	}
}
