package registers

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"

	"github.com/ura-gateway/ura/gateway/records"
)

// Refs name the register entries a batch of records refers to, for one
// read from the store. A store answers with:
//   - each licence in Licences that it holds, and what is exported under it;
//   - what each declaration in Declarations counts now;
//   - the entity and the exclusions of each entity id in EntityIDs, and of
//     the holder of every licence it returns;
//   - the exclusions of each normalised name in Names, of every licence
//     holder's name, and of every returned entity's name.
type Refs struct {
	Licences     []string
	EntityIDs    []string
	Names        []string // normalised
	Declarations []string // record ids of export declarations
	// Keyed names the keys of keyed registers the batch's decisions read
	// (Keyed.Lookups, or a Follow after a first read).
	Keyed []KeyRef
}

// Empty reports whether r names nothing, so that no read is needed.
func (r Refs) Empty() bool {
	return len(r.Licences)+len(r.EntityIDs)+len(r.Names)+len(r.Declarations)+len(r.Keyed) == 0
}

// RefsOf lists what a batch of records refers to: the parties they name,
// the licences export and import declarations are made against, and what a record
// changes (an entity's id and name, a declaration's earlier count), so that
// the overlay of the batch is complete for every later record in it.
func RefsOf(recs []*records.Record) Refs {
	r, _ := refsOf(recs)
	return r
}

// refsOf is RefsOf, and the keys each record's Lookups gave, which the
// batch's decisions read again (Overlay.For) rather than derive again.
func refsOf(recs []*records.Record) (Refs, lookupMemo) {
	var r Refs
	memo := make(lookupMemo, len(recs))
	seen := newBlockKeyMemo()
	// One allocation for every record's memo and lists of keys, rather
	// than two for each.
	memos := make([]recordMemo, len(recs))
	lists := make([][]string, len(recs)*len(keyedRegisters))
	// The records of a push mostly name the same parties and read the
	// same keys: each is listed once as it is met, not once per record to
	// be compacted after (a name is known by how it is written, which
	// normalises to one name).
	var (
		ids      = map[string]bool{}
		written  = map[string]bool{}
		keyedRef = map[KeyRef]bool{}
	)
	party := func(p Party) {
		if p.EntityID != "" && !ids[p.EntityID] {
			ids[p.EntityID] = true
			r.EntityIDs = append(r.EntityIDs, p.EntityID)
		}
		if written[p.Name] {
			return
		}
		written[p.Name] = true
		if n := NormaliseName(p.Name); n != "" {
			r.Names = append(r.Names, n)
		}
	}
	for n, rec := range recs {
		if rec == nil {
			continue
		}
		body := rec.Body()
		if body == nil {
			continue
		}
		m := &memos[n]
		m.parties = PartiesOf(rec)
		for _, p := range m.parties {
			party(p)
		}
		keys := keyedLookupsOf(rec, seen, lists[n*len(keyedRegisters):(n+1)*len(keyedRegisters):(n+1)*len(keyedRegisters)])
		m.keys = keys
		for i, k := range keyedRegisters {
			if k.denials && k.lookupsIn == nil {
				m.denials, m.denialsKnown = keys[i], true
			}
		}
		memo[rec] = m
		for i, k := range keyedRegisters {
			for _, key := range keys[i] {
				if ref := (KeyRef{Register: k.Name, Key: key}); key != "" && !keyedRef[ref] {
					keyedRef[ref] = true
					r.Keyed = append(r.Keyed, ref)
				}
			}
		}
		if lic, ok := exportLicence(rec); ok {
			r.Licences = append(r.Licences, lic)
			r.Declarations = append(r.Declarations, rec.ID)
		}
		// What the record changes, as Of derives it, without deriving
		// the rest (a licence's entries are not refs).
		switch rec.Kind {
		case records.KindEntity:
			if id := str(body["entity_id"]); id != "" {
				party(Party{EntityID: id, Name: str(body["name"])})
			}
		case records.KindTrackingEvent:
			r.Declarations = append(r.Declarations, rec.ID)
		}
	}
	for _, s := range []*[]string{&r.Licences, &r.EntityIDs, &r.Names, &r.Declarations} {
		slices.Sort(*s)
		*s = slices.Compact(*s)
	}
	r.Keyed = compactRefs(r.Keyed)
	return r, memo
}

// DeclaredLicence is the licence an export or import declaration cites.
func DeclaredLicence(rec *records.Record) (string, bool) { return exportLicence(rec) }

// WithoutLicence is rec, a declaration, as if it cited no licence: what its
// registers are read and given for when its pusher may not see the licence
// it cites, so that nothing the registers hold of that licence (its entry,
// conditions, exports, holder's exclusions, the authorisations and
// certificate it names) reaches the decision. Only the copy's document
// differs; rec is not changed.
func WithoutLicence(rec *records.Record) *records.Record {
	key := records.BodyKey(records.KindTrackingEvent)
	ev, ok := rec.Doc[key].(map[string]any)
	if !ok {
		return rec
	}
	doc := maps.Clone(rec.Doc)
	ev = maps.Clone(ev)
	delete(ev, "licence_id")
	doc[key] = ev
	cp := *rec
	cp.Doc = doc
	return &cp
}

