package registers

import (
	"maps"
	"slices"

	"github.com/ura-gateway/ura/gateway/records"
)

// Overlay is one push batch's view of the registers: the store's snapshot
// for the batch's Refs, with every record allowed earlier in the batch
// applied, so that a licence and an export against it, or two declarations
// against one licence, are decided in one batch as if pushed one after the
// other. It lives as long as the batch; the store's transaction, not the
// overlay, has the last word on balances (adapters/store).
type Overlay struct {
	s *Snapshot
	// owned lists, by record id, the keyed register keys its entries are
	// under, so that applying a record touches only its own entries
	// rather than every key of the batch.
	owned map[string][]KeyRef
	// normal is NormaliseName of each name the batch's parties are
	// written with: the records of a push mostly name the same ones.
	normal map[string]string
}

// NewOverlay starts from a store read; s is the overlay's from now on.
func NewOverlay(s *Snapshot) *Overlay {
	if s == nil {
		s = NewSnapshot()
	}
	o := &Overlay{s: s, owned: map[string][]KeyRef{}, normal: map[string]string{}}
	for reg, keys := range s.Keyed {
		for key, list := range keys {
			for id := range list {
				o.owned[id] = append(o.owned[id], KeyRef{Register: reg, Key: key})
			}
		}
	}
	return o
}

// Apply puts an allowed record on the overlay. An older version than the
// one the overlay knows changes nothing, as in the store.
func (o *Overlay) Apply(rec *records.Record) {
	e := Of(rec)
	s := o.s
	o.applyKeyed(rec)
	switch {
	case e.Licence != nil:
		if old, ok := s.Licences[rec.ID]; ok && old.Version > rec.Version {
			return
		}
		s.Licences[rec.ID] = e.Licence
	case e.Entity != nil:
		for id, old := range s.Entities {
			if old.RecordID != rec.ID {
				continue
			}
			if old.Version > rec.Version {
				return
			}
			delete(s.Entities, id)
		}
		s.Entities[e.Entity.EntityID] = e.Entity
	case e.Exclusion != nil:
		for _, m := range []map[string]map[string]*Exclusion{s.ByID, s.ByName} {
			for key, list := range m {
				old, ok := list[rec.ID]
				if !ok {
					continue
				}
				if old.Version > rec.Version {
					return
				}
				if delete(list, rec.ID); len(list) == 0 {
					delete(m, key)
				}
			}
		}
		s.AddExclusion(e.Exclusion)
	case e.Event:
		old, had := s.Declarations[rec.ID]
		if had && old.Version > rec.Version {
			return
		}
		if had {
			s.AddExported(old.Licence, old.Category, -old.Quantity)
			delete(s.Declarations, rec.ID)
		}
		if e.Export != nil {
			s.AddExported(e.Export.Licence, e.Export.Category, e.Export.Quantity)
			s.Declarations[rec.ID] = e.Export
		}
	}
}

// For is what one decision on rec is given: only the entries rec refers to
// (its licence and what is exported under it; the exclusions of every party
// it names and of its licence's holder, by id, by name, and by the name the
// register of entities holds for the party's id). The snapshot is read, not
// written: a register it found nothing in is nil rather than empty (Doc
// and the policy read both alike), so that a decision that finds little
// makes few maps.
func (o *Overlay) For(rec *records.Record) *Snapshot {
	out := &Snapshot{}
	if rec == nil || rec.Body() == nil {
		return out
	}
	m := o.s.memoOf(rec)
	parties := m.parties
	if lic, ok := exportLicence(rec); ok {
		if l, ok := o.s.Licences[lic]; ok {
			put(&out.Licences, lic, l)
			if l.Holder != nil {
				// The memo's list is shared: appending copies it.
				parties = append(slices.Clip(parties), Party{EntityID: l.Holder.EntityID, Name: l.Holder.Name})
			}
		}
		if x, ok := o.s.Exported[lic]; ok {
			put(&out.Exported, lic, x)
		}
	}
	for _, p := range parties {
		o.party(out, p)
	}
	for i, k := range keyedRegisters {
		held := o.s.Keyed[k.Name]
		if len(held) == 0 {
			// Nothing to find: its keys need not be known.
			continue
		}
		add := func(keys []string) {
			for _, key := range keys {
				list := held[key]
				if len(list) == 0 {
					continue
				}
				// Shared, not copied: Apply replaces a list rather
				// than change it (applyKeyed).
				out.keyedRegister(k.Name)[key] = list
			}
		}
		add(m.keys[i])
		if k.Follow != nil {
			add(k.Follow(rec, o.s))
		}
	}
	return out
}

// put sets m[k] = v, making m first when it is nil.
func put[V any](m *map[string]V, k string, v V) {
	if *m == nil {
		*m = make(map[string]V, 1)
	}
	(*m)[k] = v
}

// applyKeyed replaces what an older version of rec put on the keyed
// registers the overlay holds with what rec puts there. An older version
// than one the overlay holds changes nothing.
func (o *Overlay) applyKeyed(rec *records.Record) {
	if len(keyedRegisters) == 0 {
		return
	}
	mine := o.owned[rec.ID]
	for _, r := range mine {
		if old, ok := o.s.Keyed[r.Register][r.Key][rec.ID]; ok && old.Version > rec.Version {
			return
		}
	}
	// A key's list is replaced, never changed in place: the snapshots For
	// gave earlier records share the lists (For), and keep what their
	// decisions read.
	for _, r := range mine {
		keys := o.s.Keyed[r.Register]
		if list := keys[r.Key]; list != nil {
			list = maps.Clone(list)
			if delete(list, rec.ID); len(list) == 0 {
				delete(keys, r.Key)
			} else {
				keys[r.Key] = list
			}
		}
	}
	delete(o.owned, rec.ID)
	rows, err := KeyedOf(rec, nil)
	if err != nil {
		// The store derives the same rows and refuses the record with
		// this error; the overlay must not count it either.
		return
	}
	var owned []KeyRef
	if len(rows) > 0 {
		owned = make([]KeyRef, 0, len(rows))
	}
	for _, r := range rows {
		keys := o.s.keyedRegister(r.Register)
		list := maps.Clone(keys[r.Key])
		if list == nil {
			list = make(map[string]KeyedValue, 1)
		}
		list[rec.ID] = KeyedValue{Version: rec.Version, Value: r.Value}
		keys[r.Key] = list
		owned = append(owned, KeyRef{Register: r.Register, Key: r.Key})
	}
	if owned != nil {
		o.owned[rec.ID] = owned
	}
}

func (o *Overlay) party(out *Snapshot, p Party) {
	byName := func(name string) {
		n, ok := o.normal[name]
		if !ok {
			n = NormaliseName(name)
			o.normal[name] = n
		}
		if n != "" {
			if list, ok := o.s.ByName[n]; ok {
				put(&out.ByName, n, list)
			}
		}
	}
	byName(p.Name)
	if p.EntityID == "" {
		return
	}
	if list, ok := o.s.ByID[p.EntityID]; ok {
		put(&out.ByID, p.EntityID, list)
	}
	if e, ok := o.s.Entities[p.EntityID]; ok {
		put(&out.Entities, p.EntityID, e)
		byName(e.Name)
	}
}
