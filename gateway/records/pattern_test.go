package records

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// schemaPatterns are every pattern the record schemas declare.
func schemaPatterns(t testing.TB) []string {
	t.Helper()
	seen := map[string]bool{idPattern.String(): true}
	out := []string{idPattern.String()}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if p, ok := x["pattern"].(string); ok && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	err := fs.WalkDir(schemaFS, "schemas", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := schemaFS.ReadFile(path)
		if err != nil {
			return err
		}
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return err
		}
		walk(doc)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// patternInputs are strings near the edges of the schema patterns: every
// length bound, a foreign rune in each place, invalid UTF-8.
func patternInputs() []string {
	in := []string{"", "A", "AB", "ABC", "ABCD", "abc", "A-1", "+1234567", "+12 345 678", "1", "12", "9301", "930199",
		"A12345678B", "2026-12-07", "2026-12-07T10:00:00Z", "ALB/KAYO/K26-000123", "BENCH-000001", "x@example.org",
		"ÀB", "ÀÉ ÖØ", "A\n", "\nA", "A\x00", "\xff", "A\xffB", "\u00c0\u017e", "\ufffd", "A\ufffdB", "LICENCE_1", "a b",
		"-A", ".A", "A.", "A/B", "A:B", "O'Brien & Co", "Z" + strings.Repeat("9", 63), "Z" + strings.Repeat("9", 64),
		"Z" + strings.Repeat("9", 127), "Z" + strings.Repeat("9", 128), strings.Repeat("AB", 7), "+" + strings.Repeat("1", 21),
		"+" + strings.Repeat("1", 22),
		"A ", " A", "A B", "AB ", "À", "ÀB ", "A \xff", "A\xffB", "TEPËR SEKRET", "2026-12-07t10:00:00.5z", "2026-12-07T10:00:00+01:00",
		"2026-12-07T10:00:00.Z", "2026-12-07T10:00:00+0100", "2026-12-07T10:00:00", "2026-12-07T10:00:00.123-12:30x"}
	return in
}

// TestPatternMatchersAreExact: every schema pattern's matcher answers as
// the regexp for the inputs near its edges, and the patterns the pass
// check meets most take the fast path.
func TestPatternMatchersAreExact(t *testing.T) {
	fast := 0
	for _, p := range schemaPatterns(t) {
		re := regexp.MustCompile(p)
		m := runMatcherOf(p)
		if m != nil {
			fast++
		}
		for _, s := range patternInputs() {
			if got, want := matcherOf(re)(s), re.MatchString(s); got != want {
				t.Errorf("%s on %q: %v, regexp %v", p, s, got, want)
			}
		}
	}
	if fast < 13 {
		t.Errorf("%d schema patterns have a fast matcher, want at least 13", fast)
	}
	if runMatcherOf(idPattern.String()) == nil {
		t.Error("the record id pattern has no fast matcher")
	}
}

// TestRunMatcherRefusesShapes: a shape that a single greedy pass could
// judge wrongly, or that runMatcher does not model, keeps the regexp.
func TestRunMatcherRefusesShapes(t *testing.T) {
	for _, p := range []string{
		`^a{0,3}b?a$`, `^[a-z]*[a-c]?$`, `^a*[ab]+$`, `^a*ab*$`,
		`^(ab)+$`, `^a|b$`, `^abc`, `abc$`, `(?i)^abc$`, `^a.b$`, `^(?m)a$`, `^a\b$`, `^a{0}$`,
		`^930[1-7]([0-9]{2}){0,2}$`,
	} {
		if runMatcherOf(p) != nil {
			t.Errorf("%s has a fast matcher", p)
		}
	}
	for _, p := range []string{`^$`, `^abc$`, `^[A-Z]{3}$`, `^a*b$`, `^a+$`, `^\+[0-9][0-9 ]{6,20}$`, `^[^a]*a$`,
		// A run that could give back runes to the fixed runs after it
		// takes all but theirs.
		`^[A-Z][A-Z ]*[A-Z]$`, `^a*a$`, `^[a-z]{1,3}[a-c]$`, `^[ab]{2,}a[a-c]{2}$`, `^x[^\n]*yz$`} {
		if runMatcherOf(p) == nil {
			t.Errorf("%s has no fast matcher", p)
		}
	}
}

// FuzzPatternMatcher: for any pattern the regexp compiles, a fast matcher,
// when there is one, answers every string as the regexp does.
func FuzzPatternMatcher(f *testing.F) {
	for _, p := range schemaPatterns(f) {
		for _, s := range patternInputs() {
			f.Add(p, s)
		}
	}
	for _, p := range []string{`^a*b$`, `^[^a]*a$`, `^[À-ž]{0,2}x$`, `^a?b?c$`, `^[a-c]+[d-f]{2,}$`,
		`^[A-ZÀ-ž][A-ZÀ-ž ]*[A-ZÀ-ž]$`, `^a*a$`, `^[a-z]{1,3}[a-c]{2}$`, `^[^x]{0,4}[^y]x$`} {
		f.Add(p, "aab")
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		m := runMatcherOf(pattern)
		if m == nil {
			return
		}
		if got, want := m.match(s), re.MatchString(s); got != want {
			t.Fatalf("%q on %q: %v, regexp %v", pattern, s, got, want)
		}
	})
}

var dateTimeInputs = []string{
	"2026-12-07T10:00:00Z", "2026-12-07t10:00:00z", "2026-12-07T10:00:00.5Z", "2026-12-07T10:00:00.123456789+01:00",
	"2026-12-07T10:00:00-12:30", "2026-12-07T10:00:00.Z", "2026-12-07T10:00:00+0100", "2026-12-07T10:00:00",
	"2026-12-07T10:00:00ZZ", "2026-12-07 10:00:00Z", "2026-12-07T10:00:0aZ", "2026-12-07T99:99:99Z", "x026-12-07T10:00:00Z",
	"2026-12-07T10:00:00+01:0a", "2026-12-07T10:00:00+01-00", "2026-12-07T10:00:00.1.2Z", "2026-12-07T10:00:00\u00e9",
	"2026-12-07T10:00:00.\xffZ", "", "2026-12-07", "2026-12-07T10:00:00.123+01:00x", "2026/12/07T10:00:00Z",
}

// TestDateTimeMatcherIsRegexp: the schemas' datetime pattern has the
// dedicated matcher, which answers as the regexp, and ParseDateTime's
// regexp has the same language.
func TestDateTimeMatcherIsRegexp(t *testing.T) {
	if !slices.Contains(schemaPatterns(t), dateTimePattern) {
		t.Fatal("the schemas no longer declare dateTimePattern")
	}
	re := regexp.MustCompile(dateTimePattern)
	for _, s := range append(dateTimeInputs, patternInputs()...) {
		if got, want := matchDateTime(s), re.MatchString(s); got != want {
			t.Errorf("%q: %v, regexp %v", s, got, want)
		}
		if got, want := matchDateTime(s), dateTimeSyntax.MatchString(s); got != want {
			t.Errorf("%q: %v, ParseDateTime's regexp %v", s, got, want)
		}
	}
}

func FuzzDateTimeMatcher(f *testing.F) {
	for _, s := range dateTimeInputs {
		f.Add(s)
	}
	re := regexp.MustCompile(dateTimePattern)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := matchDateTime(s), re.MatchString(s); got != want {
			t.Fatalf("%q: %v, regexp %v", s, got, want)
		}
		if got, want := matchDateTime(s), dateTimeSyntax.MatchString(s); got != want {
			t.Fatalf("%q: %v, ParseDateTime's regexp %v", s, got, want)
		}
	})
}
