package names

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

func TestNormalise(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"KAYO sh.a.", "kayo sh a"},
		{"Çeliku  i Elbasanit, SH.P.K.", "celiku i elbasanit sh p k"},
		{"Mëtaliku Tiranë", "metaliku tirane"},
		{"Đorđević", "djordjevic"},
		{"Ђорђевић", "djordjevic"},
		{"Љубичић Њива Џеп Ћирић", "ljubicic njiva dzep ciric"},
		{"Ѓорѓи Ќосе Ѕвезда", "gjorgji kjose dzvezda"},
		{"ЗАШТАВА ОРУЖЈЕ", "zastava oruzje"},
		{"Straße", "strasse"},
		{"ＡＣＭＥ　Ｌｔｄ", "acme ltd"}, // full-width forms, NFKC
		{"ﬁrearms", "firearms"},  // ligature, NFKC
		{"  --  ", ""},
	} {
		if got := Normalise(tc.in); got != tc.want {
			t.Errorf("Normalise(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTokens(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"Kayo sh.p.k.", []string{"kayo"}},
		{"Еуроинвест Д.О.О.Е.Л. Скопје", []string{"euroinvest", "skopje"}},
		{"Југоимпорт СДПР а.д.", []string{"jugoimport", "sdpr"}},
		{"K.A.Y.O. Industries Inc", []string{"kayo", "industries"}},
		{"Acme Intl Ltd", []string{"acme", "international"}},
		// A name that is nothing but a legal form keeps it.
		{"S.A.", []string{"sa"}},
	} {
		if got := Tokens(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Tokens(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

type labelled struct {
	Lang  string `json:"lang"`
	Match bool   `json:"match"`
	A     string `json:"a"`
	B     string `json:"b"`
	Note  string `json:"note"`
}

func loadPairs(t testing.TB) []labelled {
	t.Helper()
	raw, err := os.ReadFile("testdata/pairs.json")
	if err != nil {
		t.Fatal(err)
	}
	var pairs []labelled
	if err := json.Unmarshal(raw, &pairs); err != nil {
		t.Fatal(err)
	}
	return pairs
}

type confusion struct{ tp, fp, fn, tn int }

func (c *confusion) add(label, predicted bool) {
	switch {
	case label && predicted:
		c.tp++
	case !label && predicted:
		c.fp++
	case label && !predicted:
		c.fn++
	default:
		c.tn++
	}
}

func (c confusion) precision() float64 {
	if c.tp+c.fp == 0 {
		return 1
	}
	return float64(c.tp) / float64(c.tp+c.fp)
}

func (c confusion) recall() float64 {
	if c.tp+c.fn == 0 {
		return 1
	}
	return float64(c.tp) / float64(c.tp+c.fn)
}

func (c confusion) String() string {
	return fmt.Sprintf("precision %.3f recall %.3f (tp %d fp %d fn %d tn %d)", c.precision(), c.recall(), c.tp, c.fp, c.fn, c.tn)
}

// TestCorpus measures the matcher at Threshold on the labelled pairs and
// requires precision and recall of at least 0.95; -v prints both, per
// language, and the same corpus through the baseline.
func TestCorpus(t *testing.T) {
	pairs := loadPairs(t)
	if len(pairs) < 120 {
		t.Fatalf("corpus has %d pairs, want at least 120", len(pairs))
	}
	var all, base confusion
	perLang := map[string]*confusion{}
	baseLang := map[string]*confusion{}
	for _, p := range pairs {
		r := Match(p.A, p.B)
		got := r.Score >= Threshold
		all.add(p.Match, got)
		if perLang[p.Lang] == nil {
			perLang[p.Lang], baseLang[p.Lang] = &confusion{}, &confusion{}
		}
		perLang[p.Lang].add(p.Match, got)
		b := baselineMatch(p.A, p.B)
		base.add(p.Match, b)
		baseLang[p.Lang].add(p.Match, b)
		if got != p.Match {
			t.Logf("miss: match=%v score %.3f %q ~ %q (%s) pairs %v", p.Match, r.Score, p.A, p.B, p.Note, r.Pairs)
		}
	}
	t.Logf("matcher  at %.2f over %d pairs: %s", Threshold, len(pairs), all)
	t.Logf("baseline over %d pairs: %s", len(pairs), base)
	langs := make([]string, 0, len(perLang))
	for l := range perLang {
		langs = append(langs, l)
	}
	slices.Sort(langs)
	for _, l := range langs {
		t.Logf("  %s matcher:  %s", l, perLang[l])
		t.Logf("  %s baseline: %s", l, baseLang[l])
	}
	if all.precision() < 0.95 || all.recall() < 0.95 {
		t.Errorf("matcher at %.2f: %s, want both at least 0.95", Threshold, all)
	}
}

// TestThresholdSweep prints precision and recall over a range of
// thresholds, the data Threshold was chosen from (-v).
func TestThresholdSweep(t *testing.T) {
	pairs := loadPairs(t)
	scores := make([]float64, len(pairs))
	for i, p := range pairs {
		scores[i] = Match(p.A, p.B).Score
	}
	for step := 0; step <= 14; step++ {
		th := 0.60 + float64(step)*0.025
		var c confusion
		for i, p := range pairs {
			c.add(p.Match, scores[i] >= th)
		}
		t.Logf("threshold %.3f: %s", th, c)
	}
}

// baselineStop is the kind of stop-word list a denial search applies to
// addresses; it is what the baseline removes.
var baselineStop = map[string]bool{
	"street": true, "st": true, "road": true, "rd": true, "avenue": true,
	"ave": true, "lane": true, "the": true, "of": true, "and": true,
}

func baselineTokens(s string) []string {
	folded, _, _ := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), strings.ToLower(s))
	folded = strings.NewReplacer("đ", "d", "ø", "o", "æ", "ae", "ß", "ss", "ł", "l").Replace(folded)
	var out []string
	for _, w := range strings.FieldsFunc(folded, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if !baselineStop[w] {
			out = append(out, w)
		}
	}
	return out
}

// baselineMatch is a search the way lite-api searches denials: lower case,
// ASCII folding (which leaves Cyrillic as it is), stop-words, and a query
// that requires every word of one name, exactly, in the other. It is given
// the better of the two directions, so the baseline's recall is if anything
// flattered.
func baselineMatch(a, b string) bool {
	ta, tb := baselineTokens(a), baselineTokens(b)
	contains := func(q, doc []string) bool {
		if len(q) == 0 {
			return false
		}
		for _, w := range q {
			if !slices.Contains(doc, w) {
				return false
			}
		}
		return true
	}
	return contains(ta, tb) || contains(tb, ta)
}

func TestMatchReportsPairs(t *testing.T) {
	r := Match("Застава оружје а.д.", "Zastava Oruzje")
	if r.Score != 1 {
		t.Fatalf("score %v, want 1", r.Score)
	}
	want := []Pair{{"oruzje", "oruzje", 1}, {"zastava", "zastava", 1}}
	if !reflect.DeepEqual(r.Pairs, want) {
		t.Errorf("pairs %v, want %v", r.Pairs, want)
	}
}

func TestMatchSymmetric(t *testing.T) {
	for _, p := range loadPairs(t) {
		if ab, ba := Match(p.A, p.B).Score, Match(p.B, p.A).Score; ab != ba {
			t.Errorf("Match(%q, %q) = %v, reversed %v", p.A, p.B, ab, ba)
		}
	}
}

func TestScreen(t *testing.T) {
	entries := []Entry{
		{ID: "D1", Name: "Zastava oružje a.d.", Country: "RS"},
		{ID: "D2", Name: "Balkan Arms Trading Ltd", Aliases: []string{"Ballkan Armë sh.p.k."}, Country: "AL"},
		{ID: "D3", Name: "Adriatic Arms Trading Ltd", Country: "ME"},
		{ID: "D4", Name: "Заштава оружје", Country: "BA"},
	}
	got := Screen("ЗАСТАВА ОРУЖЈЕ АД", "rs", entries, Threshold)
	if len(got) != 2 || got[0].Entry.ID != "D1" || got[1].Entry.ID != "D4" {
		t.Fatalf("Screen = %+v, want D1 then D4", got)
	}
	if !got[0].Country || got[1].Country {
		t.Errorf("country matched: D1 %v D4 %v, want true, false", got[0].Country, got[1].Country)
	}
	if len(got[0].Pairs) != 2 {
		t.Errorf("D1 pairs %v, want both words", got[0].Pairs)
	}
	alias := Screen("Ballkan Arme", "AL", entries, Threshold)
	if len(alias) != 1 || alias[0].Entry.ID != "D2" || alias[0].Name != "Ballkan Armë sh.p.k." {
		t.Errorf("alias screen = %+v, want D2 through its alias", alias)
	}
	if got := Screen("Arms Trading", "", entries, Threshold); len(got) != 0 {
		t.Errorf("generic words alone matched %+v", got)
	}
	if got := Screen(" sh.p.k. ", "", entries, Threshold); len(got) != 0 {
		t.Errorf("a legal form alone matched %+v", got)
	}
}

func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"Kayo sh.a.", "KAYO"}, {"Ђорђевић д.о.о.", "Djordjevic"}, {"", "x"},
		{"a b c d", "abcd"}, {"\xff\xfe", "ǅ"}, {"Ѓ̈", "ß"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		n := Normalise(a)
		if Normalise(n) != n {
			t.Errorf("Normalise not idempotent on %q: %q then %q", a, n, Normalise(n))
		}
		ab, ba := Match(a, b), Match(b, a)
		if ab.Score < 0 || ab.Score > 1 {
			t.Errorf("score %v out of [0,1] for %q, %q", ab.Score, a, b)
		}
		if ab.Score != ba.Score {
			t.Errorf("Match(%q, %q) = %v, reversed %v", a, b, ab.Score, ba.Score)
		}
		if self := Match(a, a); len(self.QueryTokens) > 0 && self.Score != 1 {
			t.Errorf("Match(%q, itself) = %v, want 1", a, self.Score)
		}
	})
}

