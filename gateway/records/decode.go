package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/ura-gateway/ura/gateway/problem"
)

// Format is how a push body carries its records.
type Format int

// Formats of a push body.
const (
	// FormatJSON is one JSON array of record objects (application/json).
	FormatJSON Format = iota
	// FormatNDJSON is one record object per line (application/x-ndjson).
	FormatNDJSON
)

// Limits bound what decoding one body may cost. The body's own size is
// bounded by whoever reads it (config limits.max_body_bytes).
type Limits struct {
	// MaxRecords is the most records one body may carry.
	MaxRecords int
	// MaxDepth is the deepest nesting of objects and arrays inside one
	// record; the record object itself is depth 1.
	MaxDepth int
	// MaxStringLength is the longest string or object key, in bytes.
	MaxStringLength int
}

// Decoded is one record of a batch as the scanner found it, before
// validation: its value (numbers as json.Number) and the structural errors
// that JSON decoding alone cannot report, such as duplicate keys.
type Decoded struct {
	Value  any
	Errors []problem.FieldError
}

// Decode splits a push body into its records without validating them. It
// reads JSON one token at a time and stops at the first limit exceeded, so a
// hostile body costs at most a bounded multiple of its (already bounded)
// size. Every error is a *problem.Error for the request as a whole:
// malformed JSON, a body that is not an array or NDJSON, no records, too
// many records, too deep, a string too long.
//
// Duplicate object keys are not accepted: a validator and a store that
// resolve them differently (first wins, last wins) would see different
// records. Each is reported as a field error of its record, which makes the
// record invalid.
func Decode(body []byte, f Format, lim Limits) ([]Decoded, error) {
	if !utf8.Valid(body) {
		return nil, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "the body is not valid UTF-8")
	}
	s := newScanner(body, lim)
	var out []Decoded
	var err error
	if f == FormatNDJSON {
		out, err = s.ndjson()
	} else {
		out, err = s.array()
	}
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "the body holds no records")
	}
	return out, nil
}

// DecodeOne decodes a body that is exactly one record, under the same
// limits and checks as each record of a batch: a record carried inside
// something else (a peer gateway's signed delivery).
func DecodeOne(body []byte, lim Limits) (Decoded, error) {
	if !utf8.Valid(body) {
		return Decoded{}, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "the record is not valid UTF-8")
	}
	lim.MaxRecords = max(lim.MaxRecords, 1)
	s := newScanner(body, lim)
	_ = s.next(0) // record 0 of at least one
	v, err := s.value(0)
	if err != nil {
		return Decoded{}, err
	}
	if _, err := s.dec.ReadToken(); err != io.EOF {
		return Decoded{}, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "the record is followed by other data")
	}
	return Decoded{Value: v, Errors: s.errs}, nil
}

// scanner reads a body one token at a time with jsontext, which checks the
// grammar as it goes and, unlike encoding/json's Decoder.Token, does not
// decode each scalar through reflection. Duplicate names are let through
// to be reported per record (below); invalid UTF-8 was refused before, so
// allowing it here only lets an escaped lone surrogate ("\ud800") decode to
// U+FFFD as encoding/json does.
type scanner struct {
	dec  *jsontext.Decoder
	lim  Limits
	body []byte
	// index is the record being scanned; path is the JSON pointer's tokens
	// inside it.
	index int
	path  []string
	errs  []problem.FieldError
	// names are the member names read so far, each kept once.
	names map[string]string
	// strings and numbers are the scalar values read so far, boxed.
	strings, numbers map[string]any
	// members and elems are the stacks the open objects and arrays
	// gather their contents on.
	members []storedMember
	elems   []any
}

func newScanner(body []byte, lim Limits) *scanner {
	d := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	return &scanner{dec: d, lim: lim, body: body}
}

// more reports whether the open object or array has another member; an
// error is left for the next read to return.
func (s *scanner) more() bool {
	k := s.dec.PeekKind()
	return k != '}' && k != ']' && k != 0
}

