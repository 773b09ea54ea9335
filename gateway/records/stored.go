package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/go-json-experiment/json/jsontext"
)

// DecodeStored rebuilds the document of a record from bytes the gateway
// stored itself: the same value encoding/json's Decoder with UseNumber
// gives (objects as map[string]any, arrays as []any, numbers as
// json.Number as written), without its reflection per value, which was a
// quarter of a pull's CPU. The bytes were checked when they were pushed,
// so no limit is applied again; they must still be one JSON object.
//
// Almost every stored record is read by a parser of its own (storedParser)
// that takes each unescaped string as a slice of one copy of the bytes and
// sizes each object and array once; anything it does not take on (an
// escape it does not decode, invalid UTF-8, a syntax error, deep nesting)
// is read again by the token decoder, whose value or error is the answer.
func DecodeStored(raw []byte) (map[string]any, error) {
	doc, _, err := decodeStored(raw, false)
	return doc, err
}

// DecodeStoredRecord is a record whose Doc is DecodeStored(raw) and whose
// Raw is raw, nothing else filled in; it also knows Doc's shape (Shape)
// when the fast parser found it in the same pass.
func DecodeStoredRecord(raw []byte) (*Record, error) {
	doc, shape, err := decodeStored(raw, true)
	if err != nil {
		return nil, err
	}
	rec := &Record{Doc: doc, Raw: json.RawMessage(raw)}
	if shape != "" {
		rec.shape, rec.shapeOf = shape, doc
	}
	return rec, nil
}

// decodeStored is DecodeStored, with the document's shape when wantShape
// and the fast parser read the record with its keys strictly sorted at
// every level (the canonical form; nothing else is trusted to be) and
// without a number whose range the policy checks ("": none).
func decodeStored(raw []byte, wantShape bool) (map[string]any, string, error) {
	p := storedParsers.Get().(*storedParser)
	doc, ok := p.parse(raw, wantShape)
	shape := ""
	if ok && p.shaped {
		// The records of a pull are mostly alike: the shape before is
		// kept for the next record of the same shape, not copied again.
		if string(p.shape) != p.lastShape {
			p.lastShape = string(p.shape)
		}
		shape = p.lastShape
	}
	p.reset()
	storedParsers.Put(p)
	if ok {
		return doc, shape, nil
	}
	doc, err := decodeStoredTokens(raw)
	return doc, "", err
}

// decodeStoredTokens is DecodeStored by jsontext's tokens: the reference
// the fast parser is held to, and its fallback.
func decodeStoredTokens(raw []byte) (map[string]any, error) {
	d := jsontext.NewDecoder(bytes.NewReader(raw), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	tok, err := d.ReadToken()
	if err != nil {
		return nil, fmt.Errorf("decode stored record: %w", err)
	}
	if tok.Kind() != '{' {
		return nil, errors.New("decode stored record: not a JSON object")
	}
	doc, err := storedObject(d)
	if err != nil {
		return nil, fmt.Errorf("decode stored record: %w", err)
	}
	// Nothing may follow the object: the stored bytes are delivered as
	// they are (gateway/release), so they must be exactly one JSON value.
	if _, err := d.ReadToken(); err != io.EOF {
		return nil, errors.New("decode stored record: data after the object")
	}
	return doc, nil
}

func storedValue(d *jsontext.Decoder) (any, error) {
	tok, err := d.ReadToken()
	if err != nil {
		return nil, err
	}
	switch tok.Kind() {
	case '"':
		return tok.String(), nil
	case '0', 't', 'f', 'n':
		return literal(tok), nil
	case '{':
		return storedObject(d)
	case '[':
		arr := []any{}
		for k := d.PeekKind(); k != ']'; k = d.PeekKind() {
			if k == 0 {
				_, err := d.ReadToken()
				return nil, err
			}
			v, err := storedValue(d)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := d.ReadToken()
		return arr, err
	default:
		return nil, fmt.Errorf("unexpected token kind %v", tok.Kind())
	}
}

// storedObject reads the members of an object whose '{' was read; a name
// given twice keeps its last value, as encoding/json does.
func storedObject(d *jsontext.Decoder) (map[string]any, error) {
	obj := map[string]any{}
	for k := d.PeekKind(); k != '}'; k = d.PeekKind() {
		tok, err := d.ReadToken()
		if err != nil {
			return nil, err
		}
		if k == 0 || tok.Kind() != '"' {
			return nil, fmt.Errorf("unexpected token kind %v", tok.Kind())
		}
		// The token is void after the next read.
		name := tok.String()
		v, err := storedValue(d)
		if err != nil {
			return nil, err
		}
		obj[name] = v
	}
	_, err := d.ReadToken()
	return obj, err
}

// literal is the value of a number, true, false or null token: a number as
// written (json.Number), as encoding/json's UseNumber kept it.
func literal(tok jsontext.Token) any {
	switch tok.Kind() {
	case '0':
		return json.Number(tok.String())
	case 't':
		return true
	case 'f':
		return false
	default:
		return nil
	}
}
