package records

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/ura-gateway/ura/gateway/jsonstr"
)

// ApplyRaw is Apply on a stored record's bytes: raw without the members and
// elements r removes, written by copying the bytes of everything kept. raw
// must be the record's canonical bytes (Canonical of its document, which
// is what the store keeps); the result is then exactly Canonical of
// Apply's copy, byte for byte, without decoding the record into a copy
// and writing it again (a redacted pull's largest cost).
func (r *Redaction) ApplyRaw(raw []byte) ([]byte, error) {
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
