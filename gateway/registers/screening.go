package registers

import (
	"slices"

	"github.com/ura-gateway/ura/gateway/records"
)

// The keyed registers the screening of a pushed licence reads
// (gateway/ARCHITECTURE.md, "Denials and consultations", "Name
// matching"): denials by destination and ML category, consultations by
// the denial they concern, excluded entities by the start of their words.

// DeniedParty is the end user or consignee of a denial.
type DeniedParty struct {
	Name    string `json:"name"`
	Country string `json:"country"`
}

// Denial is what the denials register holds of a denial, under one key
// "<destination>|<ML category>" per category it denies (one entry per key).
type Denial struct {
	RecordID     string       `json:"record_id"`
	Originator   string       `json:"originator"`
	DenyingState string       `json:"denying_state"`
	Reference    string       `json:"reference,omitempty"`
	Date         string       `json:"date"`
	Expires      string       `json:"expires,omitempty"`
	Status       string       `json:"status"`
	Criteria     []int64      `json:"criteria"`
	Destination  string       `json:"destination"`
	MLCategory   string       `json:"ml_category"`
	EndUser      *DeniedParty `json:"end_user,omitempty"`
	Consignee    *DeniedParty `json:"consignee,omitempty"`
}

// Excluded is what the register of excluded entities holds of an entry
// for screening by a similar name.
type Excluded struct {
	RecordID string `json:"record_id"`
	EntityID string `json:"entity_id,omitempty"`
	Name     string `json:"name"`
	Country  string `json:"country,omitempty"`
	From     string `json:"from"`
	Until    string `json:"until,omitempty"`
}

// Consultation is what the consultations register holds of a
// consultation, under the record id of the denial it concerns.
type Consultation struct {
	RecordID   string `json:"record_id"`
	Originator string `json:"originator"`
	Outcome    string `json:"outcome"`
}

// The screening registers' names under input.registers.
const (
	RegisterDenials       = "denials"
	RegisterConsultations = "consultations"
	RegisterExcludedNames = "excluded_names"
)

