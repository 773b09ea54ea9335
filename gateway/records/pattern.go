package records

import (
	"regexp"
	"regexp/syntax"
	"unicode/utf8"
)

// matcherOf is re.MatchString, or an equivalent that runs without the
// regexp machine when re has a shape whose answer a single greedy pass
// gives exactly (runMatcher). Most schema patterns are such a shape
// ("^[A-Z]{3}$", "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"), and the regexp
// machine was about a quarter of what the pass check costs.
// TestPatternMatchersAreExact and FuzzPatternMatcher hold every fast
// matcher to the regexp.
func matcherOf(re *regexp.Regexp) func(string) bool {
	if re.String() == dateTimePattern {
		return matchDateTime
	}
	if m := runMatcherOf(re.String()); m != nil {
		return m.match
	}
	return re.MatchString
}

// runMatcher matches a pattern that is anchored at both ends and is a
// sequence of runs, each a character class (or one rune) repeated between
// min and max times. It is built only when each run of variable length
// is the last or is followed by a run of at least one character from a
// disjoint class: then the longest run (up to max) is the only length
// that can lead to a match, so matching never has to backtrack. A run of
// variable length followed only by runs of fixed length (the national
// marking's ^[A-Z…][A-Z… ]*[A-Z…]$) has one length that can match too:
// the string's runes after it, less the fixed runs' runes.
type runMatcher struct {
	runs []charRun
}

type charRun struct {
	// ascii holds the class's runes below utf8.RuneSelf as bits; ranges
	// are the class's ranges above it, as lo, hi pairs.
	ascii    [2]uint64
	ranges   []rune
	min, max int // max -1: no upper bound
	// tailed is a run of variable length followed by runs of fixed
	// length only, tail runes in all: it takes every rune but those.
	tailed bool
	tail   int
}

// runMatcherOf is nil unless the pattern, read as regexp.Compile reads
// it, has runMatcher's shape.
func runMatcherOf(pattern string) *runMatcher {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat || len(re.Sub) < 2 {
		return nil
	}
	first, last := re.Sub[0], re.Sub[len(re.Sub)-1]
	if first.Op != syntax.OpBeginText || last.Op != syntax.OpEndText {
		return nil
	}
	m := &runMatcher{}
	for _, sub := range re.Sub[1 : len(re.Sub)-1] {
		switch sub.Op {
		case syntax.OpLiteral:
			if sub.Flags&syntax.FoldCase != 0 {
				return nil
			}
			for _, r := range sub.Rune {
				m.runs = append(m.runs, newCharRun([]rune{r, r}, 1, 1))
			}
		case syntax.OpCharClass:
			m.runs = append(m.runs, newCharRun(sub.Rune, 1, 1))
		case syntax.OpRepeat, syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
			class := classOf(sub.Sub[0])
			if class == nil {
				return nil
			}
			lo, hi := sub.Min, sub.Max
			switch sub.Op {
			case syntax.OpStar:
				lo, hi = 0, -1
			case syntax.OpPlus:
				lo, hi = 1, -1
			case syntax.OpQuest:
				lo, hi = 0, 1
			}
			if hi == 0 {
				return nil
			}
			m.runs = append(m.runs, newCharRun(class, lo, hi))
		default:
			return nil
		}
	}
	for i, r := range m.runs {
		if r.min == r.max {
			continue
		}
		if i+1 < len(m.runs) {
			next := m.runs[i+1]
			if next.min < 1 || !r.disjoint(&next) {
				tail, ok := fixedRunes(m.runs[i+1:])
				if !ok {
					return nil
				}
				m.runs[i].tailed, m.runs[i].tail = true, tail
			}
		}
	}
	return m
}

// fixedRunes is how many runes runs take when each is of fixed length.
func fixedRunes(runs []charRun) (int, bool) {
	n := 0
	for _, r := range runs {
		if r.min != r.max {
			return 0, false
		}
		n += r.min
	}
	return n, true
}