func (s *scanner) array() ([]Decoded, error) {
	tok, err := s.dec.ReadToken()
	if err != nil {
		return nil, s.syntax(err, "the body must be a JSON array of records")
	}
	if tok.Kind() != '[' {
		return nil, problem.New(http.StatusBadRequest, problem.TypeBadRequest,
			"the body must be a JSON array of records (or NDJSON with Content-Type application/x-ndjson)")
	}
	var out []Decoded
	for s.more() {
		if err := s.next(len(out)); err != nil {
			return nil, err
		}
		v, err := s.value(0)
		if err != nil {
			return nil, err
		}
		out = append(out, Decoded{Value: v, Errors: s.errs})
	}
	if _, err := s.dec.ReadToken(); err != nil { // the closing ']'
		return nil, s.syntax(err, "")
	}
	if _, err := s.dec.ReadToken(); err != io.EOF {
		return nil, problem.New(http.StatusBadRequest, problem.TypeBadRequest,
			fmt.Sprintf("unexpected data after the array at byte %d", s.dec.InputOffset()))
	}
	return out, nil
}

// ndjson reads one record per line. A record spread over several lines, or
// two records on one line, is refused: line numbers must mean record numbers
// for the pusher reading the results.
func (s *scanner) ndjson() ([]Decoded, error) {
	var out []Decoded
	prevEnd := int64(0)
	for {
		tok, err := s.dec.ReadToken()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, s.syntax(err, "")
		}
		if err := s.next(len(out)); err != nil {
			return nil, err
		}
		start := s.dec.InputOffset() - tokenLen(tok)
		if len(out) > 0 && !bytes.ContainsRune(s.body[prevEnd:start], '\n') {
			return nil, s.requestError(http.StatusBadRequest, problem.TypeBadRequest, "",
				"NDJSON holds one record per line; this record starts on the line of the one before it")
		}
		v, err := s.valueFrom(tok, 0)
		if err != nil {
			return nil, err
		}
		end := s.dec.InputOffset()
		if bytes.ContainsRune(s.body[start:end], '\n') {
			return nil, s.requestError(http.StatusBadRequest, problem.TypeBadRequest, "",
				"NDJSON holds one record per line; this record spans several lines")
		}
		prevEnd = end
		out = append(out, Decoded{Value: v, Errors: s.errs})
	}
}

// tokenLen is how many input bytes the first token of a record takes, so
// that the record's start can be found from the decoder's offset after it.
// Only an object can be a valid record; a scalar (refused later) counts as
// starting at its end, which is enough for the line checks because a JSON
// scalar never contains a raw newline.
func tokenLen(tok jsontext.Token) int64 {
	if k := tok.Kind(); k == '{' || k == '[' {
		return 1
	}
	return 0
}

// next starts record i, refusing it when the batch is already full.
func (s *scanner) next(i int) error {
	if i >= s.lim.MaxRecords {
		p := problem.New(http.StatusRequestEntityTooLarge, problem.TypeTooManyRecords,
			fmt.Sprintf("a batch may hold at most %d records; split it", s.lim.MaxRecords))
		p.Extra = map[string]any{"max_records": s.lim.MaxRecords}
		return p
	}
	s.index, s.path, s.errs = i, s.path[:0], nil
	return nil
}

func (s *scanner) value(depth int) (any, error) {
	if k := s.dec.PeekKind(); k == '"' || k == '0' {
		raw, err := s.dec.ReadValue()
		if err != nil {
			return nil, s.syntax(err, "")
		}
		return s.scalar(raw)
	}
	tok, err := s.dec.ReadToken()
	if err != nil {
		return nil, s.syntax(err, "")
	}
	return s.valueFrom(tok, depth)
}

