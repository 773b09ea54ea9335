package report

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// column of a PDF table: its heading and width in millimetres.
type column struct {
	head  string
	width float64
	right bool
}

// writePDF lays the report out as the ATT reporting template does: a title
// page (reporting state, year, date), the export and import tables, the
// regional table, then a chart per category. Its dates are the report's
// own (AsOf), so the same report gives the same bytes.
func writePDF(w io.Writer, s *Signed) error {
	r := s.Report
	asOf, err := time.Parse(time.RFC3339, r.AsOf)
	if err != nil {
		return fmt.Errorf("report pdf: as_of: %w", err)
	}
	pdf := fpdf.New("L", "mm", "A4", "")
	pdf.SetCreationDate(asOf)
	pdf.SetModificationDate(asOf)
	pdf.SetCatalogSort(true)
	pdf.SetProducer("ura", false)
	pdf.SetCreator("ura report att", false)
	pdf.SetTitle(fmt.Sprintf("ATT annual report %d, %s", r.Year, r.ReportingState), true)
	pdf.SetAutoPageBreak(false, 12)
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	p := &pdfDoc{pdf: pdf, tr: tr}

	p.titlePage(s)
	for _, t := range []struct {
		title, state string
		rows         []Row
	}{
		{"Exports", "Importing State", r.Exports},
		{"Imports", "Exporting State", r.Imports},
	} {
		p.transferTable(t.title, t.state, r.Year, t.rows)
	}
	p.regionalTable(r)
	if err := p.charts(r); err != nil {
		return err
	}
	if err := pdf.Error(); err != nil {
		return fmt.Errorf("report pdf: %w", err)
	}
	return pdf.Output(w)
}

type pdfDoc struct {
	pdf *fpdf.Fpdf
	tr  func(string) string
}

const (
	lineH   = 5.0
	marginX = 10.0
	bottomY = 198.0
)

func (p *pdfDoc) titlePage(s *Signed) {
	r := s.Report
	pdf := p.pdf
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 22)
	pdf.SetXY(marginX, 40)
	pdf.CellFormat(277, 12, p.tr("Arms Trade Treaty"), "", 1, "C", false, 0, "")
	pdf.SetFont("Helvetica", "", 16)
	pdf.CellFormat(277, 10, p.tr(r.Title), "", 1, "C", false, 0, "")
	pdf.CellFormat(277, 8, p.tr("("+r.Basis+")"), "", 1, "C", false, 0, "")
	pdf.Ln(12)
	pdf.SetFont("Helvetica", "", 13)
	for _, kv := range [][2]string{
		{"Reporting State", r.ReportingState},
		{"Calendar year", strconv.Itoa(r.Year)},
		{"Date of the report", r.AsOf[:10]},
		{"Due", r.Due},
		{"Records counted", strconv.Itoa(r.Records)},
	} {
		pdf.SetX(90)
		pdf.CellFormat(50, 8, p.tr(kv[0]+":"), "", 0, "L", false, 0, "")
		pdf.CellFormat(80, 8, p.tr(kv[1]), "", 1, "L", false, 0, "")
	}
	pdf.Ln(10)
	pdf.SetFont("Courier", "", 8)
	pdf.SetX(marginX)
	pdf.CellFormat(277, 5, "digest "+s.Digest, "", 1, "C", false, 0, "")
	pdf.SetFont("Helvetica", "", 8)
	pdf.SetX(marginX)
	pdf.MultiCell(277, 4, p.tr("Authorised: items the export or import licences issued in the year allow. Actual: items that left "+
		"(exit confirmed) or came in (import declared) in the year. Value: contract value of the licences counted, where "+
		"recorded. The digest is the SHA-256 of the report's canonical JSON, which the gateway signs."), "", "C", false)
}

// heading starts a table page.
func (p *pdfDoc) heading(title string) {
	p.pdf.AddPage()
	p.pdf.SetFont("Helvetica", "B", 14)
	p.pdf.SetXY(marginX, 12)
	p.pdf.CellFormat(277, 8, p.tr(title), "", 1, "L", false, 0, "")
}

func (p *pdfDoc) transferTable(title, stateHead string, year int, rows []Row) {
	cols := []column{{"Category", 40, false}, {"Sub-category", 52, false}, {stateHead, 24, false},
		{"Number of items authorised", 24, true}, {"Number of items actual", 22, true}, {"Value", 30, true}, {"Comments", 85, false}}
	heading := fmt.Sprintf("%s %d", title, year)
	p.heading(heading)
	p.header(cols)
	if len(rows) == 0 {
		p.row(cols, []string{"Nil", fmt.Sprintf("no %s of the categories of art. 2(1) in %d", lower(title), year), "", "", "", "", ""}, heading)
		return
	}
	for _, r := range rows {
		p.row(cols, []string{CategoryTitle(r.Category), SubcategoryTitle(r.Subcategory), r.State,
			strconv.FormatInt(r.Authorised, 10), strconv.FormatInt(r.Actual, 10), FormatMoney(r.Value), r.Comments}, heading)
	}
}

func (p *pdfDoc) regionalTable(r *Report) {
	cols := []column{{"Destination", 30, false}, {"South-East Europe", 30, false}, {"Licences", 24, true},
		{"Items (pieces, units, sets)", 40, true}, {"Value", 45, true}, {"EU Military List categories", 108, false}}
	heading := fmt.Sprintf("Exports by destination %d (regional table)", r.Year)
	p.heading(heading)
	p.header(cols)
	for _, d := range r.Regional {
		see := "no"
		if d.SouthEastEurope {
			see = "yes"
		}
		p.row(cols, []string{d.State, see, strconv.Itoa(d.Licences), strconv.FormatInt(d.Items, 10), FormatMoney(d.Value),
			strings.Join(d.MLCategories, ", ")}, heading)
	}
}

