package records

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/differential/corpus.ndjson from deploy/dev/seed")

// corpusPath is the differential corpus: every case a partner's validator
// and the gateway must judge alike, written out so it can be reviewed.
var corpusPath = filepath.Join("testdata", "differential", "corpus.ndjson")

// corpusCase is one line of the corpus. Record is the JSON text both
// validators read (kept as text: some cases hold escapes, such as a lone
// surrogate, that no Go string can carry). Valid is the verdict of the
// published schema. BeyondSchema, when set, is a rule between fields that
// the gateway adds to the schema (gateway/ARCHITECTURE.md): ajv must accept
// the record and the gateway refuse it at this pointer.
type corpusCase struct {
	Name         string          `json:"name"`
	Record       json.RawMessage `json:"record"`
	Valid        bool            `json:"valid"`
	BeyondSchema string          `json:"beyond_schema,omitempty"`
}

// TestDifferentialAjv runs the corpus through ajv (strict mode, draft
// 2020-12, ajv-formats) over the schemas served at /v1/schemas/{kind}, and
// through the gateway's own decoding and validation, and requires the same
// verdict on every case; every refusal by the gateway names a field by a
// non-empty JSON pointer and the record's index. -update regenerates the
// corpus from the seed data (and fails if a verdict no longer matches).
func TestDifferentialAjv(t *testing.T) {
	cases := differentialCorpus(t)
	var text bytes.Buffer
	for _, c := range cases {
		line, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		text.Write(line)
		text.WriteByte('\n')
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(corpusPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(corpusPath, text.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	onDisk, err := os.ReadFile(corpusPath)
	if err != nil {
		t.Fatalf("%v (go test ./gateway/records -run Differential -update)", err)
	}
	if !bytes.Equal(onDisk, text.Bytes()) {
		t.Fatalf("%s is not what the seed data and the mutations make (go test ./gateway/records -run Differential -update)", corpusPath)
	}

	// The gateway's verdicts need nothing outside the package.
	gateway := map[string]Checked{}
	for _, c := range cases {
		checked, err := DecodeBatch(append(append([]byte("["), c.Record...), ']'), FormatJSON, differentialLimits)
		if err != nil {
			t.Fatalf("%s: the whole body was refused, not the record: %v", c.Name, err)
		}
		gateway[c.Name] = checked[0]
	}
	for _, c := range cases {
		g := gateway[c.Name]
		if g.Valid() {
			continue
		}
		for _, e := range g.Errors {
			if e.Record == nil || *e.Record != 0 {
				t.Errorf("%s: refusal %q names no record index", c.Name, e.Detail)
			}
			if e.Pointer == "" && !isNonObject(c.Record) {
				t.Errorf("%s: refusal %q names no field", c.Name, e.Detail)
			}
		}
	}

	ajv := runAjv(t, text.Bytes())
	disagreements := 0
	for _, c := range cases {
		g, a := gateway[c.Name], ajv[c.Name]
		wantGateway := c.Valid && c.BeyondSchema == ""
		switch {
		case a.Valid != c.Valid:
			t.Errorf("%s: ajv says valid=%v, the corpus %v: %v", c.Name, a.Valid, c.Valid, a.Errors)
			disagreements++
		case g.Valid() != wantGateway:
			t.Errorf("%s: the gateway says valid=%v, the corpus %v (beyond schema %q): %v", c.Name, g.Valid(), c.Valid, c.BeyondSchema, g.Errors)
			disagreements++
		case c.BeyondSchema != "" && !slices.ContainsFunc(g.Errors, func(e problem.FieldError) bool { return e.Pointer == c.BeyondSchema }):
			t.Errorf("%s: the gateway's refusal is not at %s: %v", c.Name, c.BeyondSchema, g.Errors)
			disagreements++
		}
	}
	t.Logf("%d cases (%d valid), %d disagreements between ajv and the gateway", len(cases), countValid(cases), disagreements)
}

var differentialLimits = Limits{MaxRecords: 1, MaxDepth: 16, MaxStringLength: 8192}

func countValid(cases []corpusCase) int {
	n := 0
	for _, c := range cases {
		if c.Valid {
			n++
		}
	}
	return n
}

func isNonObject(raw json.RawMessage) bool {
	return !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{"))
}

type ajvAnswer struct {
	Name   string `json:"name"`
	Valid  bool   `json:"valid"`
	Errors []struct {
		Pointer string `json:"pointer"`
		Message string `json:"message"`
	} `json:"errors"`
}

// runAjv writes the served schemas to files and has deploy/openapi-check's
// ajv.mjs judge every case.
func runAjv(t *testing.T, corpus []byte) map[string]ajvAnswer {
	t.Helper()
	dir := testenv.OpenAPICheck(t)
	schemaDir := t.TempDir()
	args := []string{filepath.Join(dir, "ajv.mjs")}
	for _, kind := range Kinds {
		doc, _, err := Schema(kind)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(schemaDir, kind+".json")
		if err := os.WriteFile(path, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, path)
	}
	cmd := exec.Command("node", args...)
	cmd.Stdin = bytes.NewReader(corpus)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node ajv.mjs: %v\n%s", err, stderr.String())
	}
	answers := map[string]ajvAnswer{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var a ajvAnswer
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("ajv.mjs answered %q: %v", sc.Text(), err)
		}
		answers[a.Name] = a
	}
	return answers
}

// differentialCorpus is every seed record as it is, then mutations of one
// seed record of each kind: date-times, dates, text, numbers, unknown and
// missing fields, and both sides of every if/then branch.
func differentialCorpus(t *testing.T) []corpusCase {
	t.Helper()
	var cases []corpusCase
	byKind := map[string]map[string]any{}
	eventOf := map[string]map[string]any{} // the first tracking event of each event.type
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "dev", "seed", "*.ndjson"))
	if err != nil || len(files) == 0 {
		t.Fatalf("seed data: %v", err)
	}
	slices.Sort(files)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
			var doc map[string]any
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.UseNumber()
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("%s:%d: %v", f, i+1, err)
			}
			cases = append(cases, corpusCase{Name: fmt.Sprintf("seed %s:%d %s", filepath.Base(f), i+1, doc["id"]), Record: line, Valid: true})
			k, _ := doc["kind"].(string)
			if byKind[k] == nil {
				byKind[k] = doc
			}
			if k == KindTrackingEvent {
				typ, _ := doc["event"].(map[string]any)["type"].(string)
				if eventOf[typ] == nil {
					eventOf[typ] = doc
				}
			}
		}
	}
	for _, k := range Kinds {
		if byKind[k] == nil {
			t.Fatalf("the seed data has no %s", k)
		}
	}

	// mutate adds the case made by applying edits to a copy of base.
	mutate := func(name string, base map[string]any, valid bool, edits ...mutation) {
		doc := deepCopy(base).(map[string]any)
		for _, e := range edits {
			applyMutation(t, doc, e)
		}
		raw, err := Canonical(doc)
		if err != nil {
			t.Fatal(err)
		}
		// Escapes no Go string can hold are spliced into the text.
		raw = bytes.ReplaceAll(raw, []byte(loneSurrogate), []byte(`\ud800`))
		raw = bytes.ReplaceAll(raw, []byte(surrogatePair), []byte(`\ud83d\ude00`))
		cases = append(cases, corpusCase{Name: name, Record: raw, Valid: valid})
	}
	beyond := func(ptr string) { cases[len(cases)-1].BeyondSchema = ptr }

	lic := byKind[KindLicence]
	ent := byKind[KindEntity]
	exc := byKind[KindExcludedEntity]
	euc := byKind[KindEndUserCertificate]
	manufactured := eventOf["MANUFACTURED"]
	exported := eventOf["EXPORT_DECLARED"]
	if manufactured == nil || exported == nil {
		t.Fatal("the seed data has no MANUFACTURED or EXPORT_DECLARED event")
	}

	// Date-times: RFC 3339 §5.6 as JSON Schema's date-time format reads it.
	for _, c := range []struct {
		v     string
		valid bool
	}{
		{"2026-01-20T10:00:00Z", true},
		{"2026-01-20t10:00:00z", true},
		{"2026-01-20T10:00:00z", true},
		{"2026-01-20t10:00:00Z", true},
		{"2025-12-31T23:59:60Z", true},
		{"2025-12-31t23:59:60.5z", true},
		{"2026-01-01T00:59:60+01:00", true},
		{"2025-12-31T18:59:60-05:00", true},
		{"2025-12-31T22:59:60Z", false},
		{"2025-12-31T23:59:60+01:00", false},
		{"2025-12-31T23:58:60Z", false},
		{"2026-01-20T10:00:61Z", false},
		{"2026-01-20T12:00:00+02:00", true},
		{"2026-01-20T00:00:00-12:00", true},
		{"2026-01-20T00:00:00+14:00", true},
		{"2026-01-20T00:00:00+23:59", true},
		{"2026-01-20T00:00:00+24:00", false},
		{"2026-01-20T00:00:00+01:60", false},
		{"2026-01-20T00:00:00+0100", false},
		{"2026-01-20T00:00:00+01", false},
		{"2026-01-20T00:00:00", false},
		{"2026-01-20 10:00:00Z", false},
		{"2026-01-20T10:00:00.1Z", true},
		{"2026-01-20T10:00:00.123456789Z", true},
		{"2026-01-20T10:00:00.123456789012345678901234567890Z", true},
		{"2026-01-20T10:00:00.Z", false},
		{"2026-01-20T10:00Z", false},
		{"2026-01-20T24:00:00Z", false},
		{"2026-01-20T10:60:00Z", false},
		{"2026-02-30T10:00:00Z", false},
		{"2025-02-29T10:00:00Z", false},
		{"2024-02-29T10:00:00Z", true},
		{"2026-13-01T10:00:00Z", false},
		{"2026-00-10T10:00:00Z", false},
		{"2026-1-20T10:00:00Z", false},
		{"20260120T100000Z", false},
		{"2026-01-20T10:00:00Z ", false},
		{"２026-01-20T10:00:00Z", false},
		{"", false},
	} {
		mutate("label.created "+quote(c.v), lic, c.valid, set("/label/created", c.v))
	}
	for _, c := range []struct {
		v     string
		valid bool
	}{
		{"2026-03-10t14:00:00z", true},
		{"2026-06-30T23:59:60Z", true},
		{"2026-06-30T23:59:60.999999999999Z", true},
		{"2026-07-01T01:59:60+02:00", true},
		{"2026-06-30T23:59:60+02:00", false},
		{"2026-02-30T10:00:00Z", false},
	} {
		mutate("event.at "+quote(c.v), exported, c.valid, set("/event/at", c.v))
	}
	// Dates: RFC 3339 full-date.
	for _, c := range []struct {
		v     string
		valid bool
	}{
		{"2026-02-28", true},
		{"2028-02-29", true},
		{"2026-02-29", false},
		{"2026-02-30", false},
		{"2026-04-31", false},
		{"2026-2-28", false},
		{"2026-02-28T00:00:00Z", false},
		{"26-02-28", false},
	} {
		mutate("licence.valid_from "+quote(c.v), lic, c.valid, set("/licence/issue_date", "2026-01-01"), set("/licence/valid_from", c.v), set("/licence/valid_until", "2030-12-31"))
	}

	// Text: NUL, lone surrogates, pairs, combining characters, lengths in
	// code points.
	for _, c := range []struct {
		name, v string
		valid   bool
	}{
		{"NUL", "KAYO\x00sh.a.", true},
		{"only NUL", "\x00", true},
		{"lone surrogate", "KAYO " + loneSurrogate, true},
		{"escaped surrogate pair", "KAYO " + surrogatePair, true},
		{"combining acute", "Kavaje\u0301", true},
		{"line separator", "KAYO\u2028sh.a.", true},
		{"right-to-left override", "\u202eKAYO", true},
		{"empty", "", false},
		{"256 code points, 4 bytes each", strings.Repeat("😀", 256), true},
		{"257 code points, 4 bytes each", strings.Repeat("😀", 257), false},
		{"256 code points as 128 letters and combining marks", strings.Repeat("e\u0301", 128), true},
		{"258 code points as 129 letters and combining marks", strings.Repeat("e\u0301", 129), false},
	} {
		mutate("entity.name "+c.name, ent, c.valid, set("/entity/name", c.v))
	}
	for _, c := range []struct {
		name, v string
		valid   bool
	}{
		{"non-ASCII letter", "AIM-LIC-2026-00012Ä", false},
		{"NUL", "AIM-LIC\x00", false},
		{"leading dash", "-AIM", false},
		{"fullwidth digit", "AIM-１", false},
	} {
		mutate("id "+c.name, lic, c.valid, set("/id", c.v))
	}
	mutate("id of 128 characters", lic, true, set("/id", strings.Repeat("A", 128)))
	mutate("id of 129 characters", lic, false, set("/id", strings.Repeat("A", 129)))

	// E-mail addresses (RFC 5321 Mailbox, JSON Schema's email format).
	for _, c := range []struct {
		v     string
		valid bool
	}{
		{"licensing@kayo.example.al", true},
		{"first.last+tag@kayo.example.al", true},
		{"a@b", false},
		{"a@kayo.example.123", true},
		{strings.Repeat("a", 64) + "@kayo.example.al", true},
		{strings.Repeat("a", 65) + "@kayo.example.al", false},
		{"a@" + strings.Repeat("k", 63) + ".example.al", true},
		{"a@" + strings.Repeat("k", 64) + ".example.al", false},
		{"a.@kayo.example.al", false},
		{"a..b@kayo.example.al", false},
		{".a@kayo.example.al", false},
		{"\"quoted local\"@kayo.example.al", false},
		{"a@[192.0.2.1]", false},
		{"üser@kayo.example.al", false},
		{"a@kayo.example.al.", false},
		{"a@-kayo.example.al", false},
		{"a@kayo_example.al", false},
		{"kayo.example.al", false},
		{"a@", false},
	} {
		mutate("contact.email "+quote(c.v), ent, c.valid, set("/entity/contact/email", c.v))
	}

	// Numbers at their limits, integers written as decimals, and floats
	// where integers belong.
	for _, c := range []struct {
		v     string
		valid bool
	}{
		{"1", true},
		{"1.0", true},
		{"1e0", true},
		{"10e-1", true},
		{"2147483647", true},
		{"2147483647.0", true},
		{"2147483648", false},
		{"0", false},
		{"-0", false},
		{"-1", false},
		{"1.5", false},
		{"9007199254740992", false},
		{"9007199254740993", false},
		{"1e400", false},
		{"-1e400", false},
	} {
		mutate("version "+c.v, lic, c.valid, set("/version", json.Number(c.v)))
	}
	mutate(`version "1"`, lic, false, set("/version", "1"))
	mutate("version true", lic, false, set("/version", true))
	mutate("version null", lic, false, set("/version", nil))
	for _, c := range []struct {
		v     string
		valid bool
	}{
		{"0", true},
		{"-0", true},
		{"-1", false},
		{"1000000000000", true},
		{"1000000000001", false},
		{"1e12", true},
		{"2.0", true},
		{"2.5", false},
		{"9007199254740992", false},
		{"1e400", false},
	} {
		mutate("items[0].quantity "+c.v, lic, c.valid, set("/licence/items/0/quantity", json.Number(c.v)))
	}
	for _, c := range []struct {
		v     string
		valid bool
	}{
		{"0", true},
		{"0.01", true},
		{"1000000000000000", true},
		{"1e15", true},
		{"1000000000000001", false},
		{"-0.01", false},
		{"1e400", false},
	} {
		mutate("contract_value.amount "+c.v, lic, c.valid, set("/licence/contract_value", map[string]any{"amount": json.Number(c.v), "currency": "EUR"}))
	}
	for _, c := range []struct {
		v     string
		valid bool
	}{
		{"2019.0", true},
		{"1800", true},
		{"1799", false},
		{"2019.5", false},
	} {
		mutate("marking.year "+c.v, manufactured, c.valid, set("/event/item/marking/year", json.Number(c.v)))
	}

	// Unknown and missing fields, at each level.
	mutate("unknown field at the top", lic, false, set("/extra", true))
	mutate("unknown field in label", lic, false, set("/label/extra", "x"))
	mutate("unknown field in the body", lic, false, set("/licence/extra", json.Number("1")))
	mutate("unknown field in an item", lic, false, set("/licence/items/0/extra", nil))
	for _, ptr := range []string{"/kind", "/id", "/version", "/label", "/licence",
		"/label/classification", "/label/releasable_to", "/label/originator", "/label/created",
		"/licence/type", "/licence/status", "/licence/holder", "/licence/valid_from", "/licence/valid_until", "/licence/items",
		"/licence/holder/name", "/licence/items/0/unit"} {
		mutate("missing "+ptr, lic, false, del(ptr))
	}
	mutate("kind unknown", lic, false, set("/kind", "weapon"))
	mutate("kind of another schema", lic, false, set("/kind", KindEntity))
	mutate("releasable_to empty", lic, false, set("/label/releasable_to", []any{}))
	mutate("releasable_to twice the same", lic, false, set("/label/releasable_to", []any{"ALB", "ALB"}))
	mutate("classification lowercase", lic, false, set("/label/classification", "unclassified"))
	for _, k := range Kinds {
		mutate("version 7 of the first seed "+k, byKind[k], true, set("/version", json.Number("7")))
	}
	cases = append(cases,
		corpusCase{Name: "not an object: array", Record: json.RawMessage(`[]`)},
		corpusCase{Name: "not an object: string", Record: json.RawMessage(`"licence"`)},
		corpusCase{Name: "not an object: null", Record: json.RawMessage(`null`)},
		corpusCase{Name: "empty object", Record: json.RawMessage(`{}`)},
	)

	// Every if/then branch, taken and not.
	mutate("export licence without destination", lic, false, set("/licence/type", "export"), del("/licence/destination"))
	mutate("export licence without end_user", lic, false, set("/licence/type", "export"), del("/licence/end_user"))
	mutate("export licence with destination and end_user", lic, true, set("/licence/type", "export"))
	mutate("production licence without destination and end_user", lic, true, set("/licence/type", "production"), del("/licence/destination"), del("/licence/end_user"))
	mutate("brokering licence with a bad destination", lic, false, set("/licence/type", "brokering"), set("/licence/destination", "XXX"))
	mutate("EXPORT_DECLARED without from", exported, false, del("/event/from"))
	mutate("EXPORT_DECLARED without to", exported, false, del("/event/to"))
	mutate("EXIT_CONFIRMED with from and to", exported, true, set("/event/type", "EXIT_CONFIRMED"))
	mutate("MANUFACTURED without from and to", manufactured, true, del("/event/from"), del("/event/to"))
	trace := func(fields ...string) map[string]any {
		all := map[string]any{"request_id": "IT-MOD-TR-2026-0007", "reason": "seizure in Bari", "requesting_authority": "Procura di Bari", "requester": "IT/GOV/MOD"}
		out := map[string]any{}
		for _, f := range fields {
			out[f] = all[f]
		}
		return out
	}
	mutate("TRACE_REQUEST with reason and authority", manufactured, true, set("/event/type", "TRACE_REQUEST"), set("/event/trace", trace("request_id", "reason", "requesting_authority")))
	mutate("TRACE_REQUEST without trace", manufactured, false, set("/event/type", "TRACE_REQUEST"))
	mutate("TRACE_REQUEST without reason", manufactured, false, set("/event/type", "TRACE_REQUEST"), set("/event/trace", trace("request_id", "requesting_authority")))
	mutate("TRACE_REQUEST with an empty reason", manufactured, false, set("/event/type", "TRACE_REQUEST"), set("/event/trace", map[string]any{"request_id": "R1", "reason": "", "requesting_authority": "Procura di Bari"}))
	mutate("TRACE_RESPONSE naming the requester", manufactured, true, set("/event/type", "TRACE_RESPONSE"), set("/event/trace", trace("request_id", "requester")))
	mutate("TRACE_RESPONSE without requester", manufactured, false, set("/event/type", "TRACE_RESPONSE"), set("/event/trace", trace("request_id")))
	mutate("TRACE_RESPONSE with a malformed requester", manufactured, false, set("/event/type", "TRACE_RESPONSE"), set("/event/trace", map[string]any{"request_id": "R1", "requester": "it/gov/mod"}))
	mutate("trace without request_id", manufactured, false, set("/event/type", "TRACE_RESPONSE"), set("/event/trace", trace("requester")))
	mutate("Albanian excluded entity with a NIPT", exc, true, set("/excluded_entity/country", "ALB"), set("/excluded_entity/entity_id", "L61234567A"))
	mutate("Albanian excluded entity without a NIPT", exc, false, set("/excluded_entity/country", "ALB"), set("/excluded_entity/entity_id", "IT-12345"))
	mutate("Italian excluded entity with another identifier", exc, true, set("/excluded_entity/country", "ITA"), set("/excluded_entity/entity_id", "IT-12345"))
	mutate("end-user certificate, version 2", euc, true, set("/version", json.Number("2")))

	// Rules between fields the gateway adds to the schema.
	mutate("valid_until before valid_from", lic, true, set("/licence/valid_from", "2026-06-01"), set("/licence/valid_until", "2026-05-31"))
	beyond("/licence/valid_until")
	mutate("made after the event", manufactured, true, set("/event/item/marking/year", json.Number("2100")))
	beyond("/event/item/marking/year")

	names := map[string]bool{}
	for _, c := range cases {
		if names[c.Name] {
			t.Fatalf("two cases named %q", c.Name)
		}
		names[c.Name] = true
	}
	return cases
}

// Placeholders for escapes spliced into a case's text.
const (
	loneSurrogate = "@@lone-surrogate@@"
	surrogatePair = "@@surrogate-pair@@"
)

func quote(s string) string { return fmt.Sprintf("%q", s) }

// mutation sets (or, with del, removes) the value at an RFC 6901 pointer.
type mutation struct {
	ptr   string
	value any
	del   bool
}

func set(ptr string, v any) mutation { return mutation{ptr: ptr, value: v} }
func del(ptr string) mutation        { return mutation{ptr: ptr, del: true} }

func applyMutation(t *testing.T, doc map[string]any, m mutation) {
	t.Helper()
	if f, ok := m.value.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
		t.Fatalf("%s: use json.Number for numbers outside float64", m.ptr)
	}
	edit(t, doc, m.ptr, m.value, m.del)
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, c := range x {
			out[k] = deepCopy(c)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, c := range x {
			out[i] = deepCopy(c)
		}
		return out
	default:
		return v
	}
}
