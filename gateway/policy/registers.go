package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/storage"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/records"
)

// registersKey is where the registers live in OPA's data: data.registers.
const registersKey = "registers"

// Register names under data.registers.
const (
	regLicences = "licences"
	regEntities = "entities"
	regExcluded = "excluded"
	regExported = "exported"
	regByID     = "by_id"
	regByName   = "by_name"
)

// nameSeparators is the Rego policy's normalise(): lower case, every run of
// characters other than letters and digits becomes one space, trimmed. Both
// sides must agree exactly, or a name on the register would not match.
var nameSeparators = regexp.MustCompile(`[^\p{L}\p{N}]+`)

// NormaliseName is how names of excluded entities are compared.
func NormaliseName(name string) string {
	return strings.TrimSpace(nameSeparators.ReplaceAllString(strings.ToLower(name), " "))
}

// patch is one change to data.registers: value nil removes path.
type patch struct {
	path  storage.Path
	value any
}

// Registers is the gateway's copy of the registers the policy reads: the
// state in Go, and the changes not yet written to OPA's stores. The push
// handler observes every accepted record; the engine it is given to reads
// them. Observe only
// updates Go maps and queues patches; the next decision writes the queued
// patches to every live store in one transaction, so a burst of accepted
// records costs one store commit, and a decision always sees every record
// observed before it.
type Registers struct {
	mu sync.Mutex

	licences map[string]licenceEntry // by record id
	entities map[string]entityEntry  // by record id
	excluded map[string]exclusion    // by record id
	byID     map[string]map[string]any
	byName   map[string]map[string]any
	exported map[string]map[string]int64   // licence id → ML category → quantity stored
	exports  map[string]exportContribution // declaration record id → what it counted
	reserved map[string]reservation        // declaration record id → quantity held
	// nextExpiry is the earliest reservation expiry (UnixNano), 0 if none.
	nextExpiry atomic.Int64
	ttl        time.Duration
	pending    []patch
	// rewrite asks the next flush to replace data.registers whole rather
	// than apply pending patches (after a bulk load).
	rewrite bool
	dirty   atomic.Bool
}

// licenceEntry is what the policy may ask of one licence, kept as strings
// rather than maps: a national register holds every licence ever issued, and
// a map per licence costs several times the bytes of the struct.
type licenceEntry struct {
	version int
	// originator issued the licence: the policy licenses an export only
	// under one of its own instance's licences, not a peer's relayed here.
	originator  string
	typ         string
	status      string
	validFrom   string
	validUntil  string
	destination string
	holderID    string
	holderName  string
	hasHolder   bool
	items       []categoryQuantity
}

type categoryQuantity struct {
	category string
	quantity int64
}

// value is the licence as data.registers.licences[id]: only what a decision
// on an export declaration reads, as a fresh map OPA's store may keep.
func (l licenceEntry) value() map[string]any {
	items := make(map[string]any, len(l.items))
	for _, it := range l.items {
		items[it.category] = it.quantity
	}
	v := map[string]any{
		"type":        l.typ,
		"status":      l.status,
		"valid_from":  l.validFrom,
		"valid_until": l.validUntil,
		"destination": l.destination,
		"originator":  l.originator,
		"items":       items,
	}
	if l.hasHolder {
		v["holder"] = map[string]any{"entity_id": l.holderID, "name": l.holderName}
	}
	return v
}

type entityEntry struct {
	version  int
	entityID string
	value    map[string]any
}

type exclusion struct {
	version  int
	entityID string
	name     string // normalised
	value    map[string]any
}

type exportContribution struct {
	version  int
	licence  string
	category string
	quantity int64
}

