// Package screening matches the parties a pushed licence names against
// denials notified by other states, the register of excluded entities and
// a consolidated sanctions list, with the fuzzy matcher of gateway/names,
// while the gateway builds the decision's input (gateway/ARCHITECTURE.md,
// "Name matching"). It decides nothing: the policy reads the candidates it
// finds in input.registers.screening, each with its score and the fields
// that matched, and decides on them. Matching runs here rather than in Rego
// because Rego has no such matcher, and the external OPA server of
// policy.mode http must be given the same input and decide the same.
package screening

import (
	"encoding/json"
	"math"
	"slices"
	"strings"

	"github.com/ura-gateway/ura/gateway/names"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
	"github.com/ura-gateway/ura/gateway/sanctions"
)

// Party is one party a licence names, as it is screened.
type Party struct {
	Role    string // holder, end_user, consignee
	Name    string
	Country string
	// EntityID is the party's registration number, where the licence gives
	// one (the holder's NIPT).
	EntityID string
}

// Roles of the parties screened, in the order they are screened.
var partyRoles = []string{"holder", "end_user", "consignee"}

// PartiesOf lists the named parties of a licence (nil for any other
// record).
func PartiesOf(rec *records.Record) []Party {
	if rec == nil || rec.Kind != records.KindLicence {
		return nil
	}
	body := rec.Body()
	var out []Party
	for _, role := range partyRoles {
		m, ok := body[role].(map[string]any)
		if !ok {
			continue
		}
		p := Party{Role: role, Name: str(m["name"]), Country: str(m["country"]), EntityID: str(m["entity_id"])}
		if p.Name != "" {
			out = append(out, p)
		}
	}
	return out
}

// DenialMatch is a denial whose end user or consignee matched a party of
// the licence.
type DenialMatch struct {
	Denial      string   `json:"denial"`
	Key         string   `json:"key"`
	Party       string   `json:"party"`
	DeniedParty string   `json:"denied_party"`
	Name        string   `json:"name"`
	MatchedName string   `json:"matched_name"`
	Score       float64  `json:"score"`
	Fields      []string `json:"fields"`
}

// ExcludedMatch is an excluded entity whose name matched a party.
type ExcludedMatch struct {
	RecordID    string   `json:"record_id"`
	EntityID    string   `json:"entity_id,omitempty"`
	Party       string   `json:"party"`
	Name        string   `json:"name"`
	MatchedName string   `json:"matched_name"`
	Score       float64  `json:"score"`
	Fields      []string `json:"fields"`
	From        string   `json:"from"`
	Until       string   `json:"until,omitempty"`
}

// SanctionsMatch is a listing whose name or alias matched a party.
type SanctionsMatch struct {
	DataID      string   `json:"dataid"`
	Reference   string   `json:"reference,omitempty"`
	ListedOn    string   `json:"listed_on,omitempty"`
	Party       string   `json:"party"`
	Name        string   `json:"name"`
	MatchedName string   `json:"matched_name"`
	Score       float64  `json:"score"`
	Fields      []string `json:"fields"`
}

// Result is input.registers.screening.
type Result struct {
	Denials   []DenialMatch    `json:"denials"`
	Excluded  []ExcludedMatch  `json:"excluded"`
	Sanctions []SanctionsMatch `json:"sanctions"`
}

// Empty reports whether nothing matched.
func (r Result) Empty() bool {
	return len(r.Denials)+len(r.Excluded)+len(r.Sanctions) == 0
}

// Doc is the result as the policy reads it: lists of objects, never nil.
func (r Result) Doc() map[string]any {
	out := map[string]any{"denials": []any{}, "excluded": []any{}, "sanctions": []any{}}
	for _, m := range r.Denials {
		out["denials"] = append(out["denials"].([]any), map[string]any{
			"denial": m.Denial, "key": m.Key, "party": m.Party, "denied_party": m.DeniedParty,
			"name": m.Name, "matched_name": m.MatchedName, "score": m.Score, "fields": strs(m.Fields)})
	}
	for _, m := range r.Excluded {
		v := map[string]any{"record_id": m.RecordID, "party": m.Party, "name": m.Name, "matched_name": m.MatchedName,
			"score": m.Score, "fields": strs(m.Fields), "from": m.From}
		if m.Until != "" {
			v["until"] = m.Until
		}
		if m.EntityID != "" {
			v["entity_id"] = m.EntityID
		}
		out["excluded"] = append(out["excluded"].([]any), v)
	}
	for _, m := range r.Sanctions {
		v := map[string]any{"dataid": m.DataID, "party": m.Party, "name": m.Name, "matched_name": m.MatchedName,
			"score": m.Score, "fields": strs(m.Fields)}
		if m.Reference != "" {
			v["reference"] = m.Reference
		}
		if m.ListedOn != "" {
			v["listed_on"] = m.ListedOn
		}
		out["sanctions"] = append(out["sanctions"].([]any), v)
	}
	return out
}

