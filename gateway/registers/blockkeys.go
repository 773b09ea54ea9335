package registers

import (
	"slices"

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
		r := []rune(t)
		if len(r) > 2 {
			r = r[:2]
		}
		k := string(r)
		if k != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
