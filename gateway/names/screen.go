package names

import (
	"sort"
	"strings"
)

// Entry is one entity on a register screened against: a denial, a sanctions
// listing or an excluded entity.
type Entry struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Aliases []string `json:"aliases,omitempty"`
	// Country is the entry's country code as the register writes it
	// (ISO 3166 alpha-2 or alpha-3); compared without regard to case.
	Country string `json:"country,omitempty"`
}

// Candidate is an entry whose name or one of whose aliases scored at least
// the threshold, with what matched: the name it matched on, the word pairs,
// and whether the country is the same. The country does not change the
// score: a denied party that moved is still the denied party, so an officer
// sees the candidate and the country field says whether it agrees.
type Candidate struct {
	Entry   Entry   `json:"entry"`
	Score   float64 `json:"score"`
	Name    string  `json:"matched_name"`
	Pairs   []Pair  `json:"pairs"`
	Country bool    `json:"country_matched"`
}

// Index is a register prepared for screening: every name and alias of
// every entry tokenised once, so a screen costs only the comparisons.
type Index struct {
	entries []Entry
	names   [][]named
}

type named struct {
	name   string
	tokens []string
}

// NewIndex prepares entries for screening; it keeps the slice, which must
// not change afterwards.
func NewIndex(entries []Entry) *Index {
	ix := &Index{entries: entries, names: make([][]named, len(entries))}
	for i, e := range entries {
		for _, n := range append([]string{e.Name}, e.Aliases...) {
			if t := Tokens(n); len(t) > 0 {
				ix.names[i] = append(ix.names[i], named{name: n, tokens: t})
			}
		}
	}
	return ix
}

// Screen returns the entries whose name or an alias matches name with a
// score of at least threshold, best first (equal scores: same country
// first, then by id). It tokenises every entry on each call; a register
// screened more than once is better put in an Index.
func Screen(name, country string, entries []Entry, threshold float64) []Candidate {
	return NewIndex(entries).Screen(name, country, threshold)
}

// Screen is the package's Screen over the prepared entries.
func (ix *Index) Screen(name, country string, threshold float64) []Candidate {
	q := Tokens(name)
	if len(q) == 0 {
		return nil
	}
	var out []Candidate
	for i, e := range ix.entries {
		best := Result{}
		bestName := ""
		for _, n := range ix.names[i] {
			if r := matchTokens(q, n.tokens); r.Score > best.Score {
				best, bestName = r, n.name
			}
		}
		if best.Score < threshold || bestName == "" {
			continue
		}
		out = append(out, Candidate{
			Entry:   e,
			Score:   best.Score,
			Name:    bestName,
			Pairs:   best.Pairs,
			Country: country != "" && strings.EqualFold(strings.TrimSpace(country), strings.TrimSpace(e.Country)),
		})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		if out[i].Country != out[j].Country {
			return out[i].Country
		}
		return out[i].Entry.ID < out[j].Entry.ID
	})
	return out
}