// NewRegisters returns empty registers, to give to one engine
// (Options.Registers, HTTPOptions.Registers) and to whoever observes the
// records the gateway accepts.
func NewRegisters() *Registers {
	return &Registers{
		licences: map[string]licenceEntry{},
		entities: map[string]entityEntry{},
		excluded: map[string]exclusion{},
		byID:     map[string]map[string]any{},
		byName:   map[string]map[string]any{},
		exported: map[string]map[string]int64{},
		exports:  map[string]exportContribution{},
		reserved: map[string]reservation{},
		ttl:      reservationTTL,
	}
}

// RegisterCounts says how much the policy knows, for /v1/policy.
type RegisterCounts struct {
	Licences         int `json:"licences"`
	Entities         int `json:"entities"`
	ExcludedEntities int `json:"excluded_entities"`
	ExportedLicences int `json:"licences_with_exports"`
}

func (r *Registers) counts() RegisterCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RegisterCounts{Licences: len(r.licences), Entities: len(r.entities),
		ExcludedEntities: len(r.excluded), ExportedLicences: len(r.exported)}
}

// Observer is told of every record the gateway accepts: the registers the
// policy reads.
type Observer interface {
	Observe(rec *records.Record)
}

var _ Observer = (*Registers)(nil)

// Observe updates the registers from one accepted record. It is cheap: the
// change reaches the policy with the next decision.
func (r *Registers) Observe(rec *records.Record) { r.observe(rec) }

// observe updates the registers from one record and reports whether they
// changed. An older version
// than the one already known changes nothing, so replays and out-of-order
// loads are harmless.
func (r *Registers) observe(rec *records.Record) bool {
	if rec == nil {
		return false
	}
	body := rec.Body()
	if body == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var changed bool
	switch rec.Kind {
	case records.KindLicence:
		changed = r.observeLicence(rec, body)
	case records.KindEntity:
		changed = r.observeEntity(rec, body)
	case records.KindExcludedEntity:
		changed = r.observeExclusion(rec, body)
	case records.KindTrackingEvent:
		changed = r.observeEvent(rec, body)
	}
	if changed {
		r.dirty.Store(true)
	}
	return changed
}

func (r *Registers) observeLicence(rec *records.Record, body map[string]any) bool {
	if old, ok := r.licences[rec.ID]; ok && old.version > rec.Version {
		return false
	}
	l := licenceEntry{
		version:     rec.Version,
		originator:  rec.Label.Originator,
		typ:         str(body["type"]),
		status:      str(body["status"]),
		validFrom:   str(body["valid_from"]),
		validUntil:  str(body["valid_until"]),
		destination: str(body["destination"]),
	}
	list, _ := body["items"].([]any)
	for _, it := range list {
		m, _ := it.(map[string]any)
		cat, _ := m["ml_category"].(string)
		if cat == "" {
			continue
		}
		l.addItem(cat, quantity(m["quantity"], 0))
	}
	if h, ok := body["holder"].(map[string]any); ok {
		l.hasHolder, l.holderID, l.holderName = true, str(h["entity_id"]), str(h["name"])
	}
	r.licences[rec.ID] = l
	r.queue(storage.Path{registersKey, regLicences, rec.ID}, l.value())
	return true
}

// addItem adds q to the licensed quantity of category cat.
func (l *licenceEntry) addItem(cat string, q int64) {
	for i := range l.items {
		if l.items[i].category == cat {
			l.items[i].quantity += q
			return
		}
	}
	l.items = append(l.items, categoryQuantity{category: cat, quantity: q})
}

func (r *Registers) observeEntity(rec *records.Record, body map[string]any) bool {
	old, had := r.entities[rec.ID]
	if had && old.version > rec.Version {
		return false
	}
	e := entityEntry{version: rec.Version, entityID: str(body["entity_id"]), value: map[string]any{
		"record_id": rec.ID,
		"name":      str(body["name"]),
		"status":    str(body["status"]),
	}}
	if e.entityID == "" {
		return false
	}
	if had && old.entityID != e.entityID {
		r.queue(storage.Path{registersKey, regEntities, old.entityID}, nil)
	}
	r.entities[rec.ID] = e
	r.queue(storage.Path{registersKey, regEntities, e.entityID}, cloneValue(e.value))
	return true
}

