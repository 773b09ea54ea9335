package records

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// dateTimeSyntax is RFC 3339 §5.6 date-time as the schemas' datetime
// pattern spells it (dateTimePattern, with groups; matchDateTime matches
// it without the regexp machine): "T" and "Z" in either case (§5.6 NOTE), seconds up to
// 60 (a leap second, §5.7), any number of fraction digits, an offset with
// hours and minutes.
var dateTimeSyntax = regexp.MustCompile(`^([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)

// lastNanosecond is the fraction a leap second is read as.
const lastNanosecond = ".999999999"

// ParseDateTime reads an RFC 3339 date-time as the schemas accept it,
// which time.Parse does not: a lowercase t or z, and a leap second.
//
// Go's time has no leap seconds, so 23:59:60 (with any fraction) is read
// as 23:59:59.999999999 of the same day and offset: it sorts after every
// instant of the second before it and before the next minute, and keeps
// its calendar date; the instants inside a leap second compare equal. A
// :60 anywhere but at 23:59 UTC is refused, as the schemas' format does.
func ParseDateTime(s string) (time.Time, error) {
	// What nearly every record holds (an upper-case T, no lower-case z, no
	// leap second) is what time.Parse reads as it is: the general path below
	// would build this very string again from its parts.
	// TestParseDateTimeIsReference holds the two paths to each other.
	if len(s) >= 20 && s[10] == 'T' && s[len(s)-1] != 'z' && s[17:19] != "60" && matchDateTime(s) {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, errors.New("not an RFC 3339 date-time")
		}
		return t, nil
	}
	return parseDateTimeParts(s)
}

// parseDateTimeParts is ParseDateTime for any date-time: read by its
// parts, a lower-case t or z and a leap second included.
func parseDateTimeParts(s string) (time.Time, error) {
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

// Int reads a JSON number the schemas call an integer. JSON Schema counts
// every number with a zero fraction as one, so 1, 1.0, 1e0 and 10e-1 are
// all the integer 1; json.Number.Int64 accepts only the first. ok is false
// for a fraction, a value outside int64 or no JSON number. It works on the
// digits, never on a big number an exponent like 1e999999999 would make.
func Int(n json.Number) (v int64, ok bool) {
	// An integer written plainly in at most 18 digits (a version, a year)
	// is what strconv reads; TestIntIsReference holds this path to the
	// general one.
	if plainInt(string(n)) {
		v, err := strconv.ParseInt(string(n), 10, 64)
		return v, err == nil
	}
	return intDigits(n)
}

// intDigits is Int for any JSON number: it works on the digits, never on
// the value an exponent would make.
func intDigits(n json.Number) (v int64, ok bool) {
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
	// The value is digits × 10^shift.
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

// jsonNumber is RFC 8259's number: sign, whole part, fraction, exponent.
var jsonNumber = regexp.MustCompile(`^(-?)(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// plainInt reports whether s is -?(0|[1-9][0-9]{0,17}): a JSON integer
// with no fraction or exponent that fits an int64 whatever its digits.
func plainInt(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if len(s) == 0 || len(s) > 18 || s[0] == '0' && len(s) > 1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