// exportLicence is the licence id an export or import declaration names,
// whether or not the rest of it counts: the policy checks both against the
// licence they cite (an import counts nothing against it).
func exportLicence(rec *records.Record) (string, bool) {
	body := bodyOf(rec, records.KindTrackingEvent)
	if t := str(body["type"]); t != "EXPORT_DECLARED" && t != "IMPORT_DECLARED" {
		return "", false
	}
	lic := str(body["licence_id"])
	return lic, lic != ""
}

// Snapshot is a part of the registers: what a store read for Refs, what the
// overlay holds, or what one decision is given.
type Snapshot struct {
	Licences map[string]*Licence // by licence id
	Entities map[string]*Entity  // by entity id
	// ByID and ByName list exclusions by entity id and by normalised
	// name, each by its record id.
	ByID   map[string]map[string]*Exclusion
	ByName map[string]map[string]*Exclusion
	// Exported is the quantity exported per licence and ML category.
	Exported map[string]map[string]int64
	// Declarations is what each export declaration counts now, by record
	// id (only in a store read and the overlay: the policy reads Exported).
	Declarations map[string]*Export
	// Keyed holds the entries of keyed registers: register → key → record
	// id → entry.
	Keyed map[string]map[string]map[string]KeyedValue
	// read is every keyed register key a store read covered, found or not.
	read map[KeyRef]bool
	// lookups are the keys the Lookups of each keyed register gave for
	// each record of the batch Read read for (nil: none kept).
	lookups lookupMemo
	// Screening is what the push's screening step found for one decision
	// (gateway/screening), input.registers.screening; nil: none ran.
	Screening map[string]any
}

// NewSnapshot is an empty snapshot, ready to fill.
func NewSnapshot() *Snapshot {
	return &Snapshot{
		Licences:     map[string]*Licence{},
		Entities:     map[string]*Entity{},
		ByID:         map[string]map[string]*Exclusion{},
		ByName:       map[string]map[string]*Exclusion{},
		Exported:     map[string]map[string]int64{},
		Declarations: map[string]*Export{},
		Keyed:        map[string]map[string]map[string]KeyedValue{},
	}
}

// MarkRead records that a store read covered refs' keyed register keys, so
// FollowRefs does not ask for them again (Read calls it after each read).
func (s *Snapshot) MarkRead(refs Refs) { s.markRead(refs.Keyed) }

// AddExclusion lists x under its entity id and its name.
func (s *Snapshot) AddExclusion(x *Exclusion) {
	add := func(m map[string]map[string]*Exclusion, key string) {
		if key == "" {
			return
		}
		if m[key] == nil {
			m[key] = map[string]*Exclusion{}
		}
		m[key][x.RecordID] = x
	}
	add(s.ByID, x.EntityID)
	add(s.ByName, x.Name)
}

// AddExported counts q more of category cat under licence lic.
func (s *Snapshot) AddExported(lic, cat string, q int64) {
	m := s.Exported[lic]
	if m == nil {
		m = map[string]int64{}
		s.Exported[lic] = m
	}
	m[cat] += q
	if m[cat] <= 0 {
		delete(m, cat)
	}
	if len(m) == 0 {
		delete(s.Exported, lic)
	}
}

// Doc is the snapshot as the policy reads it, input.registers: the shape
// gateway/ARCHITECTURE.md ("Policy contract") describes, its numbers as
// json.Number like every number of a decoded record.
func (s *Snapshot) Doc() map[string]any {
	lic := make(map[string]any, len(s.Licences))
	for id, l := range s.Licences {
		items := make(map[string]any, len(l.Items))
		for cat, q := range l.Items {
			items[cat] = num(q)
		}
		v := map[string]any{
			"type": l.Type, "status": l.Status, "valid_from": l.ValidFrom, "valid_until": l.ValidUntil,
			"destination": l.Destination, "originator": l.Originator, "items": items,
		}
		if l.Holder != nil {
			v["holder"] = map[string]any{"entity_id": l.Holder.EntityID, "name": l.Holder.Name}
		}
		lic[id] = v
	}
	ent := make(map[string]any, len(s.Entities))
	for id, e := range s.Entities {
		ent[id] = map[string]any{"record_id": e.RecordID, "name": e.Name, "status": e.Status}
	}
	exclusions := func(m map[string]map[string]*Exclusion) map[string]any {
		out := make(map[string]any, len(m))
		for key, list := range m {
			entries := make(map[string]any, len(list))
			for id, x := range list {
				v := map[string]any{"record_id": x.RecordID, "from": x.From}
				if x.Until != "" {
					v["until"] = x.Until
				}
				entries[id] = v
			}
			out[key] = entries
		}
		return out
	}
	exp := make(map[string]any, len(s.Exported))
	for id, m := range s.Exported {
		cats := make(map[string]any, len(m))
		for cat, q := range m {
			cats[cat] = num(q)
		}
		exp[id] = cats
	}
	doc := map[string]any{
		"licences": lic,
		"entities": ent,
		"excluded": map[string]any{"by_id": exclusions(s.ByID), "by_name": exclusions(s.ByName)},
		"exported": exp,
	}
	s.keyedDoc(doc)
	if s.Screening != nil {
		doc["screening"] = s.Screening
	}
	return doc
}

