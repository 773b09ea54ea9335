// Package registers derives, from the records a gateway stores, what the
// policy reads of its registers: licences, entities, excluded entities and
// the quantities exported under each licence. The store keeps these as
// indexes written in the same transaction as the record (adapters/store),
// both backends deriving them with Of; a push reads the entries its batch
// refers to in one read (Refs, Snapshot) and decides each record against
// them and the records allowed before it in the batch (Overlay).
package registers

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ura-gateway/ura/gateway/records"
)

// NormaliseName is how names of excluded entities are compared: the Rego
// policy's normalise(), lower case, every run of characters other than
// letters and digits (regexp `[^\p{L}\p{N}]+`) one space, trimmed. Both
// sides must agree exactly, or a name on the register would not match. It
// runs for every party of every pushed record, so it is one pass over the
// runes rather than a regular expression (a test holds it to the
// expression).
func NormaliseName(name string) string {
	if n, ok := normaliseNameASCII(name); ok {
		return n
	}
	return normaliseNameRunes(name)
}

func normaliseNameRunes(name string) string {
	lower := strings.ToLower(name)
	var b strings.Builder
	b.Grow(len(lower))
	gap := false // a separator run is pending, to be written before the next letter
	for _, r := range lower {
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) {
			gap = b.Len() > 0 // a leading run is trimmed
			continue
		}
		if gap {
			b.WriteByte(' ')
			gap = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// normaliseNameASCII is NormaliseName of a name written in ASCII alone,
// most of them: there the letters are a-z and A-Z, the digits 0-9, and
// lower case changes nothing but A-Z (TestNormaliseNameIsTheExpression and
// FuzzNormaliseName hold it to the expression too).
func normaliseNameASCII(name string) (string, bool) {
	b := make([]byte, 0, len(name))
	gap := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= utf8.RuneSelf:
			return "", false
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		default:
			gap = len(b) > 0
			continue
		}
		if gap {
			b = append(b, ' ')
			gap = false
		}
		b = append(b, c)
	}
	return string(b), true
}

// Holder is a licence's holder as the policy compares it with the register
// of excluded entities.
type Holder struct {
	EntityID string `json:"entity_id"`
	Name     string `json:"name"`
}

// Licence is what a decision on an export declaration reads of a licence.
type Licence struct {
	ID      string `json:"-"`
	Version int    `json:"-"`
	// Originator issued the licence: the policy licenses an export only
	// under one of its own instance's licences, not a peer's relayed here.
	Originator  string  `json:"originator"`
	Type        string  `json:"type"`
	Status      string  `json:"status"`
	ValidFrom   string  `json:"valid_from"`
	ValidUntil  string  `json:"valid_until"`
	Destination string  `json:"destination"`
	Holder      *Holder `json:"holder,omitempty"`
	// Items is the licensed quantity per ML category.
	Items map[string]int64 `json:"items"`
}

// Entity is one entry of the register of entities, by its entity id.
type Entity struct {
	RecordID string `json:"record_id"`
	Version  int    `json:"-"`
	EntityID string `json:"-"`
	Name     string `json:"name"`
	Status   string `json:"status"`
}

// Exclusion is one entry of the register of excluded entities, listed under
// its entity id and under its normalised name.
type Exclusion struct {
	RecordID string `json:"record_id"`
	Version  int    `json:"-"`
	EntityID string `json:"-"`
	Name     string `json:"-"` // normalised
	From     string `json:"from"`
	Until    string `json:"until,omitempty"`
}

// Export is what one export declaration counts against its licence.
type Export struct {
	RecordID string
	Version  int
	Licence  string
	Category string
	Quantity int64
}

// Entries is what one record puts on the registers. A newer version of a
// record replaces what its older version put there.
type Entries struct {
	Licence   *Licence   // a licence
	Entity    *Entity    // an entity with an entity id (without one, nothing changes)
	Exclusion *Exclusion // an excluded entity
	// Event says the record is a tracking event: what an older version
	// counted is dropped, and Export (nil unless it declares an export)
	// counted instead.
	Event  bool
	Export *Export
}

