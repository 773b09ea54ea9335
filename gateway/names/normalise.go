// Package names compares the names of licence parties with the names on
// registers of excluded and denied entities, as officers write them: in
// Latin or Cyrillic script, with or without diacritics, with or without the
// company's legal form, with typos and words in another order. The rules are
// described in gateway/ARCHITECTURE.md (Records, Name matching).
package names

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// cyrillic is the Cyrillic-to-Latin correspondence of the official Serbian
// Latin alphabet (gajica: Law on the Official Use of Language and Script,
// one Latin letter or digraph per Cyrillic letter) extended with the three
// letters of Macedonian that Serbian lacks, romanised as the Macedonian
// government's official romanisation writes them without diacritics
// (ѓ gj, ќ kj, ѕ dz). Letters that carry a diacritic in Serbian Latin
// (ж ž, ч č, ћ ć, ш š, ђ đ, џ dž) are given here already folded, exactly as
// the same letters written in Latin are folded by latinFold, so that a name
// in either script reaches the same text. Russian and Bulgarian letters
// outside both alphabets get their common simple romanisation so that no
// Cyrillic letter survives into comparison.
var cyrillic = map[rune]string{
	'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d", 'ђ': "dj", 'е': "e",
	'ж': "z", 'з': "z", 'и': "i", 'ј': "j", 'к': "k", 'л': "l", 'љ': "lj",
	'м': "m", 'н': "n", 'њ': "nj", 'о': "o", 'п': "p", 'р': "r", 'с': "s",
	'т': "t", 'ћ': "c", 'у': "u", 'ф': "f", 'х': "h", 'ц': "c", 'ч': "c",
	'џ': "dz", 'ш': "s",
	// Macedonian.
	'ѓ': "gj", 'ќ': "kj", 'ѕ': "dz",
	// Outside both alphabets.
	'й': "j", 'ы': "y", 'э': "e", 'ю': "ju", 'я': "ja", 'щ': "sc", 'ё': "e",
	'ъ': "", 'ь': "", 'є': "je", 'і': "i", 'ї': "ji", 'ґ': "g",
}

// latinFold holds the Latin letters that canonical decomposition does not
// split into a base letter and a mark. đ becomes "dj", the substitute the
// Serbian and Croatian standards give for Đ where the letter is unavailable,
// and the same text ђ transliterates to; plain "d" would merge Đorđević with
// Dordevic but part it from the far commoner spelling Djordjevic.
var latinFold = map[rune]string{
	'đ': "dj", 'ł': "l", 'ø': "o", 'æ': "ae", 'œ': "oe", 'ß': "ss", 'þ': "th",
	'ı': "i", 'ħ': "h", 'ŧ': "t",
}

// Normalise returns the text of a name as it is compared: Unicode NFKC,
// full case folding, Serbian and Macedonian Cyrillic transliterated to
// Latin, diacritics removed, and every run of characters other than letters
// and digits turned into one space. Legal forms are kept; Tokens drops them.
func Normalise(name string) string {
	if n, ok := normaliseASCII(name); ok {
		return n
	}
	return normaliseUnicode(name)
}

func normaliseUnicode(name string) string {
	fold, marks := foldChains.Get().(transform.Transformer), markChains.Get().(transform.Transformer)
	defer foldChains.Put(fold)
	defer markChains.Put(marks)
	return normaliseWith(name, fold, marks)
}

