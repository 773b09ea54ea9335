package records

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// storedDepth is the deepest nesting the fast parser reads; deeper records
// (none the schemas allow) go to the token decoder, which has its own limit.
const storedDepth = 256

// storedParser reads a record the way decodeStoredTokens does, on the bytes
// as one string: a string without escapes is a slice of it (no copy of its
// own), and each object's members and array's elements are gathered on a
// stack shared by every level first, so that the map or slice holding them
// is allocated once at its final size. ok is false for anything it does not
// read exactly as the token decoder would; the caller asks that decoder.
type storedParser struct {
	s       string
	i       int
	depth   int
	members []storedMember
	elems   []any
	buf     []byte
	// shape is the record's shape (Record.Shape) written as it is read;
	// shaped is true while one is asked for and what is written is that
	// shape: every object's keys came strictly sorted (no repeat) and no
	// number needs a range check.
	shape  []byte
	shaped bool
	// lastShape is the last shape handed out (shared by every record of
	// that shape; a string, so none of them can change it).
	lastShape string
}

type storedMember struct {
	k string
	v any
}

var storedParsers = sync.Pool{New: func() any { return new(storedParser) }}

// reset drops every reference into the last record, so a parser kept in
// the pool holds none of it alive.
func (p *storedParser) reset() {
	clear(p.members[:cap(p.members)])
	clear(p.elems[:cap(p.elems)])
	p.members, p.elems, p.s, p.i, p.depth, p.shape = p.members[:0], p.elems[:0], "", 0, 0, p.shape[:0]
}

// put adds one byte to the shape while there is one.
func (p *storedParser) put(c byte) {
	if p.shaped {
		p.shape = append(p.shape, c)
	}
}

// key adds an object's key to the shape, its length first, as the group
// key writes it. The shape lists each object's keys sorted: only while
// each key is above the one before it at its level (mark is the level's
// first member; strings.Compare, as the group key sorts a map's keys) is
// the shape written so far right.
func (p *storedParser) key(k string, mark int) {
	if len(p.members) > mark && strings.Compare(k, p.members[len(p.members)-1].k) <= 0 {
		p.shaped = false
		return
	}
	if len(k) < 10 {
		p.shape = append(p.shape, '0'+byte(len(k)))
	} else {
		p.shape = strconv.AppendInt(p.shape, int64(len(k)), 10)
	}
	p.shape = append(append(p.shape, ':'), k...)
}

// parse reads raw, with its shape in p.shape when shape and p.shaped.
func (p *storedParser) parse(raw []byte, shape bool) (map[string]any, bool) {
	p.s, p.i, p.depth = string(raw), 0, 0
	p.shape, p.shaped = append(p.shape[:0], '{'), shape
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return nil, false
	}
	p.i++
	doc, ok := p.object()
	if !ok {
		return nil, false
	}
	p.space()
	return doc, p.i == len(p.s)
}

func (p *storedParser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *storedParser) value() (any, bool) {
	p.space()
	if p.i >= len(p.s) {
		return nil, false
	}
	switch c := p.s[p.i]; {
	case c == '"':
		p.put('s')
		s, ok := p.string()
		return s, ok
	case c == '{':
		p.i++
		p.put('{')
		m, ok := p.object()
		return m, ok
	case c == '[':
		p.i++
		p.put('[')
		return p.array()
	case c == '-' || c >= '0' && c <= '9':
		p.put('n')
		return p.number()
	case c == 't':
		p.put('b')
		return true, p.literal("true")
	case c == 'f':
		p.put('b')
		return false, p.literal("false")
	case c == 'n':
		p.put('z')
		return nil, p.literal("null")
	}
	return nil, false
}

func (p *storedParser) literal(lit string) bool {
	if len(p.s)-p.i < len(lit) || p.s[p.i:p.i+len(lit)] != lit {
		return false
	}
	p.i += len(lit)
	return true
}

// object reads the members of an object whose '{' was read; a name given
// twice keeps its last value, as the token decoder's does.
func (p *storedParser) object() (map[string]any, bool) {
	if p.depth++; p.depth > storedDepth {
		return nil, false
	}
	mark := len(p.members)
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		p.depth--
		p.put('}')
		return map[string]any{}, true
	}
	for {
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return nil, false
		}
		k, ok := p.string()
		if !ok {
			return nil, false
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, false
		}
		p.i++
		if p.shaped {
			p.key(k, mark)
		}
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		p.members = append(p.members, storedMember{k, v})
		p.space()
		if p.i >= len(p.s) {
			return nil, false
		}
		if c := p.s[p.i]; c == ',' {
			p.i++
			continue
		} else if c != '}' {
			return nil, false
		}
		p.i++
		break
	}
	ms := p.members[mark:]
	obj := make(map[string]any, len(ms))
	for _, m := range ms {
		obj[m.k] = m.v
	}
	clear(ms)
	p.members = p.members[:mark]
	p.depth--
	p.put('}')
	return obj, true
}

func (p *storedParser) array() (any, bool) {
	if p.depth++; p.depth > storedDepth {
		return nil, false
	}
	mark := len(p.elems)
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		p.depth--
		p.put(']')
		return []any{}, true
	}
	for {
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		p.elems = append(p.elems, v)
		p.space()
		if p.i >= len(p.s) {
			return nil, false
		}
		if c := p.s[p.i]; c == ',' {
			p.i++
			continue
		} else if c != ']' {
			return nil, false
		}
		p.i++
		break
	}
	es := p.elems[mark:]
	arr := make([]any, len(es))
	copy(arr, es)
	clear(es)
	p.elems = p.elems[:mark]
	p.depth--
	p.put(']')
	return arr, true
}

// number reads a number as JSON's grammar has it, kept as written.
func (p *storedParser) number() (any, bool) {
	s, start := p.s, p.i
	i := start
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i)
	default:
		return nil, false
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return nil, false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		// The policy checks an exponent's range before it keys a shape
		// with it (ast.NumberChecked); such a record's shape is left to it.
		p.shaped = false
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return nil, false
		}
		i = j
	}
	p.i = i
	return json.Number(s[start:i]), true
}

func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// string reads a string whose '"' is at p.i. Without escapes it is a slice
// of p.s; with them it is decoded into a copy. A string the token decoder
// would change or refuse (invalid UTF-8, a lone surrogate, a control
// character) is not read here.
func (p *storedParser) string() (string, bool) {
	s := p.s
	start := p.i + 1
	ascii := true
	for i := start; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			v := s[start:i]
			if !ascii && !utf8.ValidString(v) {
				return "", false
			}
			p.i = i + 1
			return v, true
		case c == '\\':
			return p.escaped(start, i)
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// escaped decodes a string with escapes: start is its first byte, i its
// first backslash.
func (p *storedParser) escaped(start, i int) (string, bool) {
	s := p.s
	b := append(p.buf[:0], s[start:i]...)
	defer func() { p.buf = b[:0] }()
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			if !utf8.Valid(b) {
				return "", false
			}
			p.i = i + 1
			return string(b), true
		case c < 0x20:
			return "", false
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", false
		}
		switch s[i+1] {
		case '"', '\\', '/':
			b = append(b, s[i+1])
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return "", false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// Only a pair is read here; a lone half is the token
				// decoder's to replace.
				if r >= 0xdc00 || i+6 > len(s) || s[i] != '\\' || s[i+1] != 'u' {
					return "", false
				}
				lo, ok := hex4(s, i+2)
				if !ok || lo < 0xdc00 || lo > 0xdfff {
					return "", false
				}
				r = utf16.DecodeRune(r, lo)
				i += 6
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			return "", false
		}
		i += 2
	}
	return "", false
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