func num(q int64) json.Number { return json.Number(strconv.FormatInt(q, 10)) }

// AppendDocKey appends a key of the document Doc builds from s, its
// screening aside: two snapshots with equal keys have equal documents but
// for their screening, so a caller that builds the document of many
// snapshots (gateway/policy, regsdoc.go) builds it once per key. The key
// holds every value Doc reads and no order of a map's iteration; a keyed
// entry is its stored bytes, so two spellings of one value are two keys
// (the same document built twice, never two documents shared). keys is
// scratch space the caller keeps between calls. Doc and AppendDocKey
// read the same fields (TestAppendDocKeyCoversDoc).
func (s *Snapshot) AppendDocKey(b []byte, keys *[]string) []byte {
	ids, mark := sortedKeys(s.Licences, keys)
	b = appendLen(b, len(ids))
	for _, id := range ids {
		l := s.Licences[id]
		b = appendStrs(appendStr(b, id), l.Type, l.Status, l.ValidFrom, l.ValidUntil, l.Destination, l.Originator)
		b = appendCounts(b, l.Items, keys)
		if l.Holder == nil {
			b = append(b, '-')
		} else {
			b = appendStrs(append(b, 'h'), l.Holder.EntityID, l.Holder.Name)
		}
	}
	*keys = (*keys)[:mark]
	ids, mark = sortedKeys(s.Entities, keys)
	b = appendLen(b, len(ids))
	for _, id := range ids {
		e := s.Entities[id]
		b = appendStrs(appendStr(b, id), e.RecordID, e.Name, e.Status)
	}
	*keys = (*keys)[:mark]
	for _, m := range []map[string]map[string]*Exclusion{s.ByID, s.ByName} {
		names, mark := sortedKeys(m, keys)
		b = appendLen(b, len(names))
		for _, key := range names {
			list := m[key]
			ids, mark := sortedKeys(list, keys)
			b = appendLen(appendStr(b, key), len(ids))
			for _, id := range ids {
				x := list[id]
				// Doc leaves out an empty until: "" and none are one.
				b = appendStrs(appendStr(b, id), x.RecordID, x.From, x.Until)
			}
			*keys = (*keys)[:mark]
		}
		*keys = (*keys)[:mark]
	}
	ids, mark = sortedKeys(s.Exported, keys)
	b = appendLen(b, len(ids))
	for _, id := range ids {
		b = appendCounts(appendStr(b, id), s.Exported[id], keys)
	}
	*keys = (*keys)[:mark]
	regs, mark := sortedKeys(s.Keyed, keys)
	b = appendLen(b, len(regs))
	for _, reg := range regs {
		regKeys := s.Keyed[reg]
		b = appendStr(b, reg)
		names, mark := sortedKeys(regKeys, keys)
		for _, key := range names {
			list := regKeys[key]
			if len(list) == 0 {
				continue // Doc leaves it out
			}
			ids, mark := sortedKeys(list, keys)
			b = appendLen(appendStr(b, key), len(ids))
			for _, id := range ids {
				v := list[id].Value
				b = append(append(strconv.AppendInt(appendStr(b, id), int64(len(v)), 10), ':'), v...)
			}
			*keys = (*keys)[:mark]
		}
		*keys = (*keys)[:mark]
		b = append(b, ';')
	}
	*keys = (*keys)[:mark]
	return b
}

// sortedKeys appends m's keys, sorted, to keys' space and returns them;
// the caller gives the space back (truncates keys to mark) once it has
// read them, so that a nested level appends after them, never over them.
func sortedKeys[V any](m map[string]V, keys *[]string) (k []string, mark int) {
	mark = len(*keys)
	for key := range m {
		*keys = append(*keys, key)
	}
	k = (*keys)[mark:]
	if len(k) > 1 {
		slices.Sort(k)
	}
	return k, mark
}

// appendCounts appends a map of counts, keys sorted.
func appendCounts(b []byte, m map[string]int64, keys *[]string) []byte {
	cats, mark := sortedKeys(m, keys)
	b = appendLen(b, len(cats))
	for _, cat := range cats {
		b = strconv.AppendInt(append(appendStr(b, cat), '='), m[cat], 10)
	}
	*keys = (*keys)[:mark]
	return b
}

// appendStr appends s as its length and bytes: no string's form is a
// prefix of another's.
func appendStr(b []byte, s string) []byte {
	return append(append(strconv.AppendInt(b, int64(len(s)), 10), ':'), s...)
}

func appendStrs(b []byte, ss ...string) []byte {
	for _, s := range ss {
		b = appendStr(b, s)
	}
	return b
}

// appendLen appends the number of members that follow.
func appendLen(b []byte, n int) []byte {
	return append(strconv.AppendInt(append(b, '#'), int64(n), 10), '.')
}
