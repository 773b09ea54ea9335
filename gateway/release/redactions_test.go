package release

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// TestRedactionsBytes: the signed delivery and the audit event write their
// redactions with one writer (verdict.AppendRedactions), each with its own
// string form, and still write the bytes they wrote with writers of their
// own: encoding/json's form (HTML characters, U+2028 and bad UTF-8
// escaped) in a delivery, RFC 8785's in an event, which leaves out an
// empty list. The expected bytes are those the two separate writers gave.
func TestRedactionsBytes(t *testing.T) {
	for _, tc := range []struct {
		rs              []verdict.Redaction
		delivery, event string
	}{
		{nil, "null", ""},
		{[]verdict.Redaction{}, "[]", ""},
		{[]verdict.Redaction{{Pointer: ""}}, "[\"\"]", "[\"\"]"},
		{[]verdict.Redaction{{Pointer: ""}, {Pointer: "/a"}}, "[\"\",\"/a\"]", "[\"\",\"/a\"]"},
		{[]verdict.Redaction{{Pointer: "/licence/contract_value", Rule: "redactions.customs.licence"}, {Pointer: "/bare"}}, "[{\"pointer\":\"/licence/contract_value\",\"rule\":\"redactions.customs.licence\"},\"/bare\"]", "[{\"pointer\":\"/licence/contract_value\",\"rule\":\"redactions.customs.licence\"},\"/bare\"]"},
		{[]verdict.Redaction{{Pointer: "/q\"uote/back\\slash", Rule: "r\"\\"}}, "[{\"pointer\":\"/q\\\"uote/back\\\\slash\",\"rule\":\"r\\\"\\\\\"}]", "[{\"pointer\":\"/q\\\"uote/back\\\\slash\",\"rule\":\"r\\\"\\\\\"}]"},
		{[]verdict.Redaction{{Pointer: "/ctl\x00\x01\x1f\t\n\r\b\f\x7f", Rule: "\x00"}}, "[{\"pointer\":\"/ctl\\u0000\\u0001\\u001f\\t\\n\\r\\b\\f\x7f\",\"rule\":\"\\u0000\"}]", "[{\"pointer\":\"/ctl\\u0000\\u0001\\u001f\\t\\n\\r\\b\\f\x7f\",\"rule\":\"\\u0000\"}]"},
		{[]verdict.Redaction{{Pointer: "/é/名前/😀", Rule: "règle"}}, "[{\"pointer\":\"/é/名前/😀\",\"rule\":\"règle\"}]", "[{\"pointer\":\"/é/名前/😀\",\"rule\":\"règle\"}]"},
		{[]verdict.Redaction{{Pointer: "/\u2028\u2029", Rule: "\u2028"}}, "[{\"pointer\":\"/\\u2028\\u2029\",\"rule\":\"\\u2028\"}]", "[{\"pointer\":\"/\u2028\u2029\",\"rule\":\"\u2028\"}]"},
		{[]verdict.Redaction{{Pointer: "/bad\xff\xfe utf8\xc3", Rule: "\xed\xa0\x80"}}, "[{\"pointer\":\"/bad\\ufffd\\ufffd utf8\\ufffd\",\"rule\":\"\\ufffd\\ufffd\\ufffd\"}]", "[{\"pointer\":\"/bad�� utf8�\",\"rule\":\"���\"}]"},
		{[]verdict.Redaction{{Pointer: "/<script>&amp;", Rule: "<>&"}}, "[{\"pointer\":\"/\\u003cscript\\u003e\\u0026amp;\",\"rule\":\"\\u003c\\u003e\\u0026\"}]", "[{\"pointer\":\"/<script>&amp;\",\"rule\":\"<>&\"}]"},
		{[]verdict.Redaction{{Pointer: "/~0~1", Rule: "x"}, {Pointer: "/~0~1"}, {Pointer: "/~0~1", Rule: "x"}}, "[{\"pointer\":\"/~0~1\",\"rule\":\"x\"},\"/~0~1\",{\"pointer\":\"/~0~1\",\"rule\":\"x\"}]", "[{\"pointer\":\"/~0~1\",\"rule\":\"x\"},\"/~0~1\",{\"pointer\":\"/~0~1\",\"rule\":\"x\"}]"},
	} {
		p, err := Payload(sign.Delivery{Record: json.RawMessage(`{}`), Redactions: tc.rs})
		if err != nil {
			t.Fatal(err)
		}
		if got := between(p, `,"redactions":`, `,"translations":`); got != tc.delivery {
			t.Errorf("%q: delivery writes %q, want %q", tc.rs, got, tc.delivery)
		}
		e, err := audit.Canonical(audit.Event{Action: "a", Decision: "d", RequestID: "r", Time: time.Unix(0, 0).UTC(), Redactions: tc.rs})
		if err != nil {
			t.Fatal(err)
		}
		if got := between(e, `,"redactions":`, `,"request_id":`); got != tc.event {
			t.Errorf("%q: event writes %q, want %q", tc.rs, got, tc.event)
		}
	}
}

// between is what b holds from after start up to end; empty without start.
func between(b []byte, start, end string) string {
	i := bytes.Index(b, []byte(start))
	if i < 0 {
		return ""
	}
	b = b[i+len(start):]
	return string(b[:bytes.Index(b, []byte(end))])
}
