package records

import (
	"encoding/json"
	"testing"
	"time"
)

// parseDateTimeRef is ParseDateTime without its fast path: the reading by
// parts the fast path is held to.
func parseDateTimeRef(s string) (time.Time, error) { return parseDateTimeParts(s) }

// intRef is Int without its fast path: the general reading of the digits.
func intRef(n json.Number) (int64, bool) { return intDigits(n) }

var dateTimeRefCases = []string{"", "2026-05-01T10:00:00Z", "2026-05-01t10:00:00z", "2026-05-01T10:00:00z",
	"2026-05-01t10:00:00Z", "2026-06-30T23:59:60Z", "2026-06-30T23:59:60.5Z", "2026-07-01T01:59:60.5+02:00",
	"2026-05-01T10:59:60Z", "2026-02-30T10:00:00Z", "2026-05-01T24:00:00Z", "2026-05-01T10:60:00Z",
	"2026-05-01T10:00:61Z", "2026-05-01T10:00:00.123456789012-12:00", "2026-05-01T10:00:00+24:00",
	"2026-05-01T10:00:00+02:60", "2026-05-01T10:00:00", "2026-05-01 10:00:00Z", "2026-05-01T10:00Z",
	"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2026-05-01T10:00:00.Z", "2026-05-01T10:00:00Zx",
	"2026-05-01T10:00:00+0200", "2026-05-01T10:00:00-00:00", "２026-05-01T10:00:00Z"}

var intRefCases = []string{"", "-", "0", "-0", "00", "01", "-01", "1", "7", "2026", "123456789012345678",
	"-123456789012345678", "1234567890123456789", "9223372036854775807", "9223372036854775808",
	"-9223372036854775808", "-9223372036854775809", "99999999999999999999", "1.0", "1e0", "10e-1", "1.5",
	"1e400", "+1", "1 ", " 1", "0x10", "١"}

// TestParseDateTimeIsReference: ParseDateTime reads every date-time as the
// general path alone did, value and error.
func TestParseDateTimeIsReference(t *testing.T) {
	for _, s := range dateTimeRefCases {
		checkDateTimeIsReference(t, s)
	}
}

// TestIntIsReference: Int reads every number as the general path alone
// did.
func TestIntIsReference(t *testing.T) {
	for _, s := range intRefCases {
		checkIntIsReference(t, s)
	}
}

func FuzzParseDateTimeIsReference(f *testing.F) {
	for _, s := range dateTimeRefCases {
		f.Add(s)
	}
	f.Fuzz(checkDateTimeIsReference)
}

func FuzzIntIsReference(f *testing.F) {
	for _, s := range intRefCases {
		f.Add(s)
	}
	f.Fuzz(checkIntIsReference)
}

func checkDateTimeIsReference(t *testing.T, s string) {
	got, gerr := ParseDateTime(s)
	want, werr := parseDateTimeRef(s)
	if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() ||
		!got.Equal(want) || got.Format(time.RFC3339Nano) != want.Format(time.RFC3339Nano) {
		t.Fatalf("ParseDateTime(%q) = %v, %v; reference %v, %v", s, got, gerr, want, werr)
	}
}

func checkIntIsReference(t *testing.T, s string) {
	gv, gok := Int(json.Number(s))
	wv, wok := intRef(json.Number(s))
	if gv != wv || gok != wok {
		t.Fatalf("Int(%q) = %d, %v; reference %d, %v", s, gv, gok, wv, wok)
	}
}