// Of derives a record's entries. It is the one derivation every store and
// the per-batch overlay use, so they cannot disagree.
func Of(rec *records.Record) Entries {
	if rec == nil {
		return Entries{}
	}
	body := rec.Body()
	if body == nil {
		return Entries{}
	}
	switch rec.Kind {
	case records.KindLicence:
		return Entries{Licence: licenceOf(rec, body)}
	case records.KindEntity:
		e := &Entity{RecordID: rec.ID, Version: rec.Version, EntityID: str(body["entity_id"]),
			Name: str(body["name"]), Status: str(body["status"])}
		if e.EntityID == "" {
			return Entries{}
		}
		return Entries{Entity: e}
	case records.KindExcludedEntity:
		return Entries{Exclusion: &Exclusion{RecordID: rec.ID, Version: rec.Version, EntityID: str(body["entity_id"]),
			Name: NormaliseName(str(body["name"])), From: str(body["excluded_from"]), Until: str(body["excluded_until"])}}
	case records.KindTrackingEvent:
		x, ok := ExportOf(rec)
		if !ok {
			return Entries{Event: true}
		}
		return Entries{Event: true, Export: &x}
	}
	return Entries{}
}

func licenceOf(rec *records.Record, body map[string]any) *Licence {
	l := &Licence{
		ID:          rec.ID,
		Version:     rec.Version,
		Originator:  rec.Label.Originator,
		Type:        str(body["type"]),
		Status:      str(body["status"]),
		ValidFrom:   str(body["valid_from"]),
		ValidUntil:  str(body["valid_until"]),
		Destination: str(body["destination"]),
		Items:       map[string]int64{},
	}
	list, _ := body["items"].([]any)
	for _, it := range list {
		m, _ := it.(map[string]any)
		cat, _ := m["ml_category"].(string)
		if cat == "" {
			continue
		}
		l.Items[cat] += quantity(m["quantity"], 0)
	}
	if h, ok := body["holder"].(map[string]any); ok {
		l.Holder = &Holder{EntityID: str(h["entity_id"]), Name: str(h["name"])}
	}
	return l
}

// ExportOf reads what an export declaration counts against its licence; ok
// is false for any other record.
func ExportOf(rec *records.Record) (Export, bool) {
	body := bodyOf(rec, records.KindTrackingEvent)
	if str(body["type"]) != "EXPORT_DECLARED" {
		return Export{}, false
	}
	item, _ := body["item"].(map[string]any)
	x := Export{RecordID: rec.ID, Version: rec.Version, Licence: str(body["licence_id"]),
		Category: str(item["ml_category"]), Quantity: quantity(body["quantity"], 1)}
	return x, x.Licence != "" && x.Category != ""
}

// Party is an entity a record names, as the policy checks it against the
// register of excluded entities.
type Party struct {
	EntityID string
	Name     string // as written
}

// PartiesOf lists the parties a record names that the policy checks: a
// licence's holder, end user and broker, an end-user certificate's end
// user, a tracking event's broker.
func PartiesOf(rec *records.Record) []Party {
	body := rec.Body()
	var keys []string
	switch rec.Kind {
	case records.KindLicence:
		keys = licenceParties
	case records.KindEndUserCertificate:
		keys = endUserParties
	case records.KindTrackingEvent:
		keys = brokerParties
	}
	var out []Party
	for _, k := range keys {
		if m, ok := body[k].(map[string]any); ok {
			if out == nil {
				out = make([]Party, 0, len(keys))
			}
			out = append(out, Party{EntityID: str(m["entity_id"]), Name: str(m["name"])})
		}
	}
	return out
}

// The fields naming the parties PartiesOf lists, by kind of record.
var (
	licenceParties = []string{"holder", "end_user", "broker"}
	endUserParties = []string{"end_user"}
	brokerParties  = []string{"broker"}
)

func str(v any) string {
	s, _ := v.(string)
	return s
}

// quantity reads a JSON quantity (json.Number from the decoder, or a Go
// number); anything else counts as def.
func quantity(v any, def int64) int64 {
	switch q := v.(type) {
	case json.Number:
		if n, err := q.Int64(); err == nil {
			return n
		}
		if f, err := q.Float64(); err == nil {
			return int64(f)
		}
	case int:
		return int64(q)
	case int64:
		return q
	case float64:
		return int64(q)
	case string:
		if n, err := strconv.ParseInt(q, 10, 64); err == nil {
			return n
		}
	}
	return def
}
