// Package jsonstr writes JSON strings in the two forms the gateway hashes
// and signs: encoding/json's (with HTML escaping off), in which stored
// records are kept, and RFC 8785's, over which audit events and record
// digests are hashed. They differ only for bytes that are not valid UTF-8
// and for U+2028 and U+2029.
package jsonstr

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// Append appends s to b as a JSON string. Both forms escape '"', '\\' and
// the control characters (\b \t \n \f \r by name, the rest as \u00xx in
// lower case) and leave every other character as it is, '<' included.
// A byte that is not valid UTF-8 becomes U+FFFD: escaped as \ufffd in
// encoding/json's form, written as the character in RFC 8785's. U+2028 and
// U+2029 are escaped in encoding/json's form only. differs reports that s
// had either, so that the two forms of it are not the same bytes.
func Append(b []byte, s string, jcs bool) (out []byte, differs bool) {
	return appendString(b, s, jcs, false)
}

// AppendHTML appends s to b as json.Marshal writes it: encoding/json's
// form with '<', '>' and '&' escaped as well (\u003c, \u003e, \u0026), the
// bytes of a payload or an answer encoding/json wrote before.
func AppendHTML(b []byte, s string) []byte {
	b, _ = appendString(b, s, false, true)
	return b
}

func appendString(b []byte, s string, jcs, html bool) (out []byte, differs bool) {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!html || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			if jcs {
				b = append(b, "\ufffd"...)
			} else {
				b = append(b, `\ufffd`...)
			}
			differs = true
		case r == '\u2028' || r == '\u2029':
			differs = true
			if jcs {
				i += size
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"'), differs
}
