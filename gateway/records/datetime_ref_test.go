package records

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseDateTimeRef is ParseDateTime as it was before its fast path: the
// reference the fast path is held to.
func parseDateTimeRef(s string) (time.Time, error) {
	m := dateTimeSyntax.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, errors.New("not an RFC 3339 date-time")
	}
	date, hm, sec, frac, zone := m[1], m[2], m[3], m[4], strings.ToUpper(m[5])
	leap := sec == "60"
	if leap {
		sec, frac = "59", lastNanosecond
	}
	t, err := time.Parse(time.RFC3339Nano, date+"T"+hm+":"+sec+frac+zone)
	if err != nil {
		return time.Time{}, errors.New("not an RFC 3339 date-time")
	}
	if leap {
		if u := t.UTC(); u.Hour() != 23 || u.Minute() != 59 {
			return time.Time{}, errors.New("a leap second is the last second of a UTC day")
		}
	}
	return t, nil
}

// intRef is Int as it was before its fast path.
func intRef(n json.Number) (v int64, ok bool) {
	m := jsonNumber.FindStringSubmatch(n.String())
	if m == nil {
		return 0, false
	}
	sign, whole, frac := m[1], m[2], strings.TrimPrefix(m[3], ".")
	exp := 0
	if m[4] != "" {
		e, err := strconv.Atoi(strings.TrimPrefix(m[4][1:], "+"))
		if err != nil {
			return 0, false
		}
		exp = e
	}
	digits := strings.TrimLeft(whole+frac, "0")
	if digits == "" {
		return 0, true
	}
	shift := exp - len(frac)
	for strings.HasSuffix(digits, "0") {
		digits = digits[:len(digits)-1]
		shift++
	}
	if shift < 0 || len(digits)+shift > 19 {
		return 0, false
	}
	v, err := strconv.ParseInt(sign+digits+strings.Repeat("0", shift), 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

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