// classOf is the ranges of a character class or of one literal rune,
// nil for anything else.
func classOf(re *syntax.Regexp) []rune {
	switch {
	case re.Op == syntax.OpCharClass:
		return re.Rune
	case re.Op == syntax.OpLiteral && len(re.Rune) == 1 && re.Flags&syntax.FoldCase == 0:
		return []rune{re.Rune[0], re.Rune[0]}
	}
	return nil
}

func newCharRun(ranges []rune, lo, hi int) charRun {
	r := charRun{min: lo, max: hi}
	for i := 0; i+1 < len(ranges); i += 2 {
		a, b := ranges[i], ranges[i+1]
		for c := a; c <= b && c < utf8.RuneSelf; c++ {
			r.ascii[c>>6] |= 1 << (c & 63)
		}
		if b >= utf8.RuneSelf {
			r.ranges = append(r.ranges, max(a, utf8.RuneSelf), b)
		}
	}
	return r
}

func (r *charRun) has(c rune) bool {
	if c < utf8.RuneSelf {
		return r.ascii[c>>6]&(1<<(c&63)) != 0
	}
	for i := 0; i < len(r.ranges); i += 2 {
		if c >= r.ranges[i] && c <= r.ranges[i+1] {
			return true
		}
	}
	return false
}

func (r *charRun) disjoint(o *charRun) bool {
	if r.ascii[0]&o.ascii[0] != 0 || r.ascii[1]&o.ascii[1] != 0 {
		return false
	}
	for i := 0; i < len(r.ranges); i += 2 {
		for j := 0; j < len(o.ranges); j += 2 {
			if r.ranges[i] <= o.ranges[j+1] && o.ranges[j] <= r.ranges[i+1] {
				return false
			}
		}
	}
	return true
}

// match reads s as the regexp machine does: a byte that starts no valid
// UTF-8 sequence is one U+FFFD.
func (m *runMatcher) match(s string) bool {
	p := 0
	for i := range m.runs {
		r := &m.runs[i]
		if r.tailed {
			// Runes are counted as they are read: a byte that starts no
			// valid sequence is one.
			k := utf8.RuneCountInString(s[p:]) - r.tail
			if k < r.min || r.max >= 0 && k > r.max {
				return false
			}
			for ; k > 0; k-- {
				c, w := rune(s[p]), 1
				if c >= utf8.RuneSelf {
					c, w = utf8.DecodeRuneInString(s[p:])
				}
				if !r.has(c) {
					return false
				}
				p += w
			}
			continue
		}
		n := 0
		for (r.max < 0 || n < r.max) && p < len(s) {
			c, w := rune(s[p]), 1
			if c >= utf8.RuneSelf {
				c, w = utf8.DecodeRuneInString(s[p:])
			}
			if !r.has(c) {
				break
			}
			p += w
			n++
		}
		if n < r.min {
			return false
		}
	}
	return p == len(s)
}

// dateTimePattern is the schemas' datetime pattern (RFC 3339 section 5.6),
// which every record's label.created meets; matchDateTime is its matcher
// (TestDateTimeMatcherIsRegexp, FuzzDateTimeMatcher).
const dateTimePattern = `^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`

// matchDateTime is dateTimePattern's MatchString. Every character the
// pattern allows is ASCII, so the string is read byte by byte.
func matchDateTime(s string) bool {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' && s[10] != 't' || s[13] != ':' || s[16] != ':' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if !isDigit(s[i]) {
			return false
		}
	}
	zone := s[19:]
	if zone[0] == '.' {
		i := 1
		for i < len(zone) && isDigit(zone[i]) {
			i++
		}
		if i == 1 {
			return false
		}
		zone = zone[i:]
	}
	switch {
	case zone == "Z" || zone == "z":
		return true
	case len(zone) == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':':
		return isDigit(zone[1]) && isDigit(zone[2]) && isDigit(zone[4]) && isDigit(zone[5])
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
