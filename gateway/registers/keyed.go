package registers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/ura-gateway/ura/gateway/records"
)

// KeyedEntry is one entry a record puts on a keyed register.
type KeyedEntry struct {
	Key   string // lookup key within the register
	Value any    // marshalled to JSON; what the policy reads
}

// Keyed is one keyed register: how records put entries on it, and which of
// its keys a decision on a record reads. Keyed registers need no table or
// bucket of their own: every store keeps all of them in one index keyed by
// register, key and the record that put the entry, written in the
// transaction that stores the record (gateway/ARCHITECTURE.md, "Register
// indexes").
type Keyed struct {
	// Name is the register's name under input.registers; it must not be
	// one of the fixed registers (licences, entities, excluded, exported).
	Name string
	// Version changes whenever Entries changes what it derives: a store
	// whose entries were derived by another version rebuilds them from
	// the stored records when it opens.
	Version int
	// Entries lists what rec puts on the register (nil for none).
	Entries func(rec *records.Record) []KeyedEntry
	// Lookups lists the keys a decision on rec reads (nil for none).
	Lookups func(rec *records.Record) []string
	// Follow, if set, lists more keys a decision on rec reads that depend
	// on what the first read returned (a declaration, its licence, then
	// what the licence names). A push reads the store a second time only
	// when some Follow returns a key the first read did not cover.
	Follow func(rec *records.Record, snap *Snapshot) []string
	// lookupsIn, if set, is Lookups sharing what it derives across the
	// records of one batch (refsOf); it must answer as Lookups does.
	lookupsIn func(rec *records.Record, seen *blockKeyMemo) []string
	// denials says Lookups is denialLookups, which consultationFollow
	// reads again: Read keeps what it gave (recordMemo.denials).
	denials bool
}

// keyedRegisters lists every keyed register, one line each.
var keyedRegisters = []Keyed{
	{Name: RegisterDenials, Version: 1, Entries: denialEntries, Lookups: denialLookups, denials: true},
	{Name: RegisterConsultations, Version: 1, Entries: consultationEntries, Follow: consultationFollow},
	{Name: RegisterExcludedNames, Version: 1, Entries: excludedNameEntries, Lookups: excludedNameLookups,
		lookupsIn: excludedNameLookupsIn},
	importAuthorisations,  // licence conditions (conditions.go)
	transitAuthorisations, // licence conditions
	endUserCertificates,   // licence conditions
	licenceConditions,     // licence conditions
	brokerRegistrations,   // brokering (conditions.go)
	brokeringLicences,     // brokering
	{Name: RegisterItems, Version: 1, Entries: itemEntries, Lookups: itemLookups},
	{Name: RegisterDeclarations, Version: 1, Entries: declarationEntries, Lookups: declarationLookups},
}

// KeyedRegisters returns every keyed register.
func KeyedRegisters() []Keyed { return slices.Clone(keyedRegisters) }

// HasKeyed reports whether any keyed register is declared: without one, a
// store writes and reads no keyed entries.
func HasKeyed() bool { return len(keyedRegisters) > 0 }

// KeyedVersions is the version of each keyed register by name: what a
// store compares with the versions its entries were derived by.
func KeyedVersions() map[string]int {
	out := make(map[string]int, len(keyedRegisters))
	for _, k := range keyedRegisters {
		out[k.Name] = k.Version
	}
	return out
}

// KeyRef names one key of one keyed register.
type KeyRef struct {
	Register string
	Key      string
}

// KeyedValue is one stored entry: the version of the record that put it,
// and its value as JSON.
type KeyedValue struct {
	Version int
	Value   json.RawMessage
}

// KeyedRow is one entry as a store writes it.
type KeyedRow struct {
	Register string
	Key      string
	Value    json.RawMessage
}

// KeyedOf derives every keyed entry rec puts on every keyed register, or on
// those named in only (all when only is nil). The values are marshalled
// here, once, so every store writes the same bytes.
func KeyedOf(rec *records.Record, only map[string]bool) ([]KeyedRow, error) {
	if rec == nil || rec.Body() == nil {
		return nil, nil
	}
	var out []KeyedRow
	for _, k := range keyedRegisters {
		if only != nil && !only[k.Name] {
			continue
		}
		for _, e := range k.Entries(rec) {
			if e.Key == "" {
				continue
			}
			v, err := marshalValue(e.Value)
			if err != nil {
				return nil, fmt.Errorf("register %s: %w", k.Name, err)
			}
			out = append(out, KeyedRow{Register: k.Name, Key: e.Key, Value: v})
		}
	}
	return out, nil
}

