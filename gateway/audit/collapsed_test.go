package audit

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/verdict"
)

// lineBeforeCollapsed is an event line written before Event had a
// "collapsed" member.
const lineBeforeCollapsed = `{"action":"pull","decision":"deny","hash":"2b6f029349861091557e747af0924b40a184cb88a1f5230260683f97feb846b4","member":"IT/GOV/MOD","prev":"0000000000000000000000000000000000000000000000000000000000000000","reasons":[{"code":"not_auditor","message":"x"}],"request_id":"0123456789abcdef","route":"/v1/records","seq":41,"status":429,"time":"2026-03-01T09:30:00Z"}`

// TestCollapsedKeepsOldLines: the field is absent when zero, so a line
// written before it still parses, hashes and re-seals byte for byte.
func TestCollapsedKeepsOldLines(t *testing.T) {
	old, err := ParseLine([]byte(lineBeforeCollapsed))
	if err != nil {
		t.Fatalf("a line from before the field: %v", err)
	}
	again, err := seal(old.Event, old.Event.Seq, old.Event.Prev)
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Line) != lineBeforeCollapsed {
		t.Fatalf("re-sealed:\n %s\nwant\n %s", again.Line, lineBeforeCollapsed)
	}
}

// TestCollapsedRoundTrips: a summary's count is in the hashed bytes, reads
// back, and is bounded like every integer of an event.
func TestCollapsedRoundTrips(t *testing.T) {
	ev := Event{Time: time.Date(2026, 3, 1, 9, 30, 10, 0, time.UTC), RequestID: "0123456789abcdef", Member: "IT/GOV/MOD",
		Action: "rate_limited.summary", Route: "/v1/records", Decision: DecisionDeny, Status: 429, Collapsed: 57,
		Reasons: []verdict.Reason{{Code: "rate_limited", Message: "57 further refusals"}}}
	e, err := seal(ev, 42, ZeroHash)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(e.Line, []byte(`"collapsed":57,`)) {
		t.Fatalf("line without its count: %s", e.Line)
	}
	back, err := ParseLine(e.Line)
	if err != nil || back.Event.Collapsed != 57 {
		t.Fatalf("parsed %+v, %v", back.Event, err)
	}
	// Changing the count breaks the hash.
	forged := bytes.Replace(e.Line, []byte(`"collapsed":57`), []byte(`"collapsed":5`), 1)
	if _, err := ParseLine(forged); !errors.Is(err, errHashMismatch) {
		t.Fatalf("a forged count: %v, want a hash mismatch", err)
	}
	ev.Collapsed = MaxInt + 1
	if _, err := seal(ev, 43, ZeroHash); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("collapsed past 2^53: %v, want ErrInvalidEvent", err)
	}
}

// TestCollapsedForwarded: the syslog copy carries the count, as
// structured data and as CEF's baseEventCount.
func TestCollapsedForwarded(t *testing.T) {
	ev := Event{Time: time.Date(2026, 3, 1, 9, 30, 10, 0, time.UTC), Member: "IT/GOV/MOD", Action: "rate_limited.summary",
		Decision: DecisionDeny, Status: 429, Collapsed: 57}
	if sd := string((&Syslog{opts: SyslogOptions{Format: "rfc5424"}}).format(syslogItem{ev: &ev})); !strings.Contains(sd, ` collapsed="57"`) {
		t.Errorf("rfc5424: %s", sd)
	}
	if c := cef(&ev); !strings.Contains(c, " cnt=57") {
		t.Errorf("cef: %s", c)
	}
	ev.Collapsed = 0
	if c := cef(&ev); strings.Contains(c, "cnt=") {
		t.Errorf("cef of an event that is no summary: %s", c)
	}
}