func (r *Registers) observeExclusion(rec *records.Record, body map[string]any) bool {
	old, had := r.excluded[rec.ID]
	if had && old.version > rec.Version {
		return false
	}
	x := exclusion{version: rec.Version, entityID: str(body["entity_id"]), name: NormaliseName(str(body["name"]))}
	x.value = map[string]any{"record_id": rec.ID, "from": str(body["excluded_from"])}
	if until := str(body["excluded_until"]); until != "" {
		x.value["until"] = until
	}
	if had {
		r.unindexExclusion(rec.ID, old)
	}
	r.excluded[rec.ID] = x
	r.indexExclusion(rec.ID, x)
	return true
}

func (r *Registers) indexExclusion(id string, x exclusion) {
	if x.entityID != "" {
		r.byID[x.entityID] = withEntry(r.byID[x.entityID], id, x.value)
		r.queue(storage.Path{registersKey, regExcluded, regByID, x.entityID}, cloneValue(r.byID[x.entityID]))
	}
	if x.name != "" {
		r.byName[x.name] = withEntry(r.byName[x.name], id, x.value)
		r.queue(storage.Path{registersKey, regExcluded, regByName, x.name}, cloneValue(r.byName[x.name]))
	}
}

func (r *Registers) unindexExclusion(id string, x exclusion) {
	for _, ix := range []struct {
		idx map[string]map[string]any
		key string
		reg string
	}{{r.byID, x.entityID, regByID}, {r.byName, x.name, regByName}} {
		if ix.key == "" {
			continue
		}
		delete(ix.idx[ix.key], id)
		path := storage.Path{registersKey, regExcluded, ix.reg, ix.key}
		if len(ix.idx[ix.key]) == 0 {
			delete(ix.idx, ix.key)
			r.queue(path, nil)
		} else {
			r.queue(path, cloneValue(ix.idx[ix.key]))
		}
	}
}

func withEntry(m map[string]any, id string, v map[string]any) map[string]any {
	if m == nil {
		m = map[string]any{}
	}
	m[id] = v
	return m
}

// exportOf reads what an export declaration counts against its licence.
func exportOf(rec *records.Record, body map[string]any) (exportContribution, bool) {
	if rec.Kind != records.KindTrackingEvent || str(body["type"]) != "EXPORT_DECLARED" {
		return exportContribution{}, false
	}
	item, _ := body["item"].(map[string]any)
	c := exportContribution{version: rec.Version, licence: str(body["licence_id"]),
		category: str(item["ml_category"]), quantity: quantity(body["quantity"], 1)}
	return c, c.licence != "" && c.category != ""
}

// observeEvent counts the quantity of every export declaration against its
// licence and ML category. A new version of a declaration replaces what the
// old one counted, and a stored declaration replaces its reservation.
func (r *Registers) observeEvent(rec *records.Record, body map[string]any) bool {
	old, had := r.exports[rec.ID]
	if had && old.version > rec.Version {
		return false
	}
	now, counts := exportOf(rec, body)
	res, reserved := r.reserved[rec.ID]
	// Storing the reserved version (or a later one) settles the reservation.
	reserved = reserved && res.version <= rec.Version
	if !had && !counts && !reserved {
		return false
	}
	touched := map[string]bool{}
	if reserved {
		delete(r.reserved, rec.ID)
		touched[res.licence] = true
	}
	if had {
		r.exported[old.licence][old.category] -= old.quantity
		if r.exported[old.licence][old.category] <= 0 {
			delete(r.exported[old.licence], old.category)
		}
		if len(r.exported[old.licence]) == 0 {
			delete(r.exported, old.licence)
		}
		delete(r.exports, rec.ID)
		touched[old.licence] = true
	}
	if counts {
		if r.exported[now.licence] == nil {
			r.exported[now.licence] = map[string]int64{}
		}
		r.exported[now.licence][now.category] += now.quantity
		r.exports[rec.ID] = now
		touched[now.licence] = true
	}
	for lic := range touched {
		r.queueExported(lic)
	}
	return true
}

