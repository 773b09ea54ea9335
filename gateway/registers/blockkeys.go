package registers

import (
	"slices"
	"unicode/utf8"

	"github.com/ura-gateway/ura/gateway/names"
)

// BlockKeys are the keys under which a name is listed on the register the
// fuzzy screen of excluded entities reads (excluded_names, screening.go): the first two
// letters of each of its words after names.Tokens (scripts transliterated,
// diacritics and legal forms gone). A party's name is looked up under its
// own keys, so a candidate shares the start of at least one word with it:
// a spelling, a script or a transliteration away is found, a name whose
// every word begins otherwise is not (a register read per decision cannot
// be a scan of the whole register).
func BlockKeys(name string) []string {
	var out []string
	for _, t := range names.Tokens(name) {
		k := firstTwoRunes(t)
		if k != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// firstTwoRunes is string([]rune(t)[:2]) (all of t if shorter) without the
// conversion's copies: a prefix of t. Where t is not valid UTF-8 in that
// prefix, the conversion writes U+FFFD for each bad byte, and so does this.
func firstTwoRunes(t string) string {
	n := 0
	for range 2 {
		if n == len(t) {
			break
		}
		r, size := utf8.DecodeRuneInString(t[n:])
		if r == utf8.RuneError && size <= 1 {
			r := []rune(t)
			return string(r[:min(len(r), 2)])
		}
		n += size
	}
	return t[:n]
}
