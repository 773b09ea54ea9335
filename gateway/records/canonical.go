package records

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/ura-gateway/ura/gateway/jsonstr"
)

// Canonical is the one serialization of a record (or of a redacted copy):
// keys sorted, no insignificant whitespace, no HTML escaping, numbers as
// they were decoded. The bytes are exactly those of encoding/json with
// HTML escaping off (what the store has always kept, so that "unchanged"
// holds across versions); decoded JSON (maps, slices, strings,
// json.Number, bools, nil) is written directly, anything else through
// encoding/json.
func Canonical(v any) ([]byte, error) {
	b, _, err := canonical(v)
	return b, err
}

// CanonicalSized is Canonical written into a buffer of capacity size, for
// a caller that knows about how long the bytes will be (a redacted copy is
// no longer than the stored record), so the buffer is not grown and copied
// as it fills.
func CanonicalSized(v any, size int) ([]byte, error) {
	w := canonicalWriter{jcs: true, b: make([]byte, 0, size)}
	if err := w.value(v); err != nil {
		return nil, err
	}
	return w.b, nil
}

// canonical writes v as Canonical does, and reports whether those bytes are
// also their own RFC 8785 form, so that Digest need not parse them again.
func canonical(v any) ([]byte, bool, error) {
	w := canonicalScratch.Get().(*canonicalWriter)
	defer w.release()
	w.jcs = true
	if err := w.value(v); err != nil {
		return nil, false, err
	}
	return bytes.Clone(w.b), w.jcs, nil
}

// canonicalScratch keeps writers between records: a record is written
// into a buffer that already has room for it and copied out once, instead
// of into one grown (and copied) about ten times from nothing.
var canonicalScratch = sync.Pool{New: func() any { return new(canonicalWriter) }}

// maxScratch is the largest buffer kept for the next record; a larger one
// (a record near limits.max_body_bytes) is left to the collector.
const maxScratch = 64 << 10

func (w *canonicalWriter) release() {
	if cap(w.b) > maxScratch {
		return
	}
	w.b = w.b[:0]
	// The members are the last record's: not kept alive by the pool.
	clear(w.members[:cap(w.members)])
	w.members = w.members[:0]
	canonicalScratch.Put(w)
}

// canonicalWriter appends the canonical form of a decoded value. jcs stays
// true while what was written is byte for byte its RFC 8785 form too: the
// two differ only in numbers not written the ECMAScript way (1.50, 1e2,
// -0), in U+2028 and U+2029 (escaped here, raw there), and in the order of
// keys outside ASCII (code points here, UTF-16 units there). Anything else
// written the same way by both (control characters, quotes and backslashes
// are escaped alike).
type canonicalWriter struct {
	b   []byte
	jcs bool
	// members is reused for sorting each object's members.
	members []member
}

func (w *canonicalWriter) value(v any) error {
	switch t := v.(type) {
	case nil:
		w.b = append(w.b, "null"...)
	case bool:
		w.b = strconv.AppendBool(w.b, t)
	case string:
		w.string(t)
	case json.Number:
		return w.number(t)
	case map[string]any:
		if t == nil {
			w.b = append(w.b, "null"...)
			return nil
		}
		return w.object(t)
	case []any:
		if t == nil {
			w.b = append(w.b, "null"...)
			return nil
		}
		w.b = append(w.b, '[')
		for i, e := range t {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			if err := w.value(e); err != nil {
				return err
			}
		}
		w.b = append(w.b, ']')
	default:
		return w.fallback(v)
	}
	return nil
}

func (w *canonicalWriter) object(m map[string]any) error {
	// Members are taken with their values in one pass over the map and
	// sorted as pairs, so no value is looked up again by its key.
	start := len(w.members)
	for k, v := range m {
		w.members = append(w.members, member{k, v})
	}
	members := w.members[start:]
	sortMembers(members)
	w.b = append(w.b, '{')
	for i, mb := range members {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		if w.jcs && !ascii(mb.key) {
			w.jcs = false
		}
		w.string(mb.key)
		w.b = append(w.b, ':')
		if err := w.value(mb.val); err != nil {
			return err
		}
	}
	w.b = append(w.b, '}')
	w.members = w.members[:start]
	return nil
}

type member struct {
	key string
	val any
}

// sortMembers sorts by key as slices.Sort sorts strings (byte order);
// keys of one map are distinct, so the order is total.
func sortMembers(ms []member) {
	if len(ms) > 12 {
		slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
		return
	}
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].key < ms[j-1].key; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// number writes a decoded number as it was sent (encoding/json's rule for
// json.Number, the empty one included).
func (w *canonicalWriter) number(n json.Number) error {
	s := string(n)
	if s == "" {
		s = "0"
	}
	if !validNumber(s) {
		return w.fallback(n) // encoding/json's own error
	}
	if w.jcs && !jcsInteger(s) {
		w.jcs = false
	}
	w.b = append(w.b, s...)
	return nil
}

// fallback writes what is not decoded JSON through encoding/json.
func (w *canonicalWriter) fallback(v any) error {
	w.jcs = false
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("canonical json: %w", err)
	}
	w.b = append(w.b, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
	return nil
}

// string is encoding/json's string encoding with HTML escaping off; a
// string whose RFC 8785 form differs (invalid UTF-8, U+2028, U+2029) makes
// the document's canonical bytes not its RFC 8785 form.
func (w *canonicalWriter) string(s string) {
	var differs bool
	w.b, differs = jsonstr.Append(w.b, s, false)
	if differs {
		w.jcs = false
	}
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// jcsInteger reports whether a number is written as RFC 8785 writes it
// without reading it as a double: 0, or an integer of at most 15 digits
// without a leading zero (every such integer is an exact double, which
// ECMAScript writes as its digits). Anything else may be written otherwise
// there (1.50, 1e2, -0, 2^53+1) and is left to jcs.
func jcsInteger(s string) bool {
	d := s
	if d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 15 || d[0] == '0' && (len(d) > 1 || len(s) > 1) {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}

// validNumber is the RFC 8259 number grammar, as encoding/json checks a
// json.Number before writing it.
func validNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = s[1:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = s[2:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	return s == ""
}

// digestOf is Digest of canonical bytes known to be their own RFC 8785
// form (jcs) or not.
func digestOf(canonical []byte, jcs bool) string {
	if !jcs {
		return Digest(canonical)
	}
	sum := sha256.Sum256(canonical)
	// One allocation for the whole name, not one for the hex and one more
	// for the prefix.
	const prefix = "sha256:"
	var b [len(prefix) + 2*sha256.Size]byte
	hex.Encode(b[copy(b[:], prefix):], sum[:])
	return string(b[:])
}

// ContentDigest is Digest(r.Raw), computed once when the record was built
// from a push (without parsing Raw again) and on each call otherwise.
func (r *Record) ContentDigest() string {
	if r.digest != "" {
		return r.digest
	}
	return Digest(r.Raw)
}