// exportedValue is what the policy sees as exported under a licence: the
// stored declarations plus the reservations of declarations allowed but not
// yet stored.
func (r *Registers) exportedValue(lic string) map[string]any {
	v := map[string]any{}
	for cat, q := range r.exported[lic] {
		v[cat] = q
	}
	for id, res := range r.reserved {
		// A reserved new version of a stored declaration replaces what the
		// stored version counted.
		if old, ok := r.exports[id]; ok && old.licence == lic {
			q, _ := v[old.category].(int64)
			if q -= old.quantity; q > 0 {
				v[old.category] = q
			} else {
				delete(v, old.category)
			}
		}
		if res.licence == lic {
			q, _ := v[res.category].(int64)
			v[res.category] = q + res.quantity
		}
	}
	return v
}

// queueReservation queues the licences a reservation of declaration id
// changes: its own, and the one its stored version counted against.
func (r *Registers) queueReservation(id string, res reservation) {
	r.queueExported(res.licence)
	if old, ok := r.exports[id]; ok && old.licence != res.licence {
		r.queueExported(old.licence)
	}
}

func (r *Registers) queueExported(lic string) {
	v := r.exportedValue(lic)
	if len(v) == 0 {
		r.queue(storage.Path{registersKey, regExported, lic}, nil)
		return
	}
	r.queue(storage.Path{registersKey, regExported, lic}, v)
}

// reservationTTL is how long an allowed export declaration holds its
// quantity before the gateway stores it. A push stores within moments; a
// reservation whose push failed lapses after this.
const reservationTTL = time.Minute

type reservation struct {
	exportContribution
	expires time.Time
}

// unreserve drops the reservation of a declaration about to be decided
// again: a retried push must not count against itself.
func (r *Registers) unreserve(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if res, ok := r.reserved[id]; ok {
		delete(r.reserved, id)
		r.queueReservation(id, res)
		r.dirty.Store(true)
	}
}

// reserve counts an allowed declaration's quantity at once, so that the
// next declaration against the same licence (later in the same batch, or
// in a concurrent push) is decided as if this one were already stored.
func (r *Registers) reserve(rec *records.Record, now time.Time) {
	c, ok := exportOf(rec, rec.Body())
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if done, stored := r.exports[rec.ID]; stored && done.version >= rec.Version {
		return
	}
	exp := now.Add(r.ttl)
	res := reservation{exportContribution: c, expires: exp}
	r.reserved[rec.ID] = res
	if next := r.nextExpiry.Load(); next == 0 || exp.UnixNano() < next {
		r.nextExpiry.Store(exp.UnixNano())
	}
	r.queueReservation(rec.ID, res)
	r.dirty.Store(true)
}

// expireDue reports whether a reservation may have lapsed.
func (r *Registers) expireDue(now time.Time) bool {
	next := r.nextExpiry.Load()
	return next != 0 && now.UnixNano() >= next
}

// expireLocked drops lapsed reservations.
func (r *Registers) expireLocked(now time.Time) {
	var next int64
	for id, res := range r.reserved {
		if !now.Before(res.expires) {
			delete(r.reserved, id)
			r.queueReservation(id, res)
			r.dirty.Store(true)
			continue
		}
		if n := res.expires.UnixNano(); next == 0 || n < next {
			next = n
		}
	}
	r.nextExpiry.Store(next)
}

func (r *Registers) queue(p storage.Path, v any) {
	if r.rewrite {
		// A full rewrite is already due: it will carry this change.
		return
	}
	r.pending = append(r.pending, patch{path: p, value: v})
}