// valueFrom builds the value that starts with tok; depth is how deep its
// container is nested (0 for a record itself). Numbers are kept as written
// (json.Number), as encoding/json's UseNumber kept them.
func (s *scanner) valueFrom(tok jsontext.Token, depth int) (any, error) {
	switch tok.Kind() {
	case '"':
		t := tok.String()
		if err := s.checkString(t); err != nil {
			return nil, err
		}
		return t, nil
	case '0', 't', 'f', 'n':
		return literal(tok), nil
	case '{', '[':
		if depth+1 > s.lim.MaxDepth {
			return nil, s.requestError(http.StatusUnprocessableEntity, problem.TypeTooDeep, s.pointer(),
				fmt.Sprintf("JSON nesting deeper than %d levels", s.lim.MaxDepth))
		}
		if tok.Kind() == '{' {
			return s.object(depth + 1)
		}
		return s.array1(depth + 1)
	default:
		// ReadToken yields no other kind without an error.
		return nil, s.syntax(fmt.Errorf("unexpected token kind %v", tok.Kind()), "")
	}
}

func (s *scanner) object(depth int) (any, error) {
	// The members are gathered on the scanner's stack, shared by every
	// level, and the map is made once at its final size instead of grown
	// as they come (as DecodeStored does). A repeated name is found among
	// the members gathered so far, at the same point as before: the first
	// is kept and the error is reported after the repeat's value.
	mark := len(s.members)
	var seen map[string]struct{}
	for s.more() {
		raw, err := s.dec.ReadValue() // the decoder only yields a string here
		if err != nil {
			return nil, s.syntax(err, "")
		}
		key := s.name(raw)
		s.path = append(s.path, key)
		if err := s.checkString(key); err != nil {
			return nil, err
		}
		v, err := s.value(depth)
		if err != nil {
			return nil, err
		}
		if s.repeated(mark, key, &seen) {
			s.errs = append(s.errs, s.fieldError(s.pointer(), "duplicate key: an object may name each member once"))
		} else {
			s.members = append(s.members, storedMember{key, v})
		}
		s.path = s.path[:len(s.path)-1]
	}
	if _, err := s.dec.ReadToken(); err != nil {
		return nil, s.syntax(err, "")
	}
	ms := s.members[mark:]
	obj := make(map[string]any, len(ms))
	for _, m := range ms {
		obj[m.k] = m.v
	}
	clear(ms)
	s.members = s.members[:mark]
	return obj, nil
}

// linearNames is how many members an object may have before a repeated
// name is looked up in a set rather than among the members one by one.
const linearNames = 16

