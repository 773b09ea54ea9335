package names

import (
	"math"
	"slices"
	"sort"
	"strings"

	edlib "github.com/hbollon/go-edlib"
)

// Threshold is the score from which two names are taken for the same
// party. It was chosen on testdata/pairs.json, where it gives precision and
// recall both at least 0.95 (TestCorpus prints them); see
// gateway/ARCHITECTURE.md (Records, Name matching).
const Threshold = 0.75

// tokenFloor is the least similarity at which two words count as the same
// word misspelt. Below it, "Alba" and "Alfa" would pair up and lend their
// weight to names that share nothing else.
const tokenFloor = 0.8

// commonWeight is the weight of words that many unrelated companies share.
// They still count, so "Balkan Arms" stays closer to "Balkan Arms Trade"
// than to "Balkan Tools", but two names that share only such words score low.
const commonWeight = 0.3

var common = map[string]bool{
	"trade": true, "trading": true, "import": true, "export": true, "arms": true,
	"group": true, "international": true, "holding": true, "holdings": true,
	"industries": true, "services": true, "systems": true, "technology": true,
	"security": true, "defence": true, "defense": true, "global": true,
	"general": true, "the": true, "and": true, "of": true,
	"tregti": true, "tregtare": true, "promet": true, "trejd": true,
	"eksport": true, "solutions": true, "logistics": true,
	"partners": true, "enterprises": true, "shpk": true, "kompania": true,
	"kompanija": true, "grupa": true, "grupi": true,
}

// Pair is one word of the query paired with one word of the candidate, and
// how alike they are (1 for the same word).
type Pair struct {
	Query     string  `json:"query"`
	Candidate string  `json:"candidate"`
	Score     float64 `json:"score"`
}

// Result is how alike two names are. Score is in [0,1] and Match(a, b) and
// Match(b, a) give the same score.
type Result struct {
	Score           float64  `json:"score"`
	Pairs           []Pair   `json:"pairs,omitempty"`
	QueryTokens     []string `json:"query_tokens"`
	CandidateTokens []string `json:"candidate_tokens"`
}

// Match compares two names.
func Match(query, candidate string) Result {
	return matchTokens(Tokens(query), Tokens(candidate))
}

func weight(token string) float64 {
	if common[token] {
		return commonWeight
	}
	return 1
}

// tokenSimilarity is how alike two words are, symmetric, in [0,1]: 1 for
// the same word; 0.95 for the same word but for zh, ch, sh written for z, c,
// s; 0 when the shorter has at most four letters and they
// differ, where one letter already makes another name (Kayo, Kaya); near 1
// for the same word with another plural ending; 0.8 for a word cut short
// (Transp., Transport); otherwise the mean of Jaro-Winkler, which forgives
// typos late in a word, and the optimal-string-alignment Levenshtein ratio,
// which does not forgive a changed syllable (Ravensworth, Ravenswood), and 0
// below tokenFloor.
func tokenSimilarity(a, b string) float64 {
	if a == b {
		return 1
	}
	if a > b {
		a, b = b, a
	}
	if (strings.IndexByte(a, 'h') >= 0 || strings.IndexByte(b, 'h') >= 0) && undigraph(a) == undigraph(b) {
		return 0.95
	}
	ra, rb := []rune(a), []rune(b)
	if min(len(ra), len(rb)) <= 4 {
		return 0
	}
	if stem(a) == stem(b) {
		return 0.97
	}
	if len(ra) >= 5 && strings.HasPrefix(b, a) || len(rb) >= 5 && strings.HasPrefix(a, b) {
		return 0.8
	}
	// The mean below is at most (1 + shorter/longer) / 2, since the
	// Levenshtein ratio cannot exceed the length ratio: words of too
	// different lengths are not compared further.
	if (1+float64(min(len(ra), len(rb)))/float64(max(len(ra), len(rb))))/2 < tokenFloor {
		return 0
	}
	jw := float64(edlib.JaroWinklerSimilarity(a, b))
	lev := 1 - float64(edlib.OSADamerauLevenshteinDistance(a, b))/float64(max(len(ra), len(rb)))
	s := (jw + lev) / 2
	if s < tokenFloor {
		return 0
	}
	return s
}