// consultationFollow: the consultations a licence's decision reads are
// those of the denials its first read found (under its lookups).
func consultationFollow(rec *records.Record, snap *Snapshot) []string {
	var out []string
	for _, key := range snap.denialKeys(rec) {
		for id := range snap.KeyedEntries(RegisterDenials, key) {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return out
}

// denialEntries puts a denial on the denials register, once per ML
// category it denies, under "<destination>|<category>". Every version is
// put there, revoked ones too: the policy says why a revoked or expired
// denial no longer matches.
func denialEntries(rec *records.Record) []KeyedEntry {
	body := bodyOf(rec, records.KindDenial)
	if body == nil {
		return nil
	}
	d := Denial{RecordID: rec.ID, Originator: rec.Label.Originator, DenyingState: str(body["denying_state"]),
		Reference: str(body["reference"]), Date: str(body["date"]), Expires: str(body["expires"]), Status: str(body["status"]),
		Destination: str(body["destination"]), EndUser: deniedParty(body["end_user"]), Consignee: deniedParty(body["consignee"])}
	crit, _ := body["criteria"].([]any)
	for _, c := range crit {
		d.Criteria = append(d.Criteria, quantity(c, 0))
	}
	var out []KeyedEntry
	goods, _ := body["goods"].([]any)
	seen := map[string]bool{}
	for _, g := range goods {
		m, _ := g.(map[string]any)
		cat := str(m["ml_category"])
		if cat == "" || d.Destination == "" || seen[cat] {
			continue
		}
		seen[cat] = true
		e := d
		e.MLCategory = cat
		out = append(out, KeyedEntry{Key: DenialKey(d.Destination, cat), Value: e})
	}
	return out
}

// DenialKey is the denials register's key.
func DenialKey(destination, category string) string { return destination + "|" + category }

func deniedParty(v any) *DeniedParty {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	return &DeniedParty{Name: str(m["name"]), Country: str(m["country"])}
}

// denialLookups are the keys a licence's decision reads: its destination
// with each of its items' categories.
func denialLookups(rec *records.Record) []string {
	body := bodyOf(rec, records.KindLicence)
	if body == nil {
		return nil
	}
	dest := str(body["destination"])
	if dest == "" {
		return nil
	}
	var out []string
	items, _ := body["items"].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		if cat := str(m["ml_category"]); cat != "" {
			if key := DenialKey(dest, cat); !slices.Contains(out, key) {
				out = append(out, key)
			}
		}
	}
	return out
}

// consultationEntries puts a consultation under the denial it concerns.
func consultationEntries(rec *records.Record) []KeyedEntry {
	body := bodyOf(rec, records.KindConsultation)
	if body == nil || str(body["denial_id"]) == "" {
		return nil
	}
	return []KeyedEntry{{Key: str(body["denial_id"]), Value: Consultation{RecordID: rec.ID,
		Originator: rec.Label.Originator, Outcome: str(body["outcome"])}}}
}

// excludedNameEntries lists an excluded entity under BlockKeys of its
// name.
func excludedNameEntries(rec *records.Record) []KeyedEntry {
	body := bodyOf(rec, records.KindExcludedEntity)
	if body == nil {
		return nil
	}
	x := Excluded{RecordID: rec.ID, EntityID: str(body["entity_id"]), Name: str(body["name"]), Country: str(body["country"]),
		From: str(body["excluded_from"]), Until: str(body["excluded_until"])}
	var out []KeyedEntry
	for _, k := range BlockKeys(x.Name) {
		out = append(out, KeyedEntry{Key: k, Value: x})
	}
	return out
}

// screenedRoles are the parties of a licence whose names the screening
// step scores (holder, end user, consignee).
var screenedRoles = [3]string{"holder", "end_user", "consignee"}

// screenedNamesOf are the names of a licence's screenedRoles, in their
// order: the first n of an array, a key of a map and no allocation.
func screenedNamesOf(rec *records.Record) (names [3]string, n int) {
	body := bodyOf(rec, records.KindLicence)
	if body == nil {
		return names, 0
	}
	for _, role := range screenedRoles {
		if m, ok := body[role].(map[string]any); ok {
			if name := str(m["name"]); name != "" {
				names[n] = name
				n++
			}
		}
	}
	return names, n
}

// excludedNameLookups are BlockKeys of every party of a licence.
func excludedNameLookups(rec *records.Record) []string {
	return excludedNameLookupsIn(rec, nil)
}

// excludedNameLookupsIn is excludedNameLookups with what it derives kept
// in seen (nil: none kept) for the batch's other records: the licences of
// one push mostly name the same holder and end user, so the block keys of
// each name are derived once, and the merged keys of each list of names
// too (the records naming the same parties then share one list, read and
// never appended to: it is clipped, so an append would copy it).
func excludedNameLookupsIn(rec *records.Record, seen *blockKeyMemo) []string {
	names, n := screenedNamesOf(rec)
	if n == 0 {
		return nil
	}
	if seen != nil {
		if out, ok := seen.merged[names]; ok {
			return out
		}
	}
	out := make([]string, 0, 8) // a few words for each of three names
	for _, name := range names[:n] {
		var keys []string
		if seen != nil {
			var ok bool
			if keys, ok = seen.byName[name]; !ok {
				keys = BlockKeys(name)
				seen.byName[name] = keys
			}
		} else {
			keys = BlockKeys(name)
		}
		for _, k := range keys {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	if len(out) == 0 {
		out = nil
	}
	out = slices.Clip(out)
	if seen != nil {
		seen.merged[names] = out
	}
	return out
}

// blockKeyMemo is what excludedNameLookupsIn derives for the records of
// one batch: BlockKeys by name, and the merged keys by list of names.
type blockKeyMemo struct {
	byName map[string][]string
	merged map[[3]string][]string
}

func newBlockKeyMemo() *blockKeyMemo {
	return &blockKeyMemo{byName: map[string][]string{}, merged: map[[3]string][]string{}}
}
