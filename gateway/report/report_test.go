package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ledongthuc/pdf"

	"github.com/ura-gateway/ura/deploy/dev/seed"
	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/report"
	"github.com/ura-gateway/ura/gateway/sign"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// seedSource is the demo register: the newest version of every seed
// record, by id, as a store's query gives them.
func seedSource(t *testing.T) report.Source {
	t.Helper()
	latest := map[string]*records.Record{}
	lim := config.Default().Limits
	for _, p := range seed.Order {
		body, err := fs.ReadFile(seed.Files, p.File)
		if err != nil {
			t.Fatal(err)
		}
		checked, err := records.DecodeBatch(body, records.FormatNDJSON,
			records.Limits{MaxRecords: lim.MaxRecords, MaxDepth: lim.MaxDepth, MaxStringLength: lim.MaxStringLength})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range checked {
			if !c.Valid() {
				t.Fatalf("%s: %s invalid: %+v", p.File, c.ID, c.Errors)
			}
			if old := latest[c.Record.ID]; old == nil || old.Version < c.Record.Version {
				latest[c.Record.ID] = c.Record
			}
		}
	}
	ids := make([]string, 0, len(latest))
	for id := range latest {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return func(_ context.Context, kind string, fn func(*records.Record) error) error {
		for _, id := range ids {
			if r := latest[id]; r.Kind == kind {
				if err := fn(r); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

func build(t *testing.T, year int) *report.Signed {
	t.Helper()
	r, err := report.Build(context.Background(), seedSource(t), report.Options{Year: year, State: "ALB"})
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := report.Sign(context.Background(), nil, r, "", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func render(t *testing.T, s *report.Signed, format string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := report.Write(&b, s, format); err != nil {
		t.Fatalf("%s: %v", format, err)
	}
	return b.Bytes()
}

// TestSeedReportGolden pins the demo register's reports: the text table
// and the JSON, for both years the seed covers.
func TestSeedReportGolden(t *testing.T) {
	for _, year := range []int{2025, 2026} {
		s := build(t, year)
		for _, format := range []string{"json", "text"} {
			got := render(t, s, format)
			path := filepath.Join("testdata", "att-"+strconv.Itoa(year)+"."+format)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file (go test ./gateway/report -update rewrites it):\n%s", path, got)
			}
		}
	}
}

// TestSeedReport checks the facts the seed is made to show.
func TestSeedReport(t *testing.T) {
	r := build(t, 2026).Report
	find := func(rows []report.Row, cat, sub, state string) report.Row {
		t.Helper()
		for _, row := range rows {
			if row.Category == cat && row.Subcategory == sub && row.State == state {
				return row
			}
		}
		t.Fatalf("no row %s/%s/%s in %+v", cat, sub, state, rows)
		return report.Row{}
	}
	cases := []struct {
		name               string
		row                report.Row
		authorised, actual int64
		value              string
	}{
		{"assault rifles to Croatia, actual from single-item events", find(r.Exports, "small_arms", "assault_rifles", "HRV"), 500, 3, "295000 EUR"},
		{"assault rifles to Montenegro, a lot", find(r.Exports, "small_arms", "assault_rifles", "MNE"), 100, 60, "62000 EUR"},
		{"sub-machine guns by the words of the description", find(r.Exports, "small_arms", "sub_machine_guns", "BIH"), 150, 150, ""},
		{"heavy machine guns, ML1 but light weapons", find(r.Exports, "light_weapons", "heavy_machine_guns", "BIH"), 24, 12, ""},
		{"tanks by ML6 and the word", find(r.Exports, "battle_tanks", "", "ROU"), 4, 2, "640000 EUR"},
		{"82 mm mortars are large-calibre artillery", find(r.Exports, "large_calibre_artillery", "", "USA"), 20, 20, "150000 EUR"},
		{"pistols imported from Italy", find(r.Imports, "small_arms", "revolvers_pistols", "ITA"), 120, 2, ""},
		{"anti-tank launchers from the USA", find(r.Imports, "light_weapons", "portable_anti_tank_missile_launchers", "USA"), 6, 6, "1350000 USD"},
	}
	for _, c := range cases {
		if c.row.Authorised != c.authorised || c.row.Actual != c.actual || report.FormatMoney(c.row.Value) != c.value {
			t.Errorf("%s: authorised %d actual %d value %q; want %d %d %q", c.name, c.row.Authorised, c.row.Actual,
				report.FormatMoney(c.row.Value), c.authorised, c.actual, c.value)
		}
	}
	if !strings.Contains(find(r.Exports, "small_arms", "sub_machine_guns", "BIH").Comments, "covers several categories") {
		t.Error("a licence over two rows must say its value is not shown")
	}
	for _, row := range slices.Concat(r.Exports, r.Imports) {
		if row.Category == "" || report.CategoryTitle(row.Category) == "" {
			t.Errorf("row outside art. 2(1): %+v", row)
		}
	}
	see := map[string]bool{}
	for _, d := range r.Regional {
		see[d.State] = d.SouthEastEurope
	}
	// Ammunition (CZE, XKX) and explosives (ITA) are not in the ATT
	// tables but are exports the regional table counts.
	for state, want := range map[string]bool{"BIH": true, "CZE": false, "HRV": true, "ITA": false, "MNE": true, "ROU": true, "USA": false, "XKX": true} {
		if got, ok := see[state]; !ok || got != want {
			t.Errorf("regional %s: listed %v, south-east Europe %v; want listed, %v", state, ok, got, want)
		}
	}
	if r25 := build(t, 2025).Report; len(r25.Exports) != 2 || len(r25.Imports) != 1 {
		t.Errorf("2025: %d export rows, %d import rows; want 2 and 1", len(r25.Exports), len(r25.Imports))
	}
}

// tableRow is a report row as any format shows it.
type tableRow struct {
	table, category, subcategory, state, authorised, actual, value string
}

func jsonRows(t *testing.T, raw []byte) []tableRow {
	var s report.Signed
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	var out []tableRow
	for _, tb := range []struct {
		name string
		rows []report.Row
	}{{"exports", s.Report.Exports}, {"imports", s.Report.Imports}} {
		for _, r := range tb.rows {
			out = append(out, tableRow{tb.name, report.CategoryTitle(r.Category), report.SubcategoryTitle(r.Subcategory), r.State,
				strconv.FormatInt(r.Authorised, 10), strconv.FormatInt(r.Actual, 10), report.FormatMoney(r.Value)})
		}
	}
	for _, d := range s.Report.Regional {
		out = append(out, tableRow{"regional", "", "", d.State, strconv.FormatInt(d.Items, 10), "", report.FormatMoney(d.Value)})
	}
	return out
}

func csvRows(t *testing.T, raw []byte) []tableRow {
	cr := csv.NewReader(bytes.NewReader(raw))
	cr.Comment = '#'
	lines, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lines[0], report.CSVHeader) {
		t.Fatalf("CSV header %v", lines[0])
	}
	var out []tableRow
	for _, l := range lines[1:] {
		out = append(out, tableRow{l[0], l[1], l[2], l[3], l[6], l[7], l[8]})
	}
	return out
}

// pdfLines is the text of every line of every page of a PDF, each line's
// words joined by single spaces, read by a PDF reader.
func pdfLines(t *testing.T, raw []byte) []string {
	t.Helper()
	rd, err := pdf.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := 1; i <= rd.NumPage(); i++ {
		rows, err := rd.Page(i).GetTextByRow()
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			var words []string
			for _, w := range row.Content {
				words = append(words, strings.TrimSpace(w.S))
			}
			out = append(out, strings.Join(strings.Fields(strings.Join(words, " ")), " "))
		}
	}
	return out
}

// TestFormatsCarryTheSameNumbers reads the JSON, the CSV and the PDF (with
// a PDF reader) of the same report and finds every row's numbers in each.
func TestFormatsCarryTheSameNumbers(t *testing.T) {
	for _, year := range []int{2025, 2026} {
		s := build(t, year)
		fromJSON := jsonRows(t, render(t, s, "json"))
		fromCSV := csvRows(t, render(t, s, "csv"))
		if !slices.Equal(fromJSON, fromCSV) {
			t.Errorf("%d: CSV rows differ from JSON:\n json %v\n csv  %v", year, fromJSON, fromCSV)
		}
		if len(fromJSON) < 5 {
			t.Fatalf("%d: only %d rows", year, len(fromJSON))
		}
		lines := pdfLines(t, render(t, s, "pdf"))
		text := strings.Join(lines, "\n")
		for _, want := range []string{"Arms Trade Treaty", "Reporting State: ALB", "Calendar year: " + strconv.Itoa(year),
			"Date of the report: " + s.Report.AsOf[:10], s.Digest} {
			if !strings.Contains(strings.ReplaceAll(text, ": ", ":"), strings.ReplaceAll(want, ": ", ":")) {
				t.Errorf("%d: the PDF does not say %q", year, want)
			}
		}
		for _, r := range fromJSON {
			// The first line of a table row holds its state, its numbers
			// and the first words of its category.
			want := strings.Join(strings.Fields(strings.Join([]string{r.state, r.authorised, r.actual, r.value}, " ")), " ")
			if r.table == "regional" {
				see := "no"
				if slices.Contains(report.SouthEastEurope, r.state) {
					see = "yes"
				}
				want = r.state + " " + see
			}
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, want) }) {
				t.Errorf("%d: no PDF line has %q (row %+v)", year, want, r)
			}
		}
		if n := strings.Count(text, "items per partner state"); n == 0 {
			t.Errorf("%d: the PDF has no chart", year)
		}
	}
}

// TestPDFIsDeterministic: the same register gives the same PDF bytes.
func TestPDFIsDeterministic(t *testing.T) {
	a := render(t, build(t, 2026), "pdf")
	b := render(t, build(t, 2026), "pdf")
	if !bytes.Equal(a, b) || !bytes.HasPrefix(a, []byte("%PDF-")) {
		t.Fatalf("two PDFs of one report differ (%d and %d bytes)", len(a), len(b))
	}
}

// TestSignedDigest: the signature covers the digest of the canonical
// report; a changed number no longer verifies.
func TestSignedDigest(t *testing.T) {
	r, err := report.Build(context.Background(), seedSource(t), report.Options{Year: 2026, State: "ALB"})
	if err != nil {
		t.Fatal(err)
	}
	signer := &apitest.Signer{}
	s, kid, err := report.Sign(context.Background(), signer, r, "AL/GOV/AIM", "ura-test", time.Unix(1_800_000_000, 0))
	if err != nil || kid != "test:1" {
		t.Fatalf("sign: %v, kid %q", err, kid)
	}
	typ, payload := apitest.Verify(t, s.JWS)
	if typ != sign.TypReport || payload["digest"] != s.Digest || payload["recipient"] != "AL/GOV/AIM" || payload["year"] != float64(2026) {
		t.Fatalf("typ %q payload %v", typ, payload)
	}
	raw, _ := json.Marshal(payload)
	reportJSON, _ := json.Marshal(s.Report)
	if _, err := report.CheckAttestation(raw, reportJSON, s.Digest); err != nil {
		t.Fatalf("attestation of the report itself: %v", err)
	}
	// Re-indented JSON has the same canonical form.
	var pretty bytes.Buffer
	_ = json.Indent(&pretty, reportJSON, "", "    ")
	if _, err := report.CheckAttestation(raw, pretty.Bytes(), s.Digest); err != nil {
		t.Fatalf("re-indented report: %v", err)
	}
	tampered := bytes.Replace(reportJSON, []byte(`"authorised":500`), []byte(`"authorised":50`), 1)
	if bytes.Equal(tampered, reportJSON) {
		t.Fatal("the tamper found nothing to change")
	}
	if _, err := report.CheckAttestation(raw, tampered, s.Digest); err == nil {
		t.Fatal("a changed number verified")
	}
	if _, err := report.CheckAttestation(raw, reportJSON, "sha256:00"); err == nil {
		t.Fatal("a changed plain digest verified")
	}
}

func TestBuildRefusesYears(t *testing.T) {
	for _, y := range []int{0, 2013, 2201} {
		if _, err := report.Build(context.Background(), seedSource(t), report.Options{Year: y, State: "ALB"}); err == nil {
			t.Errorf("year %d accepted", y)
		}
	}
}

// TestNilReport: a year with nothing is a report with empty tables, whose
// PDF says nil.
func TestNilReport(t *testing.T) {
	s := build(t, 2019)
	if len(s.Report.Exports)+len(s.Report.Imports)+len(s.Report.Regional) != 0 || s.Report.AsOf != "2019-12-31T23:59:59Z" {
		t.Fatalf("%+v", s.Report)
	}
	if text := strings.Join(pdfLines(t, render(t, s, "pdf")), "\n"); !strings.Contains(text, "Nil") {
		t.Error("the nil report's PDF does not say Nil")
	}
}

// TestOnlyOwnInstitutions: a licence a peer's institution issued (Italy's
// export to Albania, relayed here) is not the reporting state's transfer,
// and is left out once the report knows its own instance.
func TestOnlyOwnInstitutions(t *testing.T) {
	src := seedSource(t)
	var italian *records.Record
	_ = src(context.Background(), records.KindLicence, func(r *records.Record) error {
		if italian == nil && r.Body()["type"] == "export" && r.Body()["destination"] == "ITA" {
			italian = r
		}
		return nil
	})
	if italian == nil {
		t.Fatal("the seed has no export licence to Italy")
	}
	doc, _ := json.Marshal(italian.Doc)
	var cp map[string]any
	_ = json.Unmarshal(doc, &cp)
	cp["id"] = "IT-GOV-MOD-LIC-2026-000001"
	cp["label"].(map[string]any)["originator"] = "IT/GOV/MOD"
	body := cp["licence"].(map[string]any)
	body["origin"], body["destination"] = "ITA", "ALB"
	raw, _ := json.Marshal([]any{cp})
	checked, err := records.DecodeBatch(raw, records.FormatJSON, records.Limits{MaxRecords: 1, MaxDepth: 32, MaxStringLength: 1 << 16})
	if err != nil || !checked[0].Valid() {
		t.Fatalf("Italy's licence: %v %+v", err, checked)
	}
	withPeer := func(ctx context.Context, kind string, fn func(*records.Record) error) error {
		if err := src(ctx, kind, fn); err != nil {
			return err
		}
		if kind == records.KindLicence {
			return fn(checked[0].Record)
		}
		return nil
	}
	albania := func(r *report.Report) bool {
		for _, d := range r.Regional {
			if d.State == "ALB" {
				return true
			}
		}
		return false
	}
	all, err := report.Build(context.Background(), withPeer, report.Options{Year: 2026, State: "ALB"})
	if err != nil || !albania(all) {
		t.Fatalf("without an instance the peer's licence counts: %v", err)
	}
	own, err := report.Build(context.Background(), withPeer, report.Options{Year: 2026, State: "ALB", Instance: "AL"})
	if err != nil || albania(own) {
		t.Fatalf("Italy's licence to Albania is reported as Albania's export: %v", err)
	}
}
