package jsonstr

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/gowebpki/jcs"
)

// reference is each form as the libraries write it.
func reference(t testing.TB, s string, jcsForm bool) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if !jcsForm {
		return out
	}
	c, err := jcs.Transform(out)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func check(t testing.TB, s string) {
	for _, form := range []bool{false, true} {
		got, differs := Append(nil, s, form)
		if want := reference(t, s, form); !bytes.Equal(got, want) {
			t.Fatalf("Append(%q, jcs=%v) = %s, want %s", s, form, got, want)
		}
		other, _ := Append(nil, s, !form)
		if differs == bytes.Equal(got, other) {
			t.Fatalf("Append(%q): differs=%v but the forms are %s and %s", s, differs, got, other)
		}
	}
}

// checkHTML holds AppendHTML to json.Marshal, HTML escaping on.
func checkHTML(t testing.TB, s string) {
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendHTML([]byte("x"), s); !bytes.Equal(got[1:], want) || got[0] != 'x' {
		t.Fatalf("AppendHTML(%q) = %s, want x%s", s, got, want)
	}
}

var samples = []string{"", "plain", "<&>", "a<b>c&d", "quote\" back\\slash", "\b\f\n\r\t\x00\x1f\x7f",
	"é😀", "\u2028\u2029", "bad \xff byte", "\xed\xa0\x80", "mixed \u2028 and \xc3"}

func TestAppendIsTheLibraries(t *testing.T) {
	for _, s := range samples {
		check(t, s)
		checkHTML(t, s)
	}
}

func FuzzAppend(f *testing.F) {
	f.Add("a\u2028b\xffc\"\\\n<&>")
	f.Fuzz(func(t *testing.T, s string) {
		check(t, s)
		checkHTML(t, s)
	})
}
