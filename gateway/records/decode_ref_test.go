package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ura-gateway/ura/gateway/problem"
)

// refDecode is Decode as it was written on encoding/json's Decoder.Token:
// the oracle Decode is held to (TestDecodeIsReference, FuzzDecodeIsReference).
func refDecode(body []byte, f Format, lim Limits) ([]Decoded, error) {
	if !utf8.Valid(body) {
		return nil, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "the body is not valid UTF-8")
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	s := &refScanner{dec: d, lim: lim, body: body}
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

type refScanner struct {
	dec  *json.Decoder
	lim  Limits
	body []byte
	// index is the record being scanned; path is the JSON pointer's tokens
	// inside it.
	index int
	path  []string
	errs  []problem.FieldError
}

func (s *refScanner) array() ([]Decoded, error) {
	tok, err := s.dec.Token()
	if err != nil {
		return nil, s.syntax(err, "the body must be a JSON array of records")
	}
	if tok != json.Delim('[') {
		return nil, problem.New(http.StatusBadRequest, problem.TypeBadRequest,
			"the body must be a JSON array of records (or NDJSON with Content-Type application/x-ndjson)")
	}
	var out []Decoded
	for s.dec.More() {
		if err := s.next(len(out)); err != nil {
			return nil, err
		}
		v, err := s.value(0)
		if err != nil {
			return nil, err
		}
		out = append(out, Decoded{Value: v, Errors: s.errs})
	}
	if _, err := s.dec.Token(); err != nil { // the closing ']'
		return nil, s.syntax(err, "")
	}
	if _, err := s.dec.Token(); err != io.EOF {
		return nil, problem.New(http.StatusBadRequest, problem.TypeBadRequest,
			fmt.Sprintf("unexpected data after the array at byte %d", s.dec.InputOffset()))
	}
	return out, nil
}

// ndjson reads one record per line. A record spread over several lines, or
// two records on one line, is refused: line numbers must mean record numbers
// for the pusher reading the results.
func (s *refScanner) ndjson() ([]Decoded, error) {
	var out []Decoded
	prevEnd := int64(0)
	for {
		tok, err := s.dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, s.syntax(err, "")
		}
		if err := s.next(len(out)); err != nil {
			return nil, err
		}
		start := s.dec.InputOffset() - refTokenLen(tok)
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
func refTokenLen(tok json.Token) int64 {
	if _, ok := tok.(json.Delim); ok {
		return 1
	}
	return 0
}

// next starts record i, refusing it when the batch is already full.
func (s *refScanner) next(i int) error {
	if i >= s.lim.MaxRecords {
		p := problem.New(http.StatusRequestEntityTooLarge, problem.TypeTooManyRecords,
			fmt.Sprintf("a batch may hold at most %d records; split it", s.lim.MaxRecords))
		p.Extra = map[string]any{"max_records": s.lim.MaxRecords}
		return p
	}
	s.index, s.path, s.errs = i, s.path[:0], nil
	return nil
}

func (s *refScanner) value(depth int) (any, error) {
	tok, err := s.dec.Token()
	if err != nil {
		return nil, s.syntax(err, "")
	}
	return s.valueFrom(tok, depth)
}

// valueFrom builds the value that starts with tok; depth is how deep its
// container is nested (0 for a record itself).
func (s *refScanner) valueFrom(tok json.Token, depth int) (any, error) {
	switch t := tok.(type) {
	case string:
		if err := s.checkString(t); err != nil {
			return nil, err
		}
		return t, nil
	case json.Delim:
		if depth+1 > s.lim.MaxDepth {
			return nil, s.requestError(http.StatusUnprocessableEntity, problem.TypeTooDeep, s.pointer(),
				fmt.Sprintf("JSON nesting deeper than %d levels", s.lim.MaxDepth))
		}
		if t == '{' {
			return s.object(depth + 1)
		}
		return s.array1(depth + 1)
	default: // json.Number, bool, nil
		return t, nil
	}
}

func (s *refScanner) object(depth int) (any, error) {
	obj := map[string]any{}
	for s.dec.More() {
		tok, err := s.dec.Token()
		if err != nil {
			return nil, s.syntax(err, "")
		}
		key, _ := tok.(string) // the decoder only yields strings here
		s.path = append(s.path, key)
		if err := s.checkString(key); err != nil {
			return nil, err
		}
		v, err := s.value(depth)
		if err != nil {
			return nil, err
		}
		if _, dup := obj[key]; dup {
			s.errs = append(s.errs, s.fieldError(s.pointer(), "duplicate key: an object may name each member once"))
		} else {
			obj[key] = v
		}
		s.path = s.path[:len(s.path)-1]
	}
	if _, err := s.dec.Token(); err != nil {
		return nil, s.syntax(err, "")
	}
	return obj, nil
}

func (s *refScanner) array1(depth int) (any, error) {
	arr := []any{}
	for i := 0; s.dec.More(); i++ {
		s.path = append(s.path, strconv.Itoa(i))
		v, err := s.value(depth)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		s.path = s.path[:len(s.path)-1]
	}
	if _, err := s.dec.Token(); err != nil {
		return nil, s.syntax(err, "")
	}
	return arr, nil
}

func (s *refScanner) checkString(v string) error {
	if len(v) > s.lim.MaxStringLength {
		return s.requestError(http.StatusUnprocessableEntity, problem.TypeStringTooLong, s.pointer(),
			fmt.Sprintf("string longer than %d bytes", s.lim.MaxStringLength))
	}
	return nil
}

func (s *refScanner) pointer() string { return Pointer(s.path...) }

func (s *refScanner) fieldError(ptr, detail string) problem.FieldError {
	i := s.index
	return problem.FieldError{Record: &i, Pointer: ptr, Detail: detail}
}

func (s *refScanner) requestError(status int, typ, ptr, detail string) *problem.Error {
	p := problem.New(status, typ, fmt.Sprintf("record %d: %s", s.index, detail))
	p.Errors = []problem.FieldError{s.fieldError(ptr, detail)}
	return p
}

// syntax turns a decoder error into a 400 that says where, never what the
// decoder's internals are.
func (s *refScanner) syntax(err error, detail string) error {
	if detail == "" {
		detail = "malformed JSON"
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		detail = fmt.Sprintf("%s at byte %d", detail, se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		detail += ": the body ends inside a value"
	}
	return problem.New(http.StatusBadRequest, problem.TypeBadRequest, detail).Wrap(err)
}

// checkDecodeIsReference holds for every body and format: Decode gives what
// refDecode gave, value for value and field error for field error; a body
// refused is refused with the same status, type and field errors (for
// malformed JSON the detail may name another byte offset, or say that the
// body ends where the other decoder had seen enough to call it malformed:
// " {n" is both).
func checkDecodeIsReference(t *testing.T, body []byte, f Format) {
	got, err := Decode(body, f, fuzzLimits)
	want, werr := refDecode(body, f, fuzzLimits)
	if (err == nil) != (werr == nil) {
		t.Fatalf("%q: error %v, reference %v", body, err, werr)
	}
	if err != nil {
		var p, wp *problem.Error
		if !errors.As(err, &p) || !errors.As(werr, &wp) {
			t.Fatalf("%q: not problems: %v, %v", body, err, werr)
		}
		if p.Status != wp.Status || p.Type != wp.Type || !reflect.DeepEqual(p.Errors, wp.Errors) {
			t.Fatalf("%q: problem %d %s %+v, reference %d %s %+v", body, p.Status, p.Type, p.Errors, wp.Status, wp.Type, wp.Errors)
		}
		if syntaxDetail(p.Detail) != syntaxDetail(wp.Detail) {
			t.Fatalf("%q: detail %q, reference %q", body, p.Detail, wp.Detail)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: decoded %#v, reference %#v", body, got, want)
	}
}

func TestDecodeIsReference(t *testing.T) {
	for _, s := range []string{
		`[{"a":"\ud800","b":"\udc00x","c":"\ud83d\ude00","d":"\u0000"}]`,
		`[{"a":1,"a":2,"b":{"c":[1,{"c":1,"c":2}]}}]`,
		// Names: escaped, a lone surrogate, the same name spelt two ways,
		// one name in several records, more names than the scanner keeps.
		`[{"\u0061":1,"a":2,"\ud800":3,"x\udc00\u00e9\n":4,"\ud83d\ude00":5,"a/~b":6}]`,
		`[{"id":1,"k":{"id":2}},{"id":3,"k":{"id":4,"\u0069d":5}}]`,
		`[{` + manyNames(600) + `}]`, `[{1:2}]`, `[{"a":1,}]`, `[{"a":1,"b"}]`, `[{"a`,
		`[{"n":-0,"m":1.50,"k":1e400,"j":12345678901234567890}]`,
		`[{"":null,"t":true,"f":false}] `, `[{}] x`, `[{}]]`, `[{},]`, `[,{}]`, `[{"a" 1}]`, `[{"a":01}]`, `[{"a":.1}]`,
		`{}`, `"x"`, ``, ` `, `[`, `[{`, `[{"a":`, `[{"a":"`, `[1,2,"x",null,[],{}]`,
		`[[[[[[[[[[]]]]]]]]]]`, `[{"a":[[[[[[[[1]]]]]]]]}]`,
		"{}\n{}", "{}{}", "{}\n\n{\"a\":1}\n", "{\n}\n", "1\n2\n", "{}\n{\"a\"}\n", "[\n]", "\n",
		`[{"k":"` + strings.Repeat("x", 300) + `"}]`, `[{"` + strings.Repeat("k", 300) + `":1}]`,
		`[` + strings.Repeat(`{},`, 25) + `{}]`, strings.Repeat("{}\n", 25),
		// Repeated names in objects small and large (a large one's names
		// are looked up in a set), around the size where that starts,
		// and inside a member of such an object.
		`[{` + manyNames(15) + `,"k0":1,"k15":2,"k15":{"a":1,"a":2},"k14":3}]`,
		`[{` + manyNames(16) + `,"k3":"x","k16":[{"b":1,"b":2}],"k16":1,"k0":2}]`,
		`[{"o":{` + manyNames(40) + `,"k39":1,"k1":[],"k40":{},"k40":null},"o":1},{` + manyNames(17) + `}]`,
	} {
		for _, f := range []Format{FormatJSON, FormatNDJSON} {
			checkDecodeIsReference(t, []byte(s), f)
		}
	}
	for _, k := range Kinds {
		raw, err := os.ReadFile(filepath.Join("testdata", "valid", k+".json"))
		if err != nil {
			t.Fatal(err)
		}
		checkDecodeIsReference(t, append(append([]byte("["), raw...), ']'), FormatJSON)
	}
}

func FuzzDecodeIsReference(f *testing.F) {
	seedBodies(f, false)
	seedBodies(f, true)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecodeIsReference(t, body, FormatJSON)
		checkDecodeIsReference(t, body, FormatNDJSON)
	})
}

var syntaxSuffix = regexp.MustCompile(`( at byte \d+|: the body ends inside a value)$`)

// syntaxDetail is a problem's detail without where a syntax error was seen.
func syntaxDetail(d string) string { return syntaxSuffix.ReplaceAllString(d, "") }

// manyNames is n distinct members, "k0":0 to "k(n-1)":n-1.
func manyNames(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"k%d":%d`, i, i)
	}
	return strings.Join(parts, ",")
}