// repeated reports whether key names a member already gathered since mark.
// A large object (more than linearNames members) gets a set of its names,
// so that a hostile one costs no more than a map did.
func (s *scanner) repeated(mark int, key string, seen *map[string]struct{}) bool {
	ms := s.members[mark:]
	if *seen == nil && len(ms) < linearNames {
		for _, m := range ms {
			if m.k == key {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*len(ms))
		for _, m := range ms {
			(*seen)[m.k] = struct{}{}
		}
	}
	if _, ok := (*seen)[key]; ok {
		return true
	}
	(*seen)[key] = struct{}{}
	return false
}

func (s *scanner) array1(depth int) (any, error) {
	mark := len(s.elems)
	for i := 0; s.more(); i++ {
		s.path = append(s.path, strconv.Itoa(i))
		v, err := s.value(depth)
		if err != nil {
			return nil, err
		}
		s.elems = append(s.elems, v)
		s.path = s.path[:len(s.path)-1]
	}
	if _, err := s.dec.ReadToken(); err != nil {
		return nil, s.syntax(err, "")
	}
	es := s.elems[mark:]
	arr := make([]any, len(es))
	copy(arr, es)
	clear(es)
	s.elems = s.elems[:mark]
	return arr, nil
}

// scalar is the string or number whose JSON text is raw, as valueFrom
// makes it from the token. The records of a batch repeat many values
// (kinds, countries, classifications, dates); a value without escapes
// already read is handed out again, boxed once, instead of being
// allocated twice (text and box) each time. Strings and numbers are
// immutable, so sharing one is never seen.
func (s *scanner) scalar(raw jsontext.Value) (any, error) {
	if raw[0] != '"' {
		if v, ok := s.numbers[string(raw)]; ok {
			return v, nil
		}
		n := string(raw)
		var v any = json.Number(n)
		if s.numbers == nil {
			s.numbers = map[string]any{}
		}
		if len(s.numbers) < maxValues {
			s.numbers[n] = v
		}
		return v, nil
	}
	text := raw[1 : len(raw)-1]
	if bytes.IndexByte(text, '\\') >= 0 {
		// As in name: U+FFFD for a lone surrogate is AppendUnquote's
		// only possible error.
		b, _ := jsontext.AppendUnquote(nil, raw)
		t := string(b)
		if err := s.checkString(t); err != nil {
			return nil, err
		}
		return t, nil
	}
	if len(text) > s.lim.MaxStringLength {
		return nil, s.checkString(string(text))
	}
	if v, ok := s.strings[string(text)]; ok {
		return v, nil
	}
	t := string(text)
	var v any = t
	if s.strings == nil {
		s.strings = map[string]any{}
	}
	if len(s.strings) < maxValues {
		s.strings[t] = v
	}
	return v, nil
}

// maxValues bounds how many distinct strings, and numbers, one body's
// scanner keeps.
const maxValues = 4096

// maxNames bounds how many distinct member names one body's scanner keeps.
const maxNames = 512

// name is the member name whose JSON text is raw, as the token reader
// reads it (an escaped lone surrogate becomes U+FFFD). The records of a
// batch name the same members again and again; a name without escapes
// is looked up among those already read instead of being allocated once
// per object (TestDecodeIsReference holds the result to encoding/json).
func (s *scanner) name(raw jsontext.Value) string {
	text := raw[1 : len(raw)-1]
	if bytes.IndexByte(text, '\\') >= 0 {
		// AppendUnquote reports a lone surrogate after writing U+FFFD
		// for it, as the token reader does; the body is valid UTF-8 and
		// the decoder checked the grammar, so that is its only error.
		b, _ := jsontext.AppendUnquote(nil, raw)
		return string(b)
	}
	if n, ok := s.names[string(text)]; ok {
		return n
	}
	n := string(text)
	if s.names == nil {
		s.names = map[string]string{}
	}
	if len(s.names) < maxNames {
		s.names[n] = n
	}
	return n
}

func (s *scanner) checkString(v string) error {
	if len(v) > s.lim.MaxStringLength {
		return s.requestError(http.StatusUnprocessableEntity, problem.TypeStringTooLong, s.pointer(),
			fmt.Sprintf("string longer than %d bytes", s.lim.MaxStringLength))
	}
	return nil
}

func (s *scanner) pointer() string { return Pointer(s.path...) }

func (s *scanner) fieldError(ptr, detail string) problem.FieldError {
	i := s.index
	return problem.FieldError{Record: &i, Pointer: ptr, Detail: detail}
}

func (s *scanner) requestError(status int, typ, ptr, detail string) *problem.Error {
	p := problem.New(status, typ, fmt.Sprintf("record %d: %s", s.index, detail))
	p.Errors = []problem.FieldError{s.fieldError(ptr, detail)}
	return p
}

// syntax turns a decoder error into a 400 that says where, never what the
// decoder's internals are.
func (s *scanner) syntax(err error, detail string) error {
	if detail == "" {
		detail = "malformed JSON"
	}
	var se *jsontext.SyntacticError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		detail += ": the body ends inside a value"
	case errors.As(err, &se):
		detail = fmt.Sprintf("%s at byte %d", detail, se.ByteOffset)
	}
	return problem.New(http.StatusBadRequest, problem.TypeBadRequest, detail).Wrap(err)
}

// Pointer builds an RFC 6901 JSON pointer from reference tokens.
func Pointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(t))
	}
	return b.String()
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")
