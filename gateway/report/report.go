// Package report builds the Arms Trade Treaty annual report (ATT art.
// 13(3)) from the stored register: exports and imports of the categories
// of art. 2(1), authorised (licences issued in the year) and actual (exits
// and imports in the year), by partner state, and a regional table of
// exports by destination. It renders the report as JSON, CSV, text and
// PDF, and digests and signs it (gateway/ARCHITECTURE.md, Reports).
package report

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/ura-gateway/ura/gateway/records"
)

// Report is one year's ATT annual report. Its canonical JSON is what the
// digest covers and the signature vouches for; every rendering carries the
// same numbers.
type Report struct {
	Title          string `json:"title"`
	Basis          string `json:"basis"`
	ReportingState string `json:"reporting_state"`
	Year           int    `json:"year"`
	// Due is the date the report is due (31 May of the next year).
	Due string `json:"due"`
	// AsOf is the newest label.created of the records counted (the end of
	// the year when none is): the report's date, so that the same register
	// gives the same report, byte for byte, in every format.
	AsOf string `json:"as_of"`
	// Records is how many stored records the report counts.
	Records  int           `json:"records"`
	Exports  []Row         `json:"exports"`
	Imports  []Row         `json:"imports"`
	Regional []Destination `json:"regional"`
}

// Row is one line of the template's export or import table: one category
// (and SALW sub-category) to or from one partner state.
type Row struct {
	Category    string `json:"category"`
	Subcategory string `json:"subcategory,omitempty"`
	// State is the importing state of an export, the exporting state of an
	// import.
	State string `json:"state"`
	// Authorised is the number of items the licences issued in the year
	// allow; Actual the number that left (EXIT_CONFIRMED) or came in
	// (IMPORT_DECLARED) in the year.
	Authorised int64 `json:"authorised"`
	Actual     int64 `json:"actual"`
	// Value is the contract value of the licences counted as authorised,
	// by currency, where the licence records one and all its goods are on
	// this row.
	Value    []Money  `json:"value"`
	Licences []string `json:"licences"`
	Comments string   `json:"comments"`
}

// Money is a sum in one currency.
type Money struct {
	Amount   json.Number `json:"amount"`
	Currency string      `json:"currency"`
}

// Destination is one line of the regional table of exports (as SEESAC's
// regional reports publish them): every export licence issued in the year
// to that state, whatever its goods.
type Destination struct {
	State           string `json:"state"`
	SouthEastEurope bool   `json:"south_east_europe"`
	Licences        int    `json:"licences"`
	// Items counts goods licensed in pieces, units or sets; goods in
	// rounds, kilograms or tonnes are in the licence count only.
	Items        int64    `json:"items"`
	Value        []Money  `json:"value"`
	MLCategories []string `json:"ml_categories"`
}

// SouthEastEurope are the states SEESAC's regional reports on arms exports
// cover.
var SouthEastEurope = []string{"ALB", "BIH", "BGR", "HRV", "MDA", "MKD", "MNE", "ROU", "SRB", "XKX"}

// Source walks the stored records of one kind, the newest version of each.
type Source func(ctx context.Context, kind string, fn func(*records.Record) error) error

// Options says which report to build.
type Options struct {
	Year int
	// State is the reporting state (ISO 3166-1 alpha-3), the policy's own
	// nation.
	State string
	// Instance, when set, is the first segment of the reporting state's
	// member ids (the policy's own instance): only records its institutions
	// originated are counted, so a peer's licence relayed here (Italy's
	// export to Albania) is never reported as Albania's transfer.
	Instance string
}

// Years a report may be asked for: the ATT entered into force in 2014.
const (
	MinYear = 2014
	MaxYear = 2200
)

// Direction of a transfer, as seen from the reporting state.
const (
	Export = "export"
	Import = "import"
)

type rowKey struct{ dir, cat, sub, state string }

type builder struct {
	opts     Options
	rows     map[rowKey]*rowAcc
	dest     map[string]*destAcc
	licences map[string]*records.Record
	asOf     time.Time
	counted  int
}

type rowAcc struct {
	Row
	value    map[string]*big.Rat
	licences map[string]bool
	notes    map[string]bool
}

type destAcc struct {
	Destination
	value map[string]*big.Rat
	ml    map[string]bool
}