func marshalValue(v any) (json.RawMessage, error) {
	// Every licence of a push puts its conditions on the register, and
	// every store writes them again: their plain form is written here,
	// byte for byte what the encoder writes (TestConditionsJSON).
	if c, ok := v.(conditionsValue); ok {
		var buf [128]byte
		if b, ok := c.appendJSON(buf[:0]); ok {
			return bytes.Clone(b), nil
		}
	}
	m := marshallers.Get().(*marshaller)
	defer marshallers.Put(m)
	m.buf.Reset()
	if err := m.enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.Clone(bytes.TrimSuffix(m.buf.Bytes(), []byte("\n"))), nil
}

// marshaller is an encoder with its buffer, kept for the next value: an
// overlay marshals every entry each record of a push puts on the keyed
// registers.
type marshaller struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var marshallers = sync.Pool{New: func() any {
	m := &marshaller{}
	m.enc = json.NewEncoder(&m.buf)
	m.enc.SetEscapeHTML(false)
	return m
}}

// keyedLookupsOf lists the keys a decision on rec reads on each keyed
// register, in the order of keyedRegisters (nil where it has no Lookups),
// into out (len(keyedRegisters) long; nil: made here). seen keeps what one
// lookup derived for the batch's later records (nil: none kept).
func keyedLookupsOf(rec *records.Record, seen *blockKeyMemo, out [][]string) [][]string {
	if out == nil {
		out = make([][]string, len(keyedRegisters))
	}
	for i, k := range keyedRegisters {
		switch {
		case k.Lookups == nil:
		case k.lookupsIn != nil:
			out[i] = k.lookupsIn(rec, seen)
		default:
			out[i] = k.Lookups(rec)
		}
	}
	return out
}

// recordMemo is what Read derives of one record of a batch that each
// decision of the batch reads again (Overlay.For): the keys of its keyed
// registers' Lookups (keyedLookupsOf) and its parties (PartiesOf). Both
// are read, not appended to: a list may be shared by several records.
type recordMemo struct {
	keys    [][]string
	parties []Party
	// denials is denialLookups(rec), when a keyed register's Lookups
	// gave it (denialsKnown).
	denials      []string
	denialsKnown bool
}

// denialKeys is denialLookups(rec), from the batch's memo when Read kept
// it for rec.
func (s *Snapshot) denialKeys(rec *records.Record) []string {
	if s != nil {
		if m, ok := s.lookups[rec]; ok && m.denialsKnown {
			return m.denials
		}
	}
	return denialLookups(rec)
}

// lookupMemo holds recordMemo for each record of a batch. The records of
// a batch do not change while it is decided (the overlay is complete only
// for the refs read for them), so a record is known by its pointer.
type lookupMemo map[*records.Record]*recordMemo

// memoOf is rec's recordMemo, from the batch's memo when Read kept it for
// rec, else derived now.
func (s *Snapshot) memoOf(rec *records.Record) *recordMemo {
	if m, ok := s.lookups[rec]; ok && len(m.keys) == len(keyedRegisters) {
		return m
	}
	return &recordMemo{keys: keyedLookupsOf(rec, nil, nil), parties: PartiesOf(rec)}
}

// FollowRefs lists the keys the records' Follow hooks ask for after a first
// read, that the first read did not cover; empty when no second read is
// needed.
func FollowRefs(recs []*records.Record, snap *Snapshot) Refs {
	var r Refs
	for _, k := range keyedRegisters {
		if k.Follow == nil {
			continue
		}
		for _, rec := range recs {
			if rec == nil || rec.Body() == nil {
				continue
			}
			for _, key := range k.Follow(rec, snap) {
				if key == "" || snap.covered(k.Name, key) {
					continue
				}
				r.Keyed = append(r.Keyed, KeyRef{Register: k.Name, Key: key})
			}
		}
	}
	r.Keyed = compactRefs(r.Keyed)
	return r
}

