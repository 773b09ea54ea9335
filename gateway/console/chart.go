package console

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
)

// The chart is drawn here rather than in the browser: the numbers are the
// ones the summary returned, the page needs no script to show them, and the
// same page prints and archives as it looks.

// series are the decisions stacked in each bar, bottom first.
var series = []struct{ Decision, Label string }{
	{audit.DecisionAllow, "allow"},
	{audit.DecisionRedact, "redact"},
	{audit.DecisionWithhold, "withhold"},
	{audit.DecisionDeny, "deny"},
	{audit.DecisionError, "error"},
}

// Geometry of the decisions chart, in SVG user units.
const (
	chartW     = 760
	chartH     = 260
	plotLeft   = 52
	plotRight  = 12
	plotTop    = 14
	plotBottom = 34
	maxXLabels = 8
)

type chart struct {
	Width, Height float64
	PlotX, PlotY  float64
	PlotW, PlotH  float64
	Bars          []bar
	YTicks        []tick
	XLabels       []tick
	Legend        []legendItem
	Empty         bool
	// Desc describes the chart for screen readers.
	Desc string
}

type bar struct {
	Segs  []seg
	Title string
	// Hit is the full-height invisible target that carries the tooltip, so
	// that an empty or short bar still shows its bucket's counts.
	Hit seg
}

type seg struct {
	X, Y, W, H float64
	Class      string
}

type tick struct {
	X, Y  float64
	Label string
}

type legendItem struct {
	Class, Label string
	Total        int64
}

// decisionChart stacks the decisions of each bucket from from to to; the
// summary lists only buckets with events, the chart shows every bucket.
func decisionChart(sum *audit.Summary, from, to time.Time, sp span) chart {
	n := max(int(to.Sub(from)/sp.Bucket), 1)
	byStart := make(map[int64]map[string]int64, len(sum.Buckets))
	for _, b := range sum.Buckets {
		byStart[b.Start.Unix()] = b.ByDecision
	}
	ch := chart{Width: chartW, Height: chartH, PlotX: plotLeft, PlotY: plotTop,
		PlotW: chartW - plotLeft - plotRight, PlotH: chartH - plotTop - plotBottom}

	var peak int64
	counts := make([]map[string]int64, n)
	totals := map[string]int64{}
	for i := range counts {
		start := from.Add(time.Duration(i) * sp.Bucket)
		counts[i] = byStart[start.Unix()]
		var sum int64
		for _, s := range series {
			sum += counts[i][s.Decision]
			totals[s.Decision] += counts[i][s.Decision]
		}
		peak = max(peak, sum)
	}
	ch.Empty = peak == 0
	step := niceStep(float64(max(peak, 4)) / 4)
	top := step * math.Ceil(float64(max(peak, 1))/step)
	for v := 0.0; v <= top+step/2; v += step {
		ch.YTicks = append(ch.YTicks, tick{X: ch.PlotX - 8, Y: ch.PlotY + ch.PlotH - v/top*ch.PlotH, Label: strconv.FormatInt(int64(v), 10)})
	}

	slot := ch.PlotW / float64(n)
	width := math.Max(slot*0.72, 1)
	for i, c := range counts {
		start := from.Add(time.Duration(i) * sp.Bucket)
		x := ch.PlotX + float64(i)*slot + (slot-width)/2
		y := ch.PlotY + ch.PlotH
		b := bar{Title: barTitle(start, sp.Bucket, c), Hit: seg{X: ch.PlotX + float64(i)*slot, Y: ch.PlotY, W: slot, H: ch.PlotH, Class: "hit"}}
		for _, s := range series {
			v := c[s.Decision]
			if v == 0 {
				continue
			}
			h := float64(v) / top * ch.PlotH
			y -= h
			b.Segs = append(b.Segs, seg{X: x, Y: y, W: width, H: h, Class: s.Label})
		}
		ch.Bars = append(ch.Bars, b)
	}

	every := (n + maxXLabels - 1) / maxXLabels
	layout := "15:04"
	switch {
	case sp.Width > 7*24*time.Hour:
		layout = "02 Jan"
	case sp.Width > 24*time.Hour:
		layout = "02 Jan 15:04"
	}
	for i := 0; i < n; i += every {
		start := from.Add(time.Duration(i) * sp.Bucket)
		ch.XLabels = append(ch.XLabels, tick{X: ch.PlotX + (float64(i)+0.5)*slot, Y: ch.PlotY + ch.PlotH + 18, Label: start.UTC().Format(layout)})
	}

	parts := []string{}
	for _, s := range series {
		if s.Decision == audit.DecisionError && totals[s.Decision] == 0 {
			continue
		}
		ch.Legend = append(ch.Legend, legendItem{Class: s.Label, Label: s.Label, Total: totals[s.Decision]})
		parts = append(parts, fmt.Sprintf("%d %s", totals[s.Decision], s.Label))
	}
	ch.Desc = fmt.Sprintf("Audit events by decision in %d buckets of %s from %s to %s UTC: %s.",
		n, sp.Bucket, from.UTC().Format("2006-01-02 15:04"), to.UTC().Format("2006-01-02 15:04"), strings.Join(parts, ", "))
	return ch
}

func barTitle(start time.Time, bucket time.Duration, c map[string]int64) string {
	var b strings.Builder
	b.WriteString(start.UTC().Format("2006-01-02 15:04"))
	b.WriteString("–")
	b.WriteString(start.Add(bucket).UTC().Format("15:04"))
	b.WriteString(" UTC")
	some := false
	for _, s := range series {
		if v := c[s.Decision]; v > 0 {
			fmt.Fprintf(&b, " · %s %d", s.Label, v)
			some = true
		}
	}
	if !some {
		b.WriteString(" · no events")
	}
	return b.String()
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten, so the axis reads
// 0, 5, 10, 15 rather than 0, 4.25, 8.5.
func niceStep(x float64) float64 {
	if x <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	switch f := x / p; {
	case f <= 1:
		return p
	case f <= 2:
		return 2 * p
	case f <= 5:
		return 5 * p
	default:
		return 10 * p
	}
}

// rankRow is one line of a ranked list with its bar.
type rankRow struct {
	Key   string
	Count int64
	// Pct is the bar's length relative to the first row.
	Pct  float64
	Href string
}

func ranked(counts []audit.Count, href func(string) string) []rankRow {
	out := make([]rankRow, len(counts))
	var peak int64 = 1
	for _, c := range counts {
		peak = max(peak, c.Count)
	}
	for i, c := range counts {
		out[i] = rankRow{Key: c.Key, Count: c.Count, Pct: math.Max(float64(c.Count)/float64(peak)*100, 1), Href: href(c.Key)}
	}
	return out
}
