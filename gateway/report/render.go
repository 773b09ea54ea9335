package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Formats a report is written in, and their media types.
var Formats = map[string]string{
	"json": "application/json",
	"csv":  "text/csv; charset=utf-8",
	"text": "text/plain; charset=utf-8",
	"pdf":  "application/pdf",
}

// Write renders s in format (a key of Formats).
func Write(w io.Writer, s *Signed, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	case "csv":
		return writeCSV(w, s)
	case "text":
		return writeText(w, s)
	case "pdf":
		return writePDF(w, s)
	}
	return fmt.Errorf("report: unknown format %q", format)
}

// CSVHeader names the CSV's columns. A row's table is exports, imports or
// regional; a regional row has no category and counts licences and the
// items licensed in pieces, units or sets as authorised.
var CSVHeader = []string{"table", "category", "subcategory", "state", "south_east_europe", "licences",
	"authorised", "actual", "value", "comments"}

// Lines are the report's table lines as the CSV and the text table write
// them, header first.
func Lines(r *Report) [][]string {
	out := [][]string{CSVHeader}
	see := func(s string) string {
		for _, x := range SouthEastEurope {
			if x == s {
				return "yes"
			}
		}
		return "no"
	}
	for _, t := range []struct {
		name string
		rows []Row
	}{{"exports", r.Exports}, {"imports", r.Imports}} {
		for _, row := range t.rows {
			out = append(out, []string{t.name, CategoryTitle(row.Category), SubcategoryTitle(row.Subcategory), row.State,
				see(row.State), strconv.Itoa(len(row.Licences)), strconv.FormatInt(row.Authorised, 10),
				strconv.FormatInt(row.Actual, 10), FormatMoney(row.Value), row.Comments})
		}
	}
	for _, d := range r.Regional {
		out = append(out, []string{"regional", "", "", d.State, see(d.State), strconv.Itoa(d.Licences),
			strconv.FormatInt(d.Items, 10), "", FormatMoney(d.Value), "ML categories: " + strings.Join(d.MLCategories, ", ")})
	}
	return out
}

// writeCSV writes the report's lines (RFC 4180) after comment lines ("#")
// that say what the report is and its digest.
func writeCSV(w io.Writer, s *Signed) error {
	r := s.Report
	if _, err := fmt.Fprintf(w, "# %s: %s, %s, %d, as of %s\n# digest %s\n", r.Basis, r.Title, r.ReportingState, r.Year, r.AsOf, s.Digest); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.WriteAll(Lines(r)); err != nil {
		return err
	}
	return cw.Error()
}

func writeText(w io.Writer, s *Signed) error {
	r := s.Report
	if _, err := fmt.Fprintf(w, "%s — %s\nReporting state %s, calendar year %d, as of %s (due %s)\n%d records counted; digest %s\n\n",
		r.Basis, r.Title, r.ReportingState, r.Year, r.AsOf, r.Due, r.Records, s.Digest); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, l := range Lines(r) {
		l = append([]string(nil), l...)
		l[len(l)-1] = clip(l[len(l)-1], 60)
		if _, err := fmt.Fprintln(tw, strings.Join(l, "\t")); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// clip shortens s to n runes for the text table (the CSV, JSON and PDF
// carry the whole comment).
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