func strs(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Candidates is what a decision's register read found to screen against.
type Candidates struct {
	// Denials by register key, each by record id.
	Denials map[string]map[string]registers.Denial
	// Excluded by record id.
	Excluded map[string]registers.Excluded
	// Sanctions is the list loaded now (nil: none configured).
	Sanctions *sanctions.Sanctions
}

// Licence screens the parties of a licence against the candidates.
// Denials are matched on their end user and consignee, each against the
// licence's end user and consignee; the register of excluded entities and
// the sanctions list against every party, holder included.
func Licence(rec *records.Record, c Candidates) Result {
	var r Result
	parties := PartiesOf(rec)
	if len(parties) == 0 {
		return r
	}
	for _, key := range sortedKeys(c.Denials) {
		list := c.Denials[key]
		for _, id := range sortedKeys(list) {
			d := list[id]
			for _, p := range parties {
				if p.Role == "holder" {
					continue
				}
				for _, dp := range []struct {
					role  string
					party *registers.DeniedParty
				}{{"end_user", d.EndUser}, {"consignee", d.Consignee}} {
					if dp.party == nil || dp.party.Name == "" {
						continue
					}
					m := names.Match(p.Name, dp.party.Name)
					if m.Score < names.Threshold {
						continue
					}
					r.Denials = append(r.Denials, DenialMatch{Denial: id, Key: key, Party: p.Role, DeniedParty: dp.role,
						Name: p.Name, MatchedName: dp.party.Name, Score: round(m.Score), Fields: fields(p.Country, dp.party.Country)})
				}
			}
		}
	}
	if len(c.Excluded) > 0 {
		ids := sortedKeys(c.Excluded)
		entries := make([]names.Entry, len(ids))
		for i, id := range ids {
			x := c.Excluded[id]
			entries[i] = names.Entry{ID: id, Name: x.Name, Country: x.Country}
		}
		ix := names.NewIndex(entries)
		for _, p := range parties {
			for _, cand := range ix.Screen(p.Name, p.Country, names.Threshold) {
				x := c.Excluded[cand.Entry.ID]
				r.Excluded = append(r.Excluded, ExcludedMatch{RecordID: x.RecordID, EntityID: x.EntityID, Party: p.Role,
					Name: p.Name, MatchedName: cand.Name, Score: round(cand.Score), Fields: fields(p.Country, x.Country),
					From: x.From, Until: x.Until})
			}
		}
	}
	if s := c.Sanctions; s != nil {
		for _, p := range parties {
			for _, h := range s.Screen(p.Name, p.Country, names.Threshold) {
				f := []string{"name"}
				if h.Country {
					f = append(f, "country")
				}
				l := h.Listing
				r.Sanctions = append(r.Sanctions, SanctionsMatch{DataID: l.DataID, Reference: l.Reference, ListedOn: l.ListedOn,
					Party: p.Role, Name: p.Name, MatchedName: h.Name, Score: round(h.Score), Fields: f})
			}
		}
	}
	return r
}

// fields says what matched besides the name: the country, when both sides
// give one and they agree.
func fields(a, b string) []string {
	if a != "" && strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b)) {
		return []string{"name", "country"}
	}
	return []string{"name"}
}

// round keeps three decimals: what a reason quotes, and a number that
// reads the same in every policy engine.
func round(f float64) float64 { return math.Round(f*1000) / 1000 }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// CandidatesOf reads what one decision's register read holds to screen
// against: the denials and excluded entities of the screening registers
// (an entry that does not decode is left out, as the policy could not read
// it either), and the sanctions list s.
func CandidatesOf(regs *registers.Snapshot, s *sanctions.Sanctions) Candidates {
	c := Candidates{Denials: map[string]map[string]registers.Denial{}, Excluded: map[string]registers.Excluded{}, Sanctions: s}
	for key, list := range regs.Keyed[registers.RegisterDenials] {
		for id, v := range list {
			var d registers.Denial
			if json.Unmarshal(v.Value, &d) != nil {
				continue
			}
			if c.Denials[key] == nil {
				c.Denials[key] = map[string]registers.Denial{}
			}
			c.Denials[key][id] = d
		}
	}
	for _, list := range regs.Keyed[registers.RegisterExcludedNames] {
		for id, v := range list {
			var x registers.Excluded
			if json.Unmarshal(v.Value, &x) == nil {
				c.Excluded[id] = x
			}
		}
	}
	return c
}
