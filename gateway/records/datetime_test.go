package records

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseDateTime(t *testing.T) {
	leap := time.Date(2026, 6, 30, 23, 59, 59, 999999999, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time // zero: refused
	}{
		{"2026-05-01T10:00:00Z", time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)},
		{"2026-05-01t10:00:00z", time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)},
		{"2026-05-01T12:00:00.123456789+02:00", time.Date(2026, 5, 1, 10, 0, 0, 123456789, time.UTC)},
		{"2026-05-01T10:00:00.1234567891234Z", time.Date(2026, 5, 1, 10, 0, 0, 123456789, time.UTC)},
		{"2026-06-30T23:59:60Z", leap},
		{"2026-06-30T23:59:60.5Z", leap},
		{"2026-07-01T01:59:60+02:00", leap},
		{"2026-06-30T18:59:60-05:00", leap},
		{"2026-06-30T22:59:60Z", time.Time{}},
		{"2026-06-30T23:59:60+01:00", time.Time{}},
		{"2026-02-30T10:00:00Z", time.Time{}},
		{"2026-05-01 10:00:00Z", time.Time{}},
		{"2026-05-01T10:00:00", time.Time{}},
		{"2026-05-01T10:00:00+0100", time.Time{}},
		{"2026-05-01T10:00:00+01", time.Time{}},
		{"2026-05-01T24:00:00Z", time.Time{}},
		{"2026-05-01T10:00:61Z", time.Time{}},
		{"2026-05-01T10:00:00.Z", time.Time{}},
		{"2026-05-01T+1:00:00Z", time.Time{}},
	} {
		got, err := ParseDateTime(c.in)
		if c.want.IsZero() {
			if err == nil {
				t.Errorf("%s: accepted as %v, want refused", c.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(c.want) {
			t.Errorf("%s: %v %v, want %v", c.in, got, err, c.want)
		}
	}
	// The leap second keeps its order between the seconds around it.
	before, _ := ParseDateTime("2026-06-30T23:59:59.5Z")
	at, _ := ParseDateTime("2026-06-30T23:59:60Z")
	after, _ := ParseDateTime("2026-07-01T00:00:00Z")
	if !before.Before(at) || !at.Before(after) {
		t.Errorf("leap second out of order: %v %v %v", before, at, after)
	}
}

func TestInt(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1", 1, true}, {"1.0", 1, true}, {"1e0", 1, true}, {"10e-1", 1, true}, {"0.1e1", 1, true},
		{"-0", 0, true}, {"0e999999999", 0, true}, {"-2147483648", -2147483648, true},
		{"2019.000", 2019, true}, {"9223372036854775807", 9223372036854775807, true},
		{"1.5", 0, false}, {"1e-1", 0, false}, {"9223372036854775808", 0, false},
		{"1e400", 0, false}, {"1e99999999999999999999", 0, false}, {"01", 0, false}, {"", 0, false},
	} {
		got, ok := Int(json.Number(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("Int(%s) = %d %v, want %d %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
