package policy

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/records"
)

// computedShape is the shape the group key computes from a document.
func computedShape(doc map[string]any) (string, bool) {
	ok := true
	var scratch []member
	b := shape(nil, doc, &scratch, &ok)
	return string(b), ok
}

// checkStoredShape decodes raw as a store does and, when the decoder kept
// a shape, holds it to the one the key computes from the document.
func checkStoredShape(t *testing.T, raw []byte) (cached bool) {
	t.Helper()
	rec, err := records.DecodeStoredRecord(raw)
	if err != nil {
		return false
	}
	got, cached := rec.Shape()
	if !cached {
		return false
	}
	want, ok := computedShape(rec.Doc)
	if !ok || got != want {
		t.Fatalf("stored shape of %q:\n%q\ncomputed (ok %v):\n%q", raw, got, ok, want)
	}
	return true
}

// storedCorpus is every record of the test data, each as stored (its
// canonical form) and as written in the file.
func storedCorpus(t testing.TB) [][]byte {
	t.Helper()
	var files []string
	for _, g := range []string{filepath.Join("testdata", "records", "*.json"), filepath.Join("..", "records", "testdata", "*", "*.json")} {
		fs, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	if len(files) < 10 {
		t.Fatalf("only %d record files", len(files))
	}
	var out [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
		if doc, err := records.DecodeStored(raw); err == nil {
			c, err := records.Canonical(doc)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
		}
	}
	return out
}

// The shape the stored decoder keeps is, byte for byte, the one the group
// key computes: over every record of the test data, hand-picked edge
// cases, and random documents written canonically and in random key order.
func TestStoredShape(t *testing.T) {
	canonicalCached := 0
	for _, raw := range storedCorpus(t) {
		if checkStoredShape(t, raw) {
			canonicalCached++
		}
	}
	if canonicalCached == 0 {
		t.Fatal("no test record got a stored shape")
	}
	cases := []struct {
		raw    string
		cached bool
	}{
		{`{}`, true},
		{`{"a":[],"b":{},"c":null,"d":[1,2.50,-0,"x",true,false]}`, true},
		{`{"a":1,"aa":2,"b":3}`, true},
		{`{"A":1,"a":2,"é":3,"😀":4}`, true},
		// Keys compared as decoded: "\u0041" is "A", below "B".
		{`{"\u0041":1,"B":2}`, true},
		{`{"B":1,"\u0041":2}`, false},
		{`{"b":1,"a":2}`, false},
		{`{"a":{"y":1,"x":2}}`, false},
		{`{"a":[{"y":1,"x":2}]}`, false},
		// A key given twice is one member of the map: its shape is the
		// computed one's only if it is not cached from the bytes.
		{`{"a":1,"a":"x"}`, false},
		{`{"a":1,"b":{"c":1,"c":2}}`, false},
		// An exponent's range is the policy's to check.
		{`{"a":1e5}`, false},
		{`{"a":[2E-3]}`, false},
		// Read by the token decoder only.
		{`{"a":"\ud800"}`, false},
		{strings.Repeat(`{"a":`, 300) + `1` + strings.Repeat(`}`, 300), false},
	}
	for _, c := range cases {
		if got := checkStoredShape(t, []byte(c.raw)); got != c.cached {
			t.Errorf("%.60s: shape kept %v, want %v", c.raw, got, c.cached)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		doc := randomDoc(r, 0)
		c, err := records.Canonical(doc)
		if err != nil {
			t.Fatal(err)
		}
		if !checkStoredShape(t, c) && !strings.ContainsAny(string(c), "eE") {
			t.Fatalf("canonical %q got no stored shape", c)
		}
		shuffled, sorted := writeShuffled(r, doc)
		if checkStoredShape(t, shuffled) && !sorted {
			t.Fatalf("%q is not sorted, yet got a stored shape", shuffled)
		}
	}
}

// FuzzStoredShape: whatever bytes the stored decoder reads, a shape it
// keeps is the one the key computes from the document it gave.
func FuzzStoredShape(f *testing.F) {
	for _, raw := range storedCorpus(f) {
		f.Add(raw)
	}
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Add([]byte(`{"\u0041":[{"b":null,"a":true}],"B":1e3}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkStoredShape(t, raw)
	})
}

// A stored shape is the shape of the document it was read with, and of
// no other: a record given another Doc, a copy of it given one, and a
// record built any other way have none.
func TestStoredShapeFollowsDoc(t *testing.T) {
	raw := record(t, "licence", nil).Raw
	rec, err := records.DecodeStoredRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rec.Shape(); !ok {
		t.Fatal("a stored licence has no stored shape")
	}
	cp := *rec
	if _, ok := cp.Shape(); !ok {
		t.Error("a copy of the record with the same Doc lost its shape")
	}
	other, _ := records.DecodeStored(raw)
	cp.Doc = other
	if _, ok := cp.Shape(); ok {
		t.Error("a copy given another Doc kept the shape")
	}
	rec.Doc = nil
	if _, ok := rec.Shape(); ok {
		t.Error("a record without a Doc has a shape")
	}
	if _, ok := record(t, "licence", nil).Shape(); ok {
		t.Error("a pushed record has a stored shape")
	}
	if _, ok := (&records.Record{Doc: other, Raw: raw}).Shape(); ok {
		t.Error("a record built by hand has a stored shape")
	}
}

// Attack: two licences that differ only in whether a field the redaction
// cuts out is there (the contact of the end user) never share a decision:
// one gets it redacted, the other has nothing to redact. Each way of
// building the pair is tried, stored shapes and computed ones mixed, in
// both orders, and a stored record whose Doc was replaced (without the
// field) after decoding is keyed by its Doc, not by the shape it was read
// with.
func TestDecideChunkStoredShapeTellsOptionalMembers(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	with := record(t, "licence", nil)
	without := record(t, "licence", map[string]any{"licence.end_user.contact": nil})
	stored := func(r *records.Record) *records.Record {
		s := storedRecord(t, r)
		if _, ok := s.Shape(); !ok {
			t.Fatal("no stored shape")
		}
		return s
	}
	stale := stored(with)
	stale.Doc = without.Doc
	ways := map[string][2]*records.Record{
		"computed":          {with, without},
		"stored":            {stored(with), stored(without)},
		"stored with":       {stored(with), without},
		"stored without":    {with, stored(without)},
		"stale stored with": {stored(with), stale},
	}
	for name, pair := range ways {
		for _, order := range [][2]int{{0, 1}, {1, 0}} {
			t.Run(fmt.Sprintf("%s/%v", name, order), func(t *testing.T) {
				a, b := pair[order[0]], pair[order[1]]
				before := sharedCount(e)
				got := checkChunk(t, e, pulls([]Input{{Caller: memberDPD, Record: a}, {Caller: memberDPD, Record: b}}))
				if slices.Equal(got[0].Redact, got[1].Redact) {
					t.Fatalf("both redacted %v", got[0].Redact)
				}
				if n := sharedCount(e) - before; n != 0 {
					t.Errorf("%v decisions shared", n)
				}
				var kb keyer
				rs := e.active.Load().pull
				ka, _ := kb.key(rs, Input{Caller: memberDPD, Action: Pull, Record: a, Now: chunkNow})
				ka = slices.Clone(ka)
				kbb, _ := kb.key(rs, Input{Caller: memberDPD, Action: Pull, Record: b, Now: chunkNow})
				if string(ka) == string(kbb) {
					t.Error("one key for both")
				}
			})
		}
	}
	// The same record stored and not shares, as before.
	before := sharedCount(e)
	checkChunk(t, e, pulls([]Input{{Caller: memberDPD, Record: stored(with)}, {Caller: memberDPD, Record: with}}))
	if n := sharedCount(e) - before; n != 1 {
		t.Errorf("%v decisions shared between a stored and a pushed copy of one licence, want 1", n)
	}
}

// storedRecord is r read back from its stored bytes, as a store reads it.
func storedRecord(t testing.TB, r *records.Record) *records.Record {
	t.Helper()
	s, err := records.DecodeStoredRecord(r.Raw)
	if err != nil {
		t.Fatal(err)
	}
	s.Kind, s.ID, s.Version, s.Label = r.Kind, r.ID, r.Version, r.Label
	return s
}

var shapeKeys = []string{"a", "b", "A", "aa", "ab", "é", "e\u0301", "😀", "\"", "\\", "\n", "<", "\u2028", "", "z\x00", "kind", "label", "releasable_to", strings.Repeat("k", 120)}

// randomDoc is a random object of JSON's values, numbers as written.
func randomDoc(r *rand.Rand, depth int) map[string]any {
	m := map[string]any{}
	for range r.IntN(5) {
		m[shapeKeys[r.IntN(len(shapeKeys))]] = randomValue(r, depth+1)
	}
	return m
}

func randomValue(r *rand.Rand, depth int) any {
	n := 8
	if depth > 4 {
		n = 5
	}
	switch r.IntN(n) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return shapeKeys[r.IntN(len(shapeKeys))]
	case 3:
		return json.Number([]string{"0", "-1", "2.50", "1840000", "-0", "1e5", "3E-2", "0.125"}[r.IntN(8)])
	case 4:
		return json.Number(strconv.Itoa(r.IntN(1000)))
	case 5, 6:
		return randomDoc(r, depth)
	default:
		a := make([]any, r.IntN(4))
		for i := range a {
			a[i] = randomValue(r, depth+1)
		}
		return a
	}
}

// writeShuffled writes v as JSON with every object's keys in random order
// and random white space; sorted reports whether every object came out
// with its keys in order.
func writeShuffled(r *rand.Rand, v any) (_ []byte, sorted bool) {
	sorted = true
	var b []byte
	var write func(v any)
	space := func() {
		if r.IntN(4) == 0 {
			b = append(b, " \n\t\r"[r.IntN(4)])
		}
	}
	write = func(v any) {
		space()
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if r.IntN(2) == 0 {
				r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			}
			sorted = sorted && slices.IsSorted(keys)
			b = append(b, '{')
			for i, k := range keys {
				if i > 0 {
					b = append(b, ',')
				}
				space()
				kb, _ := json.Marshal(k)
				b = append(append(b, kb...), ':')
				write(x[k])
			}
			b = append(b, '}')
		case []any:
			b = append(b, '[')
			for i, e := range x {
				if i > 0 {
					b = append(b, ',')
				}
				write(e)
			}
			b = append(b, ']')
		default:
			vb, _ := json.Marshal(x)
			b = append(b, vb...)
		}
		space()
	}
	write(v)
	return b, sorted
}
