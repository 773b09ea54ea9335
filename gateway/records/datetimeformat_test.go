package records

import (
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// libraryDateTime is the library's own date-time format assertion.
func libraryDateTime(t testing.TB) func(any) error {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(`{"format":"date-time"}`))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("urn:dt", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("urn:dt")
	if err != nil {
		t.Fatal(err)
	}
	if s.Format == nil || s.Format.Name != "date-time" {
		t.Fatal("no date-time format")
	}
	return s.Format.Validate
}

var dateTimeSeeds = []string{
	"2024-01-31T10:20:30Z", "2024-01-31t10:20:30z", "2024-01-31T10:20:30.5Z", "2024-01-31T10:20:30.123456789Z",
	"2024-02-29T23:59:59Z", "2023-02-29T10:00:00Z", "2024-13-01T10:00:00Z", "2024-01-31T24:00:00Z",
	"2024-01-31T23:60:00Z", "2024-01-31T23:59:60Z", "2024-01-31T10:59:60Z", "2024-01-31T10:20:30.Z",
	"2024-01-31T10:20:30+01:00", "2024-01-31T10:20:30-00:00", "2024-01-31 10:20:30Z", "2024-01-31T1:20:30Z",
	"2024-01-31T10:20:3aZ", "2024-01-31T+1:20:30Z", "2024-01-31T10:20:30.1a2Z", "2024-01-31T10:20:30ZZ",
	"+024-01-31T10:20:30Z", "2024-1-31T10:20:30Z", "2024-01-31T10:20:30", "", "2024-01-31T10:20:30.Z0",
	"2024-01-31T10:20:30.0\u00e9Z", "99999-01-31T10:20:30Z", "2024-01-31T00:00:00.000Z",
}

// TestDateTimeFormatIsLibrary holds the pass check's date-time assertion,
// with its shortcut, to the library's: the same verdict on every string,
// and the shortcut taken only where the library accepts.
func TestDateTimeFormatIsLibrary(t *testing.T) {
	lib := libraryDateTime(t)
	ours := dateTimeFormat(lib)
	for _, s := range dateTimeSeeds {
		if (ours(s) == nil) != (lib(s) == nil) {
			t.Errorf("%q: ours %v, library %v", s, ours(s), lib(s))
		}
		if plainDateTime(s) && lib(s) != nil {
			t.Errorf("%q: shortcut passes what the library refuses", s)
		}
	}
	if !plainDateTime("2024-01-31T10:20:30Z") || !plainDateTime("2024-01-31T10:20:30.123Z") {
		t.Error("the usual form does not take the shortcut")
	}
	for _, v := range []any{nil, 1, true} {
		if (ours(v) == nil) != (lib(v) == nil) {
			t.Errorf("%v: ours %v, library %v", v, ours(v), lib(v))
		}
	}
}

func FuzzDateTimeFormat(f *testing.F) {
	for _, s := range dateTimeSeeds {
		f.Add(s)
	}
	lib := libraryDateTime(f)
	f.Fuzz(func(t *testing.T, s string) {
		if plainDateTime(s) && lib(s) != nil {
			t.Errorf("%q: shortcut passes what the library refuses: %v", s, lib(s))
		}
	})
}