// normaliseWith is normaliseUnicode with the chains it runs: fold
// (newFoldChain) and marks (newMarkChain).
func normaliseWith(name string, fold, marks transform.Transformer) string {
	// Invalid UTF-8 is a separator like any other non-letter, not a
	// letter that a second pass would read differently.
	name = strings.ToValidUTF8(name, " ")
	// NFKC again after folding, as Unicode's NFKC_Casefold does: folding can
	// give a letter with a compatibility decomposition (Ϲ folds to ϲ,
	// which NFKC makes σ). Lower-casing after folding settles the scripts
	// whose folding x/text does not make idempotent (Cherokee Ꮆ folds to ꮆ
	// and ꮆ back to Ꮆ), so a normalised name normalises to itself.
	folded, _, err := transform.String(fold, name)
	if err != nil {
		// The transformers fail only on malformed input, which was
		// replaced above.
		folded = name
	}
	folded = strings.ToLower(folded)
	// Cyrillic goes first, while ѓ, ќ and й are still single letters that
	// removing their marks would turn into г, к and и; then the marks; then
	// Cyrillic again, for letters outside the table whose base letter is in
	// it (ӂ is ж with a breve); then the Latin letters without a
	// decomposition.
	latin := mapRunes(folded, cyrillic)
	stripped, _, err := transform.String(marks, latin)
	if err != nil {
		stripped = latin
	}
	stripped = mapRunes(mapRunes(stripped, cyrillic), latinFold)
	var out strings.Builder
	out.Grow(len(stripped))
	space := false
	for _, r := range stripped {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && out.Len() > 0 {
				out.WriteByte(' ')
			}
			space = false
			out.WriteRune(r)
			continue
		}
		space = true
	}
	return out.String()
}

// foldChains and markChains hold the chains of transformers
// normaliseUnicode runs, for the next name: a chain allocates buffers of
// some kilobytes for each of its links when it is made, more than a name
// costs to transform. transform.String resets a chain before it reads
// (TestPooledChainsAreFresh).
var (
	foldChains = sync.Pool{New: func() any { return newFoldChain() }}
	markChains = sync.Pool{New: func() any { return newMarkChain() }}
)

func newFoldChain() transform.Transformer {
	return transform.Chain(norm.NFKC, cases.Fold(), norm.NFKC)
}

func newMarkChain() transform.Transformer {
	return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}

// normaliseASCII is Normalise of a name written in ASCII alone, most of
// them: NFKC, folding and the transliteration tables leave ASCII as it is
// but for case, so the name is lower-cased and split at every run of
// characters other than letters and digits, without the transformers'
// cost (TestNormaliseASCIIIsNormalise).
func normaliseASCII(name string) (string, bool) {
	b := make([]byte, 0, len(name))
	space := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 0x80:
			return "", false
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		default:
			space = true
			continue
		}
		if space && len(b) > 0 {
			b = append(b, ' ')
		}
		space = false
		b = append(b, c)
	}
	return string(b), true
}