// digraphs are how English-style and Macedonian official romanisation
// write the letters that Serbian Latin writes with a caron and that
// Normalise folds to the bare letter: Жито, Žito and Zhito; Штип, Štip and
// Shtip.
var digraphs = strings.NewReplacer("zh", "z", "ch", "c", "sh", "s")

func undigraph(w string) string {
	return digraphs.Replace(w)
}

// stem removes an English plural ending, the one ending officers most often
// add or drop (Supply, Supplies; Optic, Optics).
func stem(w string) string {
	switch {
	case strings.HasSuffix(w, "ies") && len(w) > 4:
		return strings.TrimSuffix(w, "ies") + "y"
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && len(w) > 3:
		return strings.TrimSuffix(w, "s")
	}
	return w
}

// matchTokens is a weighted token-set similarity: words are paired greedily,
// most alike first, each word at most once (for the handful of words in a
// company name this finds the best assignment in all but contrived cases),
// and the score is twice the weighted similarity of the pairs over the
// weight of all words on both sides, so an unpaired word on either side
// lowers it. Names written with different word breaks ("ImportExport",
// "Import Export") are also compared whole by Levenshtein, and the better of
// the two counts.
func matchTokens(q, c []string) Result {
	res := Result{QueryTokens: q, CandidateTokens: c}
	if len(q) == 0 || len(c) == 0 {
		return res
	}
	type cand struct {
		i, j int
		s    float64
	}
	var all []cand
	for i, a := range q {
		for j, b := range c {
			if s := tokenSimilarity(a, b); s > 0 {
				all = append(all, cand{i, j, s})
			}
		}
	}
	sort.Slice(all, func(x, y int) bool {
		if all[x].s != all[y].s {
			return all[x].s > all[y].s
		}
		// Ties by the words themselves, never by side, to stay symmetric.
		kx, ky := pairKey(q[all[x].i], c[all[x].j]), pairKey(q[all[y].i], c[all[y].j])
		return kx < ky
	})
	usedQ := make([]bool, len(q))
	usedC := make([]bool, len(c))
	var matched float64
	distinctive := false
	for _, p := range all {
		if usedQ[p.i] || usedC[p.j] {
			continue
		}
		usedQ[p.i], usedC[p.j] = true, true
		matched += p.s * (weight(q[p.i]) + weight(c[p.j])) / 2
		if !common[q[p.i]] || !common[c[p.j]] {
			distinctive = true
		}
		res.Pairs = append(res.Pairs, Pair{Query: q[p.i], Candidate: c[p.j], Score: p.s})
	}
	score := 2 * matched / totalWeight(q, c)
	if !distinctive && len(res.Pairs) < max(len(q), len(c)) {
		// Only words that many companies share are common to both names.
		score *= commonWeight
	}
	if whole := wholeSimilarity(q, c); whole > score {
		score = whole
		res.Pairs = []Pair{{Query: strings.Join(q, " "), Candidate: strings.Join(c, " "), Score: whole}}
	}
	res.Score = clamp(score)
	return res
}

// totalWeight adds the weights of both names' words in one order whichever
// name is the query, so that rounding cannot make Match asymmetric.
func totalWeight(q, c []string) float64 {
	all := append(append(make([]string, 0, len(q)+len(c)), q...), c...)
	slices.Sort(all)
	var total float64
	for _, t := range all {
		total += weight(t)
	}
	return total
}

func pairKey(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return a + "\x00" + b
}

// wholeSimilarity compares the names with their word breaks removed, and
// only when the breaks differ: it is there for "ImportExport" against
// "Import Export", not to give a second chance to names that differ in a word.
func wholeSimilarity(q, c []string) float64 {
	if len(q) == len(c) {
		return 0
	}
	a, b := strings.Join(q, ""), strings.Join(c, "")
	la, lb := len([]rune(a)), len([]rune(b))
	longest := max(la, lb)
	if longest == 0 {
		return 0
	}
	s := 1 - float64(edlib.LevenshteinDistance(a, b))/float64(longest)
	if s < 0.9 {
		return 0
	}
	return s
}

// clamp rounds to nine decimals, so a name compared with itself scores
// exactly 1 whatever the rounding of its weights, and bounds to [0,1].
func clamp(s float64) float64 {
	s = math.Round(s*1e9) / 1e9
	switch {
	case s < 0 || math.IsNaN(s):
		return 0
	case s > 1:
		return 1
	}
	return s
}