func benchEntries(b *testing.B) []Entry {
	pairs := loadPairs(b)
	entries := make([]Entry, 10000)
	for i := range entries {
		p := pairs[i%len(pairs)]
		name := p.B
		if i%2 == 1 {
			name = p.A
		}
		entries[i] = Entry{ID: fmt.Sprintf("E%05d", i), Name: fmt.Sprintf("%s %d", name, i/len(pairs)), Country: "AL"}
	}
	return entries
}

// BenchmarkScreen10000 screens one name against 10,000 entries, tokenising
// them on every call as Screen does.
func BenchmarkScreen10000(b *testing.B) {
	entries := benchEntries(b)
	b.ReportAllocs()
	for b.Loop() {
		Screen("Zastava oružje a.d. Kragujevac", "RS", entries, Threshold)
	}
}

// BenchmarkIndexScreen10000 screens one name against 10,000 entries
// tokenised once beforehand.
func BenchmarkIndexScreen10000(b *testing.B) {
	ix := NewIndex(benchEntries(b))
	b.ReportAllocs()
	for b.Loop() {
		ix.Screen("Zastava oružje a.d. Kragujevac", "RS", Threshold)
	}
}

// TestNormaliseASCIIIsNormalise: the ASCII shortcut gives what the full
// Unicode path gives, for every ASCII character in every position.
func TestNormaliseASCIIIsNormalise(t *testing.T) {
	var all strings.Builder
	for c := range 0x80 {
		all.WriteByte(byte(c))
		all.WriteString("a")
		all.WriteByte(byte(c))
	}
	for _, s := range []string{"", " ", "KAYO sh.a.", "  --Ab9__z  ", "\x00A\x7fB", all.String()} {
		got, ok := normaliseASCII(s)
		if want := normaliseUnicode(s); !ok || got != want {
			t.Errorf("normaliseASCII(%q) = %q %v, want %q", s, got, ok, want)
		}
	}
	if _, ok := normaliseASCII("Mëtaliku"); ok {
		t.Error("a name outside ASCII took the shortcut")
	}
}

func FuzzNormaliseASCII(f *testing.F) {
	f.Add("KAYO sh.a.")
	f.Add("Mëtaliku Tiranë")
	f.Fuzz(func(t *testing.T, s string) {
		if got, ok := normaliseASCII(s); ok && got != normaliseUnicode(s) {
			t.Fatalf("normaliseASCII(%q) = %q, want %q", s, got, normaliseUnicode(s))
		}
	})
}
