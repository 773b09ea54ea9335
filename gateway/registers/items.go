package registers

import (
	"github.com/ura-gateway/ura/gateway/records"
)

// The keyed registers of item states and customs declarations
// (gateway/ARCHITECTURE.md, "Item states" and "Deliveries"); policies/items.rego
// reads them.
const (
	// RegisterItems: every tracking event about a marked item, other than
	// a trace request or response, by the item's key (ItemKey).
	RegisterItems = "items"
	// RegisterDeclarations: export declarations, exit and delivery
	// confirmations, by customs declaration number.
	RegisterDeclarations = "declarations"
)

// ItemEvent is an item's entry: what happened and when.
type ItemEvent struct {
	Type string `json:"type"`
	// At is the event time in UTC with nine fraction digits (EventAt), so
	// that the policy compares times as strings.
	At string `json:"at"`
}

// Declared is an entry of the register of declarations.
type Declared struct {
	Type      string `json:"type"`
	Item      string `json:"item,omitempty"`
	LicenceID string `json:"licence_id,omitempty"`
	Category  string `json:"ml_category,omitempty"`
	Quantity  int64  `json:"quantity"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	At        string `json:"at"`
}

// EventAtLayout writes an event time so that strings sort as times.
const EventAtLayout = "2006-01-02T15:04:05.000000000Z"

// EventAt is rec's event time in EventAtLayout; "" if it has none.
func EventAt(rec *records.Record) string {
	t, ok := rec.EventTime()
	if !ok {
		return ""
	}
	return t.UTC().Format(EventAtLayout)
}

// ItemKey is an item's key: its marking as the trace route names it,
// "<country>|<manufacturer>|<serial>" (the year is not part of it, so that
// a year written wrongly never hides an item's loss or theft).
func ItemKey(rec *records.Record) (string, bool) {
	m, ok := rec.ItemMarking()
	if !ok {
		return "", false
	}
	return m.Country + "|" + m.Manufacturer + "|" + m.Serial, true
}

// itemEvent reports whether rec is an event in an item's life: a tracking
// event other than a trace request or response.
func itemEvent(rec *records.Record) (string, bool) {
	if rec.Kind != records.KindTrackingEvent {
		return "", false
	}
	switch t := str(rec.Body()["type"]); t {
	case "", "TRACE_REQUEST", "TRACE_RESPONSE":
		return "", false
	default:
		return t, true
	}
}

func itemEntries(rec *records.Record) []KeyedEntry {
	t, ok := itemEvent(rec)
	if !ok {
		return nil
	}
	key, ok := ItemKey(rec)
	if !ok {
		return nil
	}
	return []KeyedEntry{{Key: key, Value: ItemEvent{Type: t, At: EventAt(rec)}}}
}

func itemLookups(rec *records.Record) []string {
	if _, ok := itemEvent(rec); !ok {
		return nil
	}
	if key, ok := ItemKey(rec); ok {
		return []string{key}
	}
	return nil
}

func declarationEntries(rec *records.Record) []KeyedEntry {
	if rec.Kind != records.KindTrackingEvent {
		return nil
	}
	body := rec.Body()
	t := str(body["type"])
	num := str(body["customs_declaration"])
	if num == "" {
		return nil
	}
	switch t {
	case "EXPORT_DECLARED", "EXIT_CONFIRMED", "DELIVERY_CONFIRMED":
	default:
		return nil
	}
	item, _ := body["item"].(map[string]any)
	d := Declared{Type: t, LicenceID: str(body["licence_id"]), Category: str(item["ml_category"]),
		Quantity: quantity(body["quantity"], 1), From: str(body["from"]), To: str(body["to"]), At: EventAt(rec)}
	d.Item, _ = ItemKey(rec)
	return []KeyedEntry{{Key: num, Value: d}}
}

// An exit confirmation reads the declarations under its number; nothing
// else does (a delivery confirmation is not checked against them, so that
// it tells its sender nothing of them).
func declarationLookups(rec *records.Record) []string {
	body := bodyOf(rec, records.KindTrackingEvent)
	if str(body["type"]) != "EXIT_CONFIRMED" {
		return nil
	}
	if num := str(body["customs_declaration"]); num != "" {
		return []string{num}
	}
	return nil
}