func (p *pdfDoc) header(cols []column) {
	p.pdf.SetFont("Helvetica", "B", 8)
	p.pdf.SetFillColor(220, 226, 235)
	p.cells(cols, headTexts(cols), true)
	p.pdf.SetFont("Helvetica", "", 8)
}

func headTexts(cols []column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.head
	}
	return out
}

// row draws one table row, starting a new page (with the header again)
// when it does not fit.
func (p *pdfDoc) row(cols []column, texts []string, heading string) {
	if p.pdf.GetY()+p.height(cols, texts) > bottomY {
		p.heading(heading + " (continued)")
		p.header(cols)
	}
	p.cells(cols, texts, false)
}

func (p *pdfDoc) height(cols []column, texts []string) float64 {
	n := 1
	for i, c := range cols {
		n = max(n, len(p.pdf.SplitText(p.tr(texts[i]), c.width-2)))
	}
	return float64(n)*lineH + 1
}

// cells draws the cells of one row, each text wrapped to its column.
func (p *pdfDoc) cells(cols []column, texts []string, fill bool) {
	pdf := p.pdf
	h := p.height(cols, texts)
	x, y := marginX, pdf.GetY()
	for i, c := range cols {
		style := "D"
		if fill {
			style = "FD"
		}
		pdf.Rect(x, y, c.width, h, style)
		align := "L"
		if c.right && !fill {
			align = "R"
		}
		for j, line := range pdf.SplitText(p.tr(texts[i]), c.width-2) {
			pdf.SetXY(x+1, y+0.5+float64(j)*lineH)
			pdf.CellFormat(c.width-2, lineH, line, "", 0, align, false, 0, "")
		}
		x += c.width
	}
	pdf.SetXY(marginX, y+h)
}

// charts draws one bar chart per category with rows: authorised and actual
// items per partner state, exports and imports.
func (p *pdfDoc) charts(r *Report) error {
	n := 0
	for ci, c := range Categories {
		type bar struct {
			label              string
			authorised, actual float64
		}
		var bars []bar
		index := map[string]int{}
		add := func(label string, row Row) {
			i, ok := index[label]
			if !ok {
				i = len(bars)
				index[label] = i
				bars = append(bars, bar{label: label})
			}
			bars[i].authorised += float64(row.Authorised)
			bars[i].actual += float64(row.Actual)
		}
		for _, row := range r.Exports {
			if row.Category == c.Code {
				add("to "+row.State, row)
			}
		}
		for _, row := range r.Imports {
			if row.Category == c.Code {
				add("from "+row.State, row)
			}
		}
		if len(bars) == 0 {
			continue
		}
		labels := make([]string, len(bars))
		auth := make(plotter.Values, len(bars))
		act := make(plotter.Values, len(bars))
		for i, b := range bars {
			labels[i], auth[i], act[i] = b.label, b.authorised, b.actual
		}
		title := fmt.Sprintf("%s, %d: items per partner state", c.Title, r.Year)
		// fpdf writes images in the order of their pixel widths alone, the
		// rest in map order: one more pixel per category keeps the bytes
		// of the file the same from run to run.
		png, err := barChart(title, labels, auth, act, ci)
		if err != nil {
			return err
		}
		if n%2 == 0 {
			p.heading(fmt.Sprintf("Charts %d", r.Year))
		}
		name := "chart-" + c.Code
		p.pdf.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(png))
		x := marginX + float64(n%2)*140
		p.pdf.SetFont("Helvetica", "B", 9)
		p.pdf.SetXY(x, 24)
		p.pdf.CellFormat(135, 5, p.tr("Chart: "+title), "", 0, "L", false, 0, "")
		p.pdf.ImageOptions(name, x, 31, 135, 0, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
		n++
	}
	return nil
}

// barChart renders authorised and actual items side by side per label.
// extra widens it by that many pixels (at the 96 dpi of vgimg).
func barChart(title string, labels []string, authorised, actual plotter.Values, extra int) ([]byte, error) {
	pl := plot.New()
	pl.Title.Text = title
	pl.Y.Label.Text = "items"
	pl.Y.Min = 0
	w := vg.Points(14)
	a, err := plotter.NewBarChart(authorised, w)
	if err != nil {
		return nil, fmt.Errorf("report chart: %w", err)
	}
	a.Color = color.RGBA{R: 46, G: 84, B: 140, A: 255}
	a.Offset = -w / 2
	b, err := plotter.NewBarChart(actual, w)
	if err != nil {
		return nil, fmt.Errorf("report chart: %w", err)
	}
	b.Color = color.RGBA{R: 214, G: 120, B: 40, A: 255}
	b.Offset = w / 2
	pl.Add(a, b)
	pl.Legend.Add("authorised", a)
	pl.Legend.Add("actual", b)
	pl.Legend.Top = true
	pl.NominalX(labels...)
	wt, err := pl.WriterTo(6*vg.Inch+vg.Length(extra)*vg.Inch/96, 4*vg.Inch, "png")
	if err != nil {
		return nil, fmt.Errorf("report chart: %w", err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("report chart: %w", err)
	}
	return buf.Bytes(), nil
}

func lower(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]|0x20) + s[1:]
}