// snapshotLocked is data.registers whole, as fresh maps that share nothing
// with the Go state.
func (r *Registers) snapshotLocked() map[string]any {
	lic := make(map[string]any, len(r.licences))
	for id, e := range r.licences {
		lic[id] = e.value()
	}
	ent := make(map[string]any, len(r.entities))
	for _, e := range r.entities {
		ent[e.entityID] = cloneValue(e.value)
	}
	byID := make(map[string]any, len(r.byID))
	for k, m := range r.byID {
		byID[k] = cloneValue(m)
	}
	byName := make(map[string]any, len(r.byName))
	for k, m := range r.byName {
		byName[k] = cloneValue(m)
	}
	exp := make(map[string]any, len(r.exported))
	for lic := range r.exported {
		exp[lic] = r.exportedValue(lic)
	}
	for _, res := range r.reserved {
		exp[res.licence] = r.exportedValue(res.licence)
	}
	for lic, v := range exp {
		if len(v.(map[string]any)) == 0 {
			delete(exp, lic)
		}
	}
	return map[string]any{
		regLicences: lic,
		regEntities: ent,
		regExcluded: map[string]any{regByID: byID, regByName: byName},
		regExported: exp,
	}
}

// flushLocked writes what changed to every store given, in one transaction
// each. A store a patch cannot be applied to gets the whole registers
// instead, so no store is ever left half-updated.
func (r *Registers) flushLocked(ctx context.Context, stores []storage.Store) error {
	if !r.dirty.Load() && !r.rewrite {
		return nil
	}
	var errs []error
	for _, st := range stores {
		if st == nil {
			continue
		}
		if !r.rewrite {
			if err := storage.Txn(ctx, st, storage.WriteParams, func(txn storage.Transaction) error {
				for _, p := range r.pending {
					if err := applyPatch(ctx, st, txn, p); err != nil {
						return err
					}
				}
				return nil
			}); err == nil {
				continue
			}
		}
		if err := r.writeAllLocked(ctx, st); err != nil {
			errs = append(errs, err)
		}
	}
	r.pending = r.pending[:0]
	r.rewrite = false
	r.dirty.Store(false)
	if len(errs) > 0 {
		return fmt.Errorf("update policy registers: %v", errs)
	}
	return nil
}

func applyPatch(ctx context.Context, st storage.Store, txn storage.Transaction, p patch) error {
	if p.value == nil {
		err := st.Write(ctx, txn, storage.RemoveOp, p.path, nil)
		if storage.IsNotFound(err) {
			return nil
		}
		return err
	}
	return st.Write(ctx, txn, storage.AddOp, p.path, p.value)
}

func (r *Registers) writeAllLocked(ctx context.Context, st storage.Store) error {
	snap := r.snapshotLocked()
	return storage.Txn(ctx, st, storage.WriteParams, func(txn storage.Transaction) error {
		return st.Write(ctx, txn, storage.AddOp, storage.Path{registersKey}, snap)
	})
}

// load streams every record in s once and rebuilds the registers from it.
func (r *Registers) load(ctx context.Context, s store.Store) (int, error) {
	r.mu.Lock()
	r.rewrite = true
	r.pending = r.pending[:0]
	r.mu.Unlock()
	n := 0
	err := s.Query(ctx, store.Query{}, func(rec *records.Record, _ string) error {
		switch rec.Kind {
		case records.KindLicence, records.KindEntity, records.KindExcludedEntity, records.KindTrackingEvent:
			if r.observe(rec) {
				n++
			}
		}
		return nil
	})
	r.mu.Lock()
	r.rewrite = true
	r.dirty.Store(true)
	r.mu.Unlock()
	return n, err
}

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

// cloneValue deep-copies the maps and slices the registers hand to OPA's
// store, which keeps what it is given.
func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneValue(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = cloneValue(e)
		}
		return s
	}
	return v
}