// Build reads the licences and tracking events of src and returns the
// report for opts.Year.
func Build(ctx context.Context, src Source, opts Options) (*Report, error) {
	if opts.Year < MinYear || opts.Year > MaxYear {
		return nil, fmt.Errorf("report: year %d outside %d–%d", opts.Year, MinYear, MaxYear)
	}
	b := &builder{opts: opts, rows: map[rowKey]*rowAcc{}, dest: map[string]*destAcc{}, licences: map[string]*records.Record{}}
	err := src(ctx, records.KindLicence, func(rec *records.Record) error {
		b.licences[rec.ID] = rec
		b.licence(rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: licences: %w", err)
	}
	err = src(ctx, records.KindTrackingEvent, func(rec *records.Record) error {
		b.event(rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: tracking events: %w", err)
	}
	return b.report(), nil
}

func (b *builder) count(rec *records.Record) {
	b.counted++
	if t := rec.Label.Created; t.After(b.asOf) {
		b.asOf = t
	}
}

// own reports whether rec was originated by the reporting state's
// institutions (always, when Options.Instance is not set).
func (b *builder) own(rec *records.Record) bool {
	return b.opts.Instance == "" || strings.HasPrefix(rec.Label.Originator, b.opts.Instance+"/")
}

// inYear reports whether a date or date-time string falls in the year.
func (b *builder) inYear(s string) bool {
	return len(s) >= 4 && s[:4] == fmt.Sprint(b.opts.Year) && (len(s) == 4 || s[4] == '-')
}

// licence counts an export or import licence issued in the year as
// authorised.
func (b *builder) licence(rec *records.Record) {
	if !b.own(rec) {
		return
	}
	body := rec.Body()
	typ, _ := body["type"].(string)
	if typ != Export && typ != Import {
		return
	}
	issued, _ := body["issue_date"].(string)
	if issued == "" {
		issued, _ = body["valid_from"].(string)
	}
	if !b.inYear(issued) {
		return
	}
	partner := str(body, "destination")
	if typ == Import {
		partner = str(body, "origin")
	}
	if partner == "" {
		partner = "not stated"
	}
	status := str(body, "status")
	value, _ := body["contract_value"].(map[string]any)
	items, _ := body["items"].([]any)

	keys := map[rowKey]bool{}
	var outside bool
	for _, it := range items {
		item, _ := it.(map[string]any)
		g := goodsOf(item)
		qty := quantity(item["quantity"])
		if typ == Export {
			b.destination(partner, rec.ID, g.ML, str(item, "unit"), qty)
		}
		cat, sub, ok := Classify(g)
		if !ok {
			outside = true
			continue
		}
		k := rowKey{typ, cat, sub, partner}
		keys[k] = true
		r := b.row(k)
		r.Authorised += qty
		r.licences[rec.ID] = true
		if d := describe(item); d != "" {
			r.notes[d] = true
		}
		if status != "issued" && status != "renewed" {
			r.notes[rec.ID+" "+status] = true
		}
	}
	if typ == Export && b.dest[partner] != nil {
		d := b.dest[partner]
		d.Licences++
		addMoney(d.value, value)
	}
	if typ == Export || len(keys) > 0 {
		b.count(rec)
	}
	if len(keys) == 0 {
		return
	}
	if len(keys) == 1 && !outside {
		for k := range keys {
			addMoney(b.rows[k].value, value)
		}
		return
	}
	if value != nil {
		for k := range keys {
			b.rows[k].notes["value of "+rec.ID+" covers several categories, not shown"] = true
		}
	}
}

func (b *builder) destination(state, licence, ml, unit string, qty int64) {
	d := b.dest[state]
	if d == nil {
		d = &destAcc{Destination: Destination{State: state, SouthEastEurope: slices.Contains(SouthEastEurope, state)},
			value: map[string]*big.Rat{}, ml: map[string]bool{}}
		b.dest[state] = d
	}
	if ml != "" {
		d.ml[ml] = true
	}
	switch unit {
	case "pieces", "units", "sets", "":
		d.Items += qty
	}
}

// event counts an exit (EXIT_CONFIRMED) from the reporting state or an
// import (IMPORT_DECLARED) into it, in the year, as actual.
func (b *builder) event(rec *records.Record) {
	if !b.own(rec) {
		return
	}
	body := rec.Body()
	var dir, partner string
	switch body["type"] {
	case "EXIT_CONFIRMED":
		if from := str(body, "from"); from != "" && from != b.opts.State {
			return
		}
		dir, partner = Export, str(body, "to")
	case "IMPORT_DECLARED":
		if to := str(body, "to"); to != "" && to != b.opts.State {
			return
		}
		dir, partner = Import, str(body, "from")
	default:
		return
	}
	at, ok := rec.EventTime()
	if !ok || at.UTC().Year() != b.opts.Year {
		return
	}
	if partner == "" {
		partner = "not stated"
	}
	item, _ := body["item"].(map[string]any)
	cat, sub, ok := b.classifyEvent(item, str(body, "licence_id"))
	if !ok {
		return
	}
	qty := int64(1)
	if _, has := body["quantity"]; has {
		qty = quantity(body["quantity"])
	}
	r := b.row(rowKey{dir, cat, sub, partner})
	r.Actual += qty
	if d := describe(item); d != "" && len(r.licences) == 0 {
		r.notes[d] = true
	}
	b.count(rec)
}

// classifyEvent classifies an event's item; one that names no
// att_subcategory takes the classification of its licence's goods of the
// same ML category, when they all have one, since a customs event often
// names the item less fully than the licence does.
func (b *builder) classifyEvent(item map[string]any, licenceID string) (string, string, bool) {
	g := goodsOf(item)
	if g.Subcategory == "" {
		if lic := b.licences[licenceID]; lic != nil {
			items, _ := lic.Body()["items"].([]any)
			type class struct {
				cat, sub string
				ok       bool
			}
			var found []class
			for _, it := range items {
				li, _ := it.(map[string]any)
				lg := goodsOf(li)
				if lg.ML != g.ML {
					continue
				}
				c, s, ok := Classify(lg)
				if x := (class{c, s, ok}); !slices.Contains(found, x) {
					found = append(found, x)
				}
			}
			if len(found) == 1 {
				return found[0].cat, found[0].sub, found[0].ok
			}
		}
	}
	return Classify(g)
}

func (b *builder) row(k rowKey) *rowAcc {
	r := b.rows[k]
	if r == nil {
		r = &rowAcc{Row: Row{Category: k.cat, Subcategory: k.sub, State: k.state},
			value: map[string]*big.Rat{}, licences: map[string]bool{}, notes: map[string]bool{}}
		b.rows[k] = r
	}
	return r
}

func (b *builder) report() *Report {
	y := b.opts.Year
	asOf := b.asOf
	if asOf.IsZero() {
		asOf = time.Date(y, 12, 31, 23, 59, 59, 0, time.UTC)
	}
	r := &Report{
		Title:          "Annual report on exports and imports of conventional arms",
		Basis:          "Arms Trade Treaty, art. 13(3)",
		ReportingState: b.opts.State,
		Year:           y,
		Due:            fmt.Sprintf("%04d-05-31", y+1),
		AsOf:           asOf.UTC().Format(time.RFC3339),
		Records:        b.counted,
		Exports:        []Row{},
		Imports:        []Row{},
		Regional:       []Destination{},
	}
	for k, acc := range b.rows {
		row := acc.Row
		row.Value = moneyList(acc.value)
		row.Licences = sortedKeys(acc.licences)
		row.Comments = strings.Join(sortedKeys(acc.notes), "; ")
		if k.dir == Export {
			r.Exports = append(r.Exports, row)
		} else {
			r.Imports = append(r.Imports, row)
		}
	}
	order := func(a, b Row) int {
		return cmp.Or(cmp.Compare(categoryIndex(a.Category), categoryIndex(b.Category)),
			cmp.Compare(subcategoryIndex(a.Subcategory), subcategoryIndex(b.Subcategory)),
			cmp.Compare(a.State, b.State))
	}
	slices.SortFunc(r.Exports, order)
	slices.SortFunc(r.Imports, order)
	for _, d := range b.dest {
		if d.Licences == 0 {
			continue
		}
		dest := d.Destination
		dest.Value = moneyList(d.value)
		dest.MLCategories = sortedKeys(d.ml)
		slices.SortFunc(dest.MLCategories, func(a, b string) int {
			return cmp.Compare(mlNumber(a), mlNumber(b))
		})
		r.Regional = append(r.Regional, dest)
	}
	slices.SortFunc(r.Regional, func(a, b Destination) int { return cmp.Compare(a.State, b.State) })
	return r
}

func goodsOf(item map[string]any) Goods {
	return Goods{ML: str(item, "ml_category"), ATT: str(item, "att_category"), Subcategory: str(item, "att_subcategory"),
		Text: str(item, "description") + " " + str(item, "model")}
}

// describe is how a comment names goods: description (model).
func describe(item map[string]any) string {
	d, m := str(item, "description"), str(item, "model")
	switch {
	case d != "" && m != "":
		return d + " (" + m + ")"
	case d != "":
		return d
	}
	return m
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func quantity(v any) int64 {
	n, _ := v.(json.Number)
	q, _ := records.Int(n)
	return q
}

func addMoney(acc map[string]*big.Rat, value map[string]any) {
	if value == nil {
		return
	}
	cur, _ := value["currency"].(string)
	n, _ := value["amount"].(json.Number)
	amount, ok := new(big.Rat).SetString(string(n))
	if cur == "" || !ok {
		return
	}
	if acc[cur] == nil {
		acc[cur] = new(big.Rat)
	}
	acc[cur].Add(acc[cur], amount)
}

func moneyList(acc map[string]*big.Rat) []Money {
	out := []Money{}
	for _, cur := range sortedKeys(acc) {
		out = append(out, Money{Amount: json.Number(amountString(acc[cur])), Currency: cur})
	}
	return out
}

// amountString writes an amount with at most two decimals, none when it
// is whole.
func amountString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	return strings.TrimRight(strings.TrimRight(r.FloatString(2), "0"), ".")
}

// FormatMoney writes values as "295000 EUR; 1000 USD" ("" for none), the
// one way every rendering shows them.
func FormatMoney(values []Money) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = string(v.Amount) + " " + v.Currency
	}
	return strings.Join(parts, "; ")
}

func mlNumber(ml string) int {
	var n int
	_, _ = fmt.Sscanf(ml, "ML%d", &n)
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