func mapRunes(s string, table map[rune]string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if m, ok := table[r]; ok {
			b.WriteString(m)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// legalForms are the legal forms of companies, as token sequences of the
// normalised text (so "sh.p.k.", "SH.P.K" and "ш.п.к." are all "sh p k").
// They say nothing about which company is meant, and officers leave them
// out, abbreviate them or write them in another script.
var legalForms = [][]string{
	// Albanian: shoqëri me përgjegjësi të kufizuar, shoqëri aksionare.
	{"sh", "p", "k"}, {"shpk"}, {"sh", "a"}, {"sha"},
	// Serbian, Macedonian, Montenegrin, Bosnian, Croatian.
	{"d", "o", "o", "e", "l"}, {"dooel"}, {"d", "o", "o"}, {"doo"},
	{"a", "d"}, {"d", "d"}, {"j", "p"}, {"k", "d"}, {"s", "z", "r"},
	// English.
	{"ltd"}, {"limited"}, {"llc"}, {"l", "l", "c"}, {"plc"}, {"inc"},
	{"incorporated"}, {"corp"}, {"corporation"}, {"co"}, {"company"},
	// German, French, Italian, Spanish.
	{"gmbh"}, {"ag"}, {"sa"}, {"s", "a"}, {"s", "p", "a"}, {"spa"},
	{"s", "r", "l"}, {"srl"}, {"sarl"}, {"s", "a", "r", "l"}, {"sl"},
	// Czech, Slovak, Polish.
	{"s", "r", "o"}, {"sro"}, {"sp", "z", "o", "o"}, {"sp"},
}

// abbreviations are written out so that "Intl" and "International" are one
// token; the written-out word is the one registers mostly hold.
var abbreviations = map[string]string{
	"intl": "international", "int": "international", "mfg": "manufacturing",
	"ind": "industries", "inds": "industries", "industry": "industries",
	"bros": "brothers", "eng": "engineering", "engg": "engineering",
	"tech": "technology", "technologies": "technology", "svcs": "services",
	"svc": "services", "sys": "systems", "grp": "group", "hldgs": "holdings",
	"hldg": "holding", "mgmt": "management", "dist": "distribution",
	"assoc": "associates", "natl": "national", "imp": "import", "exp": "export",
	"impex": "import export",
}

// abbreviationWords is abbreviations with each written-out form split into
// its words once, not on every name.
var abbreviationWords = func() map[string][]string {
	out := make(map[string][]string, len(abbreviations))
	for k, v := range abbreviations {
		out[k] = strings.Fields(v)
	}
	return out
}()

// legalFormsByFirst is legalForms by their first word: only those can
// start at a word, so a name's words are held to a few forms, not to all.
var legalFormsByFirst = func() map[string][][]string {
	out := map[string][][]string{}
	for _, f := range legalForms {
		out[f[0]] = append(out[f[0]], f)
	}
	return out
}()

// Tokens returns the words of a normalised name that identify it: legal
// forms removed (unless nothing else is left), abbreviations written out,
// and runs of single letters joined, so "K.A.Y.O." is the token "kayo";
// at most maxTokens of them. Every party of every pushed licence is
// tokenised, so the words are split once and the later steps write into
// one slice (TestTokensIsReference holds it to the plain statement of
// these steps).
func Tokens(name string) []string {
	words := strings.Fields(Normalise(name))
	expanded := words
	for i, w := range words {
		if _, ok := abbreviationWords[w]; !ok {
			continue
		}
		expanded = append(make([]string, 0, len(words)+2), words[:i]...)
		for _, w := range words[i:] {
			if full, ok := abbreviationWords[w]; ok {
				expanded = append(expanded, full...)
			} else {
				expanded = append(expanded, w)
			}
		}
		break
	}
	kept := dropLegalForms(expanded)
	if len(kept) == 0 {
		kept = expanded
	}
	out := joinInitials(kept)
	if len(out) > maxTokens {
		out = out[:maxTokens]
	}
	return out
}

// maxTokens bounds the words of one name that are compared. Comparing
// pairs every word with every word, so an unbounded name from outside
// (a free-text field pasted whole) would cost quadratic time; no company
// name on a register comes near this many words.
const maxTokens = 32

func dropLegalForms(words []string) []string {
	out := make([]string, 0, len(words))
	for i := 0; i < len(words); {
		n := legalFormAt(words[i:])
		if n > 0 {
			i += n
			continue
		}
		out = append(out, words[i])
		i++
	}
	return out
}

// legalFormAt returns how many words of the longest legal form at the start
// of words take, or 0.
func legalFormAt(words []string) int {
	best := 0
	for _, f := range legalFormsByFirst[words[0]] {
		if len(f) <= best || len(f) > len(words) {
			continue
		}
		match := true
		for j, w := range f {
			if words[j] != w {
				match = false
				break
			}
		}
		if match {
			best = len(f)
		}
	}
	return best
}

// joinInitials joins each run of single letters into one word. It writes
// over words (each word written takes at least one read), which Tokens
// owns.
func joinInitials(words []string) []string {
	out := words[:0]
	run := ""
	for _, w := range words {
		if utf8.RuneCountInString(w) == 1 {
			run += w
			continue
		}
		if run != "" {
			out = append(out, run)
			run = ""
		}
		out = append(out, w)
	}
	if run != "" {
		out = append(out, run)
	}
	return out
}
