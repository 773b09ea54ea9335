package records

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/ura-gateway/ura/gateway/jsonstr"
)

// ApplyRaw is Apply on a stored record's bytes: raw without the members and
// elements r removes, written by copying the bytes of everything kept. raw
// must be the record's canonical bytes (Canonical of its document, which
// is what the store keeps); the result is then exactly Canonical of
// Apply's copy, byte for byte, without decoding the record into a copy
// and writing it again (a redacted pull's largest cost).
//
// Bytes the copier below takes on (no whitespace, keys to look up written
// in ASCII without escapes: a stored record's) are copied by it; anything
// else is copied by jsontext's tokens, whose result or error is the answer.
func (r *Redaction) ApplyRaw(raw []byte) ([]byte, error) {
	c := rawCopier{b: raw, out: make([]byte, 0, len(raw))}
	if len(raw) > 0 && raw[0] == '{' && c.copy(r.root) && c.i == len(raw) {
		return c.out, nil
	}
	return r.applyRawTokens(raw)
}

// applyRawTokens is ApplyRaw by jsontext's tokens: the reference the
// copier is held to, and its fallback.
func (r *Redaction) applyRawTokens(raw []byte) ([]byte, error) {
	d := jsontext.NewDecoder(bytes.NewReader(raw), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if d.PeekKind() != '{' {
		return nil, errors.New("redact: the stored record is not a JSON object")
	}
	out, err := copyRedacted(make([]byte, 0, len(raw)), d, r.root)
	if err != nil {
		return nil, fmt.Errorf("redact: %w", err)
	}
	return out, nil
}

// copyRedacted appends the next value of d without what n removes. A value
// nothing below is removed from is copied as it is.
func copyRedacted(dst []byte, d *jsontext.Decoder, n *redactNode) ([]byte, error) {
	kind := d.PeekKind()
	if n == nil || n.kids == nil || (kind != '{' && kind != '[') {
		v, err := d.ReadValue()
		return append(dst, v...), err
	}
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	open, end := byte('{'), byte('}')
	if kind == '[' {
		open, end = '[', ']'
	}
	dst = append(dst, open)
	first := true
	for i := 0; ; i++ {
		next := d.PeekKind()
		if next == 0 || next == '}' || next == ']' {
			break
		}
		var (
			name string
			c    *redactNode
		)
		if kind == '{' {
			tok, err := d.ReadToken()
			if err != nil {
				return nil, err
			}
			name = tok.String()
			c = n.kids[name]
		} else {
			c = n.kids[strconv.Itoa(i)]
		}
		if c != nil && c.remove {
			if err := d.SkipValue(); err != nil {
				return nil, err
			}
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		if kind == '{' {
			// As Canonical writes a key (canonicalWriter.string).
			dst, _ = jsonstr.Append(dst, name, false)
			dst = append(dst, ':')
		}
		var err error
		if dst, err = copyRedacted(dst, d, c); err != nil {
			return nil, err
		}
	}
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	return append(dst, end), nil
}

// Touches reports whether r removes anything inside the top-level member
// name (or the member itself).
func (r *Redaction) Touches(name string) bool {
	return r.root.kids[name] != nil
}

// rawCopier is copyRedacted on bytes without whitespace: it checks JSON's
// grammar as jsontext does while it copies, and gives up (false) on
// whatever it would not copy exactly as copyRedacted does.
type rawCopier struct {
	b     []byte
	i     int
	out   []byte
	depth int
}

func (c *rawCopier) copy(n *redactNode) bool {
	if c.i >= len(c.b) {
		return false
	}
	open := c.b[c.i]
	if n == nil || n.kids == nil || (open != '{' && open != '[') {
		start := c.i
		if !c.skip() {
			return false
		}
		c.out = append(c.out, c.b[start:c.i]...)
		return true
	}
	end := byte('}')
	if open == '[' {
		end = ']'
	}
	if c.depth++; c.depth > storedDepth {
		return false
	}
	c.i++
	c.out = append(c.out, open)
	if c.i < len(c.b) && c.b[c.i] == end {
		c.i++
		c.depth--
		c.out = append(c.out, end)
		return true
	}
	first := true
	for i := 0; ; i++ {
		var (
			child      *redactNode
			keyStart   int
			keyEnd     int
			isNameable bool
		)
		if open == '{' {
			keyStart = c.i
			if keyEnd, isNameable = c.plainKey(); !isNameable {
				return false
			}
			child = n.kids[string(c.b[keyStart+1:keyEnd-1])]
			if c.i >= len(c.b) || c.b[c.i] != ':' {
				return false
			}
			c.i++
		} else {
			child = n.kids[strconv.Itoa(i)]
		}
		if child != nil && child.remove {
			if !c.skip() {
				return false
			}
		} else {
			if !first {
				c.out = append(c.out, ',')
			}
			first = false
			if open == '{' {
				// Written as it was: a plain key is its own Canonical form.
				c.out = append(append(c.out, c.b[keyStart:keyEnd]...), ':')
			}
			if !c.copy(child) {
				return false
			}
		}
		if c.i >= len(c.b) {
			return false
		}
		if c.b[c.i] == ',' {
			c.i++
			continue
		}
		if c.b[c.i] != end {
			return false
		}
		c.i++
		c.depth--
		c.out = append(c.out, end)
		return true
	}
}

// plainKey reads a key written in printable ASCII without escapes, the
// bytes jsonstr.Append writes for it, and returns the offset after its
// closing quote.
func (c *rawCopier) plainKey() (int, bool) {
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return 0, false
	}
	for i := c.i + 1; i < len(c.b); i++ {
		switch ch := c.b[i]; {
		case ch == '"':
			c.i = i + 1
			return c.i, true
		case ch == '\\' || ch < 0x20 || ch >= utf8.RuneSelf:
			return 0, false
		}
	}
	return 0, false
}

// skip moves past one value, checking its grammar.
func (c *rawCopier) skip() bool {
	b := c.b
	if c.i >= len(b) {
		return false
	}
	switch ch := b[c.i]; {
	case ch == '"':
		return c.skipString()
	case ch == '{' || ch == '[':
		if c.depth++; c.depth > storedDepth {
			return false
		}
		end := byte('}')
		if ch == '[' {
			end = ']'
		}
		c.i++
		if c.i < len(b) && b[c.i] == end {
			c.i++
			c.depth--
			return true
		}
		for {
			if ch == '{' {
				if c.i >= len(b) || b[c.i] != '"' || !c.skipString() || c.i >= len(b) || b[c.i] != ':' {
					return false
				}
				c.i++
			}
			if !c.skip() || c.i >= len(b) {
				return false
			}
			if b[c.i] == ',' {
				c.i++
				continue
			}
			if b[c.i] != end {
				return false
			}
			c.i++
			c.depth--
			return true
		}
	case ch == '-' || ch >= '0' && ch <= '9':
		j := numberEnd(b, c.i)
		if j < 0 {
			return false
		}
		c.i = j
		return true
	case ch == 't':
		return c.literal("true")
	case ch == 'f':
		return c.literal("false")
	case ch == 'n':
		return c.literal("null")
	}
	return false
}

func (c *rawCopier) literal(lit string) bool {
	if len(c.b)-c.i < len(lit) || string(c.b[c.i:c.i+len(lit)]) != lit {
		return false
	}
	c.i += len(lit)
	return true
}

// skipString moves past a string whose quote is at c.i: valid UTF-8,
// escapes of JSON's, none of a surrogate (jsontext's to judge).
func (c *rawCopier) skipString() bool {
	b := c.b
	start := c.i + 1
	ascii := true
	for i := start; i < len(b); {
		switch ch := b[i]; {
		case ch == '"':
			if !ascii && !utf8.Valid(b[start:i]) {
				return false
			}
			c.i = i + 1
			return true
		case ch < 0x20:
			return false
		case ch >= utf8.RuneSelf:
			ascii = false
			i++
		case ch != '\\':
			i++
		case i+1 >= len(b):
			return false
		case b[i+1] == 'u':
			r, ok := hex4(string(b[min(i+2, len(b)):min(i+6, len(b))]), 0)
			if !ok || utf16.IsSurrogate(r) {
				return false
			}
			i += 6
		case strings.IndexByte(`"\/bfnrt`, b[i+1]) >= 0:
			i += 2
		default:
			return false
		}
	}
	return false
}

// numberEnd is the offset after the number at i, or -1 if JSON's grammar
// has none there.
func numberEnd(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digitsEnd(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digitsEnd(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digitsEnd(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digitsEnd(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
