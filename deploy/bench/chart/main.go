// Command chart draws var/bench/results.json as a PNG: one small bar chart
// per scenario (columns) and measure (rows), the systems side by side.
// It lives in its own module so the plotting library stays out of the
// gateway's dependencies.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// results holds the fields of results.json the chart needs.
type results struct {
	Machine struct {
		CPUs     int    `json:"nproc"`
		CPUModel string `json:"cpu_model"`
		Date     string `json:"date"`
	} `json:"machine"`
	Config struct {
		Quick bool `json:"quick"`
	} `json:"config"`
	Systems []struct {
		Name string `json:"name"`
	} `json:"systems"`
	Cells []cell `json:"cells"`
}

type cell struct {
	System      string  `json:"system"`
	Scenario    string  `json:"scenario"`
	Mode        string  `json:"mode"`
	Concurrency int     `json:"concurrency"`
	RecordsPerS float64 `json:"records_per_s"`
	P99         float64 `json:"latency_p99_ms"`
	CPUPer1k    float64 `json:"cpu_s_per_1k_records"`
	CPUDeps1k   float64 `json:"cpu_with_deps_s_per_1k_records"`
}

type measure struct {
	title string
	value func(cell) float64
}

var measures = []measure{
	{"records/s (higher is better)", func(c cell) float64 { return c.RecordsPerS }},
	{"p99 latency, ms", func(c cell) float64 { return c.P99 }},
	{"CPU s per 1,000 records, incl. Redis+Vault", func(c cell) float64 { return c.CPUDeps1k }},
}

var scenarios = []string{"push1", "push100", "pull10k"}

var palette = []color.Color{
	color.RGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xff}, // floor
	color.RGBA{R: 0xd9, G: 0x82, B: 0x2b, A: 0xff}, // external OPA
	color.RGBA{R: 0x1f, G: 0x5f, B: 0xa8, A: 0xff}, // ura
	color.RGBA{R: 0x3a, G: 0x9a, B: 0x5b, A: 0xff},
}

func main() {
	in := flag.String("in", "var/bench/results.json", "results to draw")
	out := flag.String("out", "var/bench/results.png", "PNG to write")
	mode := flag.String("mode", "keepalive", "connection mode to draw (keepalive or fresh)")
	flag.Parse()
	if err := run(*in, *out, *mode); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func run(in, out, mode string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var r results
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if len(r.Cells) == 0 {
		return fmt.Errorf("%s: no cells to draw", in)
	}
	systems := make([]string, len(r.Systems))
	for i, s := range r.Systems {
		systems[i] = s.Name
	}
	const w, h = 15 * vg.Inch, 10 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	title := fmt.Sprintf("ura beside its baselines (log scales) — %s, highest concurrency per scenario — %d × %s, %s",
		mode, r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Date)
	if r.Config.Quick {
		title += " (quick smoke run)"
	}
	head, body := splitTop(dc, 0.5*vg.Inch)
	drawTitle(head, title)
	tiles := draw.Tiles{Rows: len(measures), Cols: len(scenarios), PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	grid := plots(r.Cells, systems, mode)
	canvases := plot.Align(grid, tiles, body)
	for i, row := range grid {
		for j, p := range row {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func splitTop(c draw.Canvas, h vg.Length) (top, rest draw.Canvas) {
	top, rest = c, c
	top.Min.Y = c.Max.Y - h
	rest.Max.Y = c.Max.Y - h
	return top, rest
}

func drawTitle(c draw.Canvas, s string) {
	sty := plot.New().Title.TextStyle
	sty.Font.Size = vg.Points(14)
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YCenter
	c.FillText(sty, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: (c.Min.Y + c.Max.Y) / 2}, s)
}

// plots builds one bar chart per measure and scenario.
func plots(cells []cell, systems []string, mode string) [][]*plot.Plot {
	out := make([][]*plot.Plot, len(measures))
	for i, m := range measures {
		out[i] = make([]*plot.Plot, len(scenarios))
		for j, sc := range scenarios {
			pick := headline(cells, sc, mode)
			p := plot.New()
			p.Title.Text = m.title
			if i == 0 {
				p.Title.Text = sc + "\n" + m.title
			}
			if len(pick) == 0 {
				p.Title.Text += " — not measured"
				p.HideAxes()
				out[i][j] = p
				continue
			}
			bw := vg.Points(40)
			var names []string
			top, bottom := 0.0, math.Inf(1)
			for k, sys := range systems {
				c, ok := pick[sys]
				if !ok {
					continue
				}
				bars, err := plotter.NewBarChart(plotter.Values{m.value(c)}, bw)
				if err != nil {
					continue
				}
				bars.Color = palette[k%len(palette)]
				bars.LineStyle.Width = 0
				off := vg.Length(float64(len(names))-float64(len(systems)-1)/2) * (bw + vg.Points(6))
				bars.Offset = off
				p.Add(bars)
				v := m.value(c)
				top = max(top, v)
				if v > 0 {
					bottom = min(bottom, v)
				}
				if lb, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: 0, Y: v}}, Labels: []string{short(v)}}); err == nil {
					lb.Offset = vg.Point{X: off - bw/2, Y: vg.Points(2)}
					lb.TextStyle[0].Font.Size = vg.Points(9)
					p.Add(lb)
				}
				p.Legend.Add(fmt.Sprintf("%s (c=%d)", sys, c.Concurrency), bars)
				names = append(names, sys)
			}
			// The floor is often orders of magnitude from the gateways: a
			// log axis keeps ura and external-OPA readable beside it.
			if top > 0 {
				p.Y.Scale = clampLog{}
				p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
				p.Y.Min = math.Pow(10, math.Floor(math.Log10(bottom)))
				// Headroom for the value labels and the legend.
				p.Y.Max = math.Pow(10, math.Ceil(math.Log10(top*3)))
			}
			p.NominalX("")
			p.Legend.Top = true
			p.Legend.TextStyle.Font.Size = vg.Points(8)
			p.Add(plotter.NewGrid())
			out[i][j] = p
		}
	}
	return out
}

// headline picks each system's cell at the highest concurrency of the mode.
func headline(cells []cell, sc, mode string) map[string]cell {
	maxC := 0
	for _, c := range cells {
		if c.Scenario == sc && c.Mode == mode && c.Concurrency > maxC {
			maxC = c.Concurrency
		}
	}
	pick := map[string]cell{}
	for _, c := range cells {
		if c.Scenario == sc && c.Mode == mode && c.Concurrency == maxC {
			pick[c.System] = c
		}
	}
	return pick
}

// short formats a bar's value compactly.
func short(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// clampLog is a log scale on which a bar's base (0) sits at the axis
// minimum instead of being undefined.
type clampLog struct{}

func (clampLog) Normalize(lo, hi, x float64) float64 {
	return plot.LogScale{}.Normalize(lo, hi, max(x, lo))
}