func compactRefs(v []KeyRef) []KeyRef {
	slices.SortFunc(v, func(a, b KeyRef) int {
		if a.Register != b.Register {
			if a.Register < b.Register {
				return -1
			}
			return 1
		}
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	return slices.Compact(v)
}

// AddKeyed puts one stored entry on the snapshot.
func (s *Snapshot) AddKeyed(register, key, recordID string, v KeyedValue) {
	reg := s.keyedRegister(register)
	list := reg[key]
	if list == nil {
		list = map[string]KeyedValue{}
		reg[key] = list
	}
	list[recordID] = v
}

// keyedRegister is the keys of register the snapshot holds, made empty
// first when it holds none.
func (s *Snapshot) keyedRegister(register string) map[string]map[string]KeyedValue {
	reg := s.Keyed[register]
	if reg == nil {
		reg = map[string]map[string]KeyedValue{}
		if s.Keyed == nil {
			s.Keyed = map[string]map[string]map[string]KeyedValue{}
		}
		s.Keyed[register] = reg
	}
	return reg
}

// markRead records that a store read covered key of register, whether or
// not it found entries there.
func (s *Snapshot) markRead(refs []KeyRef) {
	for _, r := range refs {
		if s.read == nil {
			s.read = make(map[KeyRef]bool, len(refs))
		}
		s.read[r] = true
	}
}

func (s *Snapshot) covered(register, key string) bool {
	return s.read[KeyRef{Register: register, Key: key}]
}

// Merge adds what another read of the store returned.
func (s *Snapshot) Merge(o *Snapshot) {
	for reg, keys := range o.Keyed {
		for key, list := range keys {
			for id, v := range list {
				s.AddKeyed(reg, key, id, v)
			}
		}
	}
	for r := range o.read {
		s.markRead([]KeyRef{r})
	}
}

// Keyed entries of one register and key, by the record that put them.
func (s *Snapshot) KeyedEntries(register, key string) map[string]KeyedValue {
	return s.Keyed[register][key]
}

// keyedDoc is the keyed registers as the policy reads them, each entry
// decoded by DecodeKeyed.
func (s *Snapshot) keyedDoc(doc map[string]any) { s.KeyedDoc(doc, DecodeKeyed) }

// KeyedDoc puts the keyed registers on doc as the policy reads them:
// register → key → record id → value, each entry's value as decode gives
// it, an entry left out where decode says false. It is the one builder of
// that shape: Doc uses it with DecodeKeyed, and a caller that decodes the
// same entries for many documents (gateway/policy, regsdoc.go) with a
// decoder that remembers them, so that the two documents cannot drift.
func (s *Snapshot) KeyedDoc(doc map[string]any, decode func(raw json.RawMessage) (any, bool)) {
	// Every register is there, empty when nothing was found, so a rule
	// reads a missing key, never a missing register.
	for _, k := range keyedRegisters {
		doc[k.Name] = map[string]any{}
	}
	for reg, keys := range s.Keyed {
		m := make(map[string]any, len(keys))
		for key, list := range keys {
			if len(list) == 0 {
				continue
			}
			entries := make(map[string]any, len(list))
			for id, v := range list {
				if x, ok := decode(v.Value); ok {
					entries[id] = x
				}
			}
			m[key] = entries
		}
		doc[reg] = m
	}
}

// DecodeKeyed decodes one stored entry as a record is decoded: its first
// JSON value, numbers as json.Number; false for bytes that do not start
// with one, which the policy does not see.
func DecodeKeyed(raw json.RawMessage) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, false
	}
	return x, true
}

// Read reads from a store everything a batch of records refers to: one
// read for RefsOf, and a second only when a keyed register's Follow asks
// for keys that depend on the first.
func Read(ctx context.Context, recs []*records.Record, read func(context.Context, Refs) (*Snapshot, error)) (*Snapshot, error) {
	snap := NewSnapshot()
	refs, memo := refsOf(recs)
	if !refs.Empty() {
		var err error
		if snap, err = read(ctx, refs); err != nil {
			return nil, err
		}
		snap.MarkRead(refs)
	}
	snap.lookups = memo
	if more := FollowRefs(recs, snap); !more.Empty() {
		next, err := read(ctx, more)
		if err != nil {
			return nil, err
		}
		next.MarkRead(more)
		snap.Merge(next)
	}
	return snap, nil
}

// SetKeyed replaces the list of keyed registers and returns what restores
// it. It is for tests of the stores and the overlay, which need a register
// of their own; the gateway's registers are those of keyedRegisters.
func SetKeyed(list []Keyed) (restore func()) {
	old := keyedRegisters
	keyedRegisters = slices.Clone(list)
	return func() { keyedRegisters = old }
}
