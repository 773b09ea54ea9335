package registers

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/ura-gateway/ura/gateway/records"
)

// refsOfEach is RefsOf stated record by record: every party normalised,
// every lookup derived, each record's entries derived with Of, the lists
// compacted at the end. RefsOf must answer exactly as it does.
func refsOfEach(recs []*records.Record) Refs {
	var r Refs
	party := func(p Party) {
		if p.EntityID != "" {
			r.EntityIDs = append(r.EntityIDs, p.EntityID)
		}
		if n := NormaliseName(p.Name); n != "" {
			r.Names = append(r.Names, n)
		}
	}
	for _, rec := range recs {
		if rec == nil || rec.Body() == nil {
			continue
		}
		for _, p := range PartiesOf(rec) {
			party(p)
		}
		for _, k := range keyedRegisters {
			if k.Lookups == nil {
				continue
			}
			for _, key := range k.Lookups(rec) {
				if key != "" {
					r.Keyed = append(r.Keyed, KeyRef{Register: k.Name, Key: key})
				}
			}
		}
		if lic, ok := exportLicence(rec); ok {
			r.Licences = append(r.Licences, lic)
			r.Declarations = append(r.Declarations, rec.ID)
		}
		e := Of(rec)
		switch {
		case e.Entity != nil:
			party(Party{EntityID: e.Entity.EntityID, Name: e.Entity.Name})
		case e.Event:
			r.Declarations = append(r.Declarations, rec.ID)
		}
	}
	for _, s := range []*[]string{&r.Licences, &r.EntityIDs, &r.Names, &r.Declarations} {
		slices.Sort(*s)
		*s = slices.Compact(*s)
	}
	r.Keyed = compactRefs(r.Keyed)
	return r
}

// forEach is Overlay.For stated for one record on its own: its keys
// derived from it, every entry added one at a time. For must answer
// exactly as it does.
func forEach(o *Overlay, rec *records.Record) *Snapshot {
	out := NewSnapshot()
	out.Declarations = nil
	if rec == nil || rec.Body() == nil {
		return out
	}
	parties := PartiesOf(rec)
	if lic, ok := exportLicence(rec); ok {
		if l, ok := o.s.Licences[lic]; ok {
			out.Licences[lic] = l
			if l.Holder != nil {
				parties = append(parties, Party{EntityID: l.Holder.EntityID, Name: l.Holder.Name})
			}
		}
		if m, ok := o.s.Exported[lic]; ok {
			out.Exported[lic] = m
		}
	}
	for _, p := range parties {
		o.party(out, p)
	}
	for _, k := range keyedRegisters {
		var keys []string
		if k.Lookups != nil {
			keys = k.Lookups(rec)
		}
		if k.Follow != nil {
			keys = append(keys, k.Follow(rec, o.s)...)
		}
		for _, key := range keys {
			for id, v := range o.s.Keyed[k.Name][key] {
				out.AddKeyed(k.Name, key, id, v)
			}
		}
	}
	return out
}

// filled is s with an empty map for each register For found nothing in
// (and left nil), as forEach makes them: the two are one document.
func filled(s *Snapshot) *Snapshot {
	c := *s
	e := NewSnapshot()
	if c.Licences == nil {
		c.Licences = e.Licences
	}
	if c.Entities == nil {
		c.Entities = e.Entities
	}
	if c.ByID == nil {
		c.ByID = e.ByID
	}
	if c.ByName == nil {
		c.ByName = e.ByName
	}
	if c.Exported == nil {
		c.Exported = e.Exported
	}
	if c.Keyed == nil {
		c.Keyed = e.Keyed
	}
	return &c
}

// storeOf answers a read as a store holding recs does (the fixed registers
// and the keyed ones under refs; Refs describes the contract).
func storeOf(t *testing.T, recs ...*records.Record) func(context.Context, Refs) (*Snapshot, error) {
	t.Helper()
	all := NewOverlay(nil)
	for _, r := range recs {
		all.Apply(r)
	}
	return func(_ context.Context, refs Refs) (*Snapshot, error) {
		out := NewSnapshot()
		ids, names := slices.Clone(refs.EntityIDs), slices.Clone(refs.Names)
		for _, lic := range refs.Licences {
			if l, ok := all.s.Licences[lic]; ok {
				out.Licences[lic] = l
				if l.Holder != nil {
					ids = append(ids, l.Holder.EntityID)
					names = append(names, NormaliseName(l.Holder.Name))
				}
			}
			for cat, q := range all.s.Exported[lic] {
				out.AddExported(lic, cat, q)
			}
		}
		for _, id := range refs.Declarations {
			if x, ok := all.s.Declarations[id]; ok {
				out.Declarations[id] = x
			}
		}
		for _, id := range ids {
			if e, ok := all.s.Entities[id]; ok {
				out.Entities[id] = e
				names = append(names, NormaliseName(e.Name))
			}
			for _, x := range all.s.ByID[id] {
				out.AddExclusion(x)
			}
		}
		for _, n := range names {
			for _, x := range all.s.ByName[n] {
				out.AddExclusion(x)
			}
		}
		for _, k := range refs.Keyed {
			for id, v := range all.s.Keyed[k.Register][k.Key] {
				out.AddKeyed(k.Register, k.Key, id, v)
			}
		}
		return out, nil
	}
}

func decodedRec(t *testing.T, kind, id string, version int, body string) *records.Record {
	t.Helper()
	r := decoded(t, kind, id, "AL/GOV/AIM", body)
	r.Version = version
	return r
}

// batchFixture is a push of many kinds, parties named alike and
// otherwise, in Latin and Cyrillic, new versions, and the store it is
// decided against.
func batchFixture(t *testing.T) (stored, batch []*records.Record) {
	stored = []*records.Record{
		decodedRec(t, records.KindEntity, "ENT-1", 1, `{"entity_id":"L61234567A","name":"KAYO sh.a.","status":"active"}`),
		decodedRec(t, records.KindExcludedEntity, "X-1", 1, `{"entity_id":"K99","name":"Ђурић Оружје","country":"SRB","excluded_from":"2025-01-01"}`),
		decodedRec(t, records.KindExcludedEntity, "X-2", 1, `{"entity_id":"L61234567A","name":"Kayo, SH.A.","excluded_from":"2025-01-01"}`),
		decodedRec(t, records.KindDenial, "IT-DEN-1", 1, `{"denying_state":"ITA","date":"2026-05-10","criteria":[2],"destination":"SRB",
			"status":"active","end_user":{"name":"Đurić Oružje","country":"SRB"},"goods":[{"ml_category":"ML1"}]}`),
		decodedRec(t, records.KindConsultation, "AIM-CONS-1", 1, `{"denial_id":"IT-DEN-1","outcome":"proceed"}`),
		decodedRec(t, records.KindLicence, "LIC-0", 1, `{"type":"export","status":"issued","destination":"SRB",
			"holder":{"entity_id":"L61234567A","name":"KAYO sh.a."},"import_authorisation":"MK-1","end_user_certificate_id":"EUC-1",
			"transit":["MNE"],"items":[{"ml_category":"ML1","quantity":100}]}`),
		decodedRec(t, records.KindImportAuthorisation, "IA-1", 1, `{"reference":"MK-1","destination":"SRB","items":[{"ml_category":"ML1","quantity":50}]}`),
		decodedRec(t, records.KindEndUserCertificate, "EUC-1", 1, `{"end_user":{"name":"Army","country":"SRB"},"country":"SRB"}`),
		decodedRec(t, records.KindTransitAuthorisation, "TA-1", 1, `{"licence_id":"LIC-0","transit_state":"MNE"}`),
		decodedRec(t, records.KindTrackingEvent, "D-0", 1, `{"type":"EXPORT_DECLARED","licence_id":"LIC-0","quantity":7,
			"item":{"ml_category":"ML1","marking":{"country":"ALB","manufacturer":"KAYO","serial":"K1"}},"customs_declaration":"EX-1"}`),
		decodedRec(t, records.KindBrokerRegistration, "REG-1", 1, `{"broker":{"entity_id":"M015"},"registering_state":"ALB","status":"active"}`),
	}
	lic := func(id, holder, endUser string) *records.Record {
		return decodedRec(t, records.KindLicence, id, 1, `{"type":"export","status":"issued","destination":"SRB",
			"holder":{"entity_id":"L61234567A","name":"`+holder+`"},"end_user":{"name":"`+endUser+`","country":"SRB"},
			"consignee":{"name":"Kayo Trading"},"broker":{"entity_id":"M015","name":"Shqiponja","brokering_licence_id":"BRL-1"},
			"import_authorisation":"MK-1","transit":["MNE","HRV"],"items":[{"ml_category":"ML1","quantity":10},{"ml_category":"ML3","quantity":5}]}`)
	}
	batch = []*records.Record{
		lic("LIC-1", "KAYO sh.a.", "Djuric Oruzje d.o.o."),
		lic("LIC-2", "KAYO sh.a.", "Djuric Oruzje d.o.o."),
		lic("LIC-3", "Кајо ш.а.", "ĐURIĆ ORUŽJE"),
		lic("LIC-4", "Northwind Munitions", "Ministry of Defence"),
		decodedRec(t, records.KindTrackingEvent, "D-1", 1, `{"type":"EXPORT_DECLARED","licence_id":"LIC-0","quantity":3,
			"item":{"ml_category":"ML1","marking":{"country":"ALB","manufacturer":"KAYO","serial":"K2"}},"customs_declaration":"EX-2","transit":["MNE"],
			"broker":{"entity_id":"M015","name":"Shqiponja"}}`),
		decodedRec(t, records.KindTrackingEvent, "D-2", 1, `{"type":"EXPORT_DECLARED","licence_id":"LIC-1","quantity":2,
			"item":{"ml_category":"ML3"}}`),
		decodedRec(t, records.KindTrackingEvent, "D-0", 2, `{"type":"EXPORT_DECLARED","licence_id":"LIC-0","quantity":9,
			"item":{"ml_category":"ML1","marking":{"country":"ALB","manufacturer":"KAYO","serial":"K1"}},"customs_declaration":"EX-1"}`),
		decodedRec(t, records.KindTrackingEvent, "D-3", 1, `{"type":"IMPORT_DECLARED","licence_id":"LIC-0","transit":["MNE"]}`),
		decodedRec(t, records.KindTrackingEvent, "E-1", 1, `{"type":"EXIT_CONFIRMED","customs_declaration":"EX-1",
			"item":{"ml_category":"ML1","marking":{"country":"ALB","manufacturer":"KAYO","serial":"K1"}}}`),
		decodedRec(t, records.KindEntity, "ENT-1", 2, `{"entity_id":"L61234567A","name":"Kayo Holding sh.a.","status":"active"}`),
		decodedRec(t, records.KindEntity, "ENT-2", 1, `{"entity_id":"","name":"No id"}`),
		decodedRec(t, records.KindExcludedEntity, "X-3", 1, `{"entity_id":"N1","name":"Northwind Munitions Ltd","excluded_from":"2026-01-01"}`),
		decodedRec(t, records.KindEndUserCertificate, "EUC-2", 1, `{"end_user":{"entity_id":"K99","name":"Ђурић Оружје"},"country":"SRB"}`),
		decodedRec(t, records.KindDenial, "IT-DEN-2", 1, `{"denying_state":"ITA","date":"2026-05-11","destination":"SRB","status":"active",
			"goods":[{"ml_category":"ML3"}]}`),
		lic("LIC-5", "KAYO sh.a.", "Djuric Oruzje d.o.o."),
		{Kind: records.KindLicence, ID: "LIC-6", Version: 1},
	}
	return stored, batch
}

// TestBatchIsRecordByRecord: what a push reads and what each of its
// decisions is given are what deriving everything again for each record
// gives, for a batch of every kind, with names repeated and written in
// other scripts.
func TestBatchIsRecordByRecord(t *testing.T) {
	stored, batch := batchFixture(t)
	if got, want := RefsOf(batch), refsOfEach(batch); !reflect.DeepEqual(got, want) {
		t.Fatalf("RefsOf =\n%+v\nrecord by record\n%+v", got, want)
	}
	snap, err := Read(context.Background(), batch, storeOf(t, stored...))
	if err != nil {
		t.Fatal(err)
	}
	o := NewOverlay(snap)
	for _, r := range batch {
		got, want := o.For(r), forEach(o, r)
		if !reflect.DeepEqual(filled(got), want) {
			gb, _ := json.Marshal(got.Doc())
			wb, _ := json.Marshal(want.Doc())
			t.Errorf("For(%s) =\n%s\nrecord by record\n%s", r.ID, gb, wb)
		}
		o.Apply(r)
	}
}

// TestBatchMemoIsDerivation: what Read keeps of each record for the
// batch's decisions (its parties, its lookup keys, the denials its
// consultations follow, the block keys shared by records naming the same
// parties) is what deriving it again for the record alone gives.
func TestBatchMemoIsDerivation(t *testing.T) {
	stored, batch := batchFixture(t)
	snap, err := Read(context.Background(), batch, storeOf(t, stored...))
	if err != nil {
		t.Fatal(err)
	}
	bare := *snap
	bare.lookups = nil
	kept := 0
	for _, r := range batch {
		if r.Body() == nil {
			continue
		}
		if _, ok := snap.lookups[r]; ok {
			kept++
		}
		m := snap.memoOf(r)
		if want := keyedLookupsOf(r, nil, nil); !reflect.DeepEqual(m.keys, want) {
			t.Errorf("%s: kept lookups %v, derived %v", r.ID, m.keys, want)
		}
		if want := PartiesOf(r); !reflect.DeepEqual(m.parties, want) {
			t.Errorf("%s: kept parties %v, derived %v", r.ID, m.parties, want)
		}
		if got, want := snap.denialKeys(r), denialLookups(r); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: kept denial keys %v, derived %v", r.ID, got, want)
		}
		for _, k := range keyedRegisters {
			if k.Follow == nil {
				continue
			}
			if got, want := k.Follow(r, snap), k.Follow(r, &bare); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s follows %v with the memo, %v without", r.ID, k.Name, got, want)
			}
		}
	}
	if kept == 0 {
		t.Fatal("Read kept nothing for the batch")
	}
}

// TestBatchScreensEveryRecord is the attack on what the batch keeps: a
// party named by several records of one push, in one spelling or
// another, is screened for each of them, not only for the first that
// named it; and a record For is asked about that Read never saw is
// screened as well.
func TestBatchScreensEveryRecord(t *testing.T) {
	stored, batch := batchFixture(t)
	snap, err := Read(context.Background(), batch, storeOf(t, stored...))
	if err != nil {
		t.Fatal(err)
	}
	o := NewOverlay(snap)
	late := decodedRec(t, records.KindLicence, "LIC-9", 1, `{"destination":"SRB","holder":{"name":"kayo SH A"},
		"end_user":{"name":"Djuric-Oruzje"}}`)
	for _, r := range append(slices.Clone(batch[:3]), batch[len(batch)-2], late) {
		s := o.For(r)
		if _, ok := s.Keyed[RegisterExcludedNames]["dj"]["X-1"]; !ok {
			t.Errorf("%s: the excluded entity Ђурић Оружје is not screened: %v", r.ID, s.Keyed[RegisterExcludedNames])
		}
		if _, ok := s.ByName["kayo sh a"]["X-2"]; !ok {
			t.Errorf("%s: the exclusion of the holder's name is missing: %v", r.ID, s.ByName)
		}
		if _, ok := s.ByID["L61234567A"]["X-2"]; !ok && r != late {
			t.Errorf("%s: the exclusion of the holder's id is missing: %v", r.ID, s.ByID)
		}
	}
}

// TestForKeepsWhatItGave: what For gave a record's decision stays as it
// was when later records of the batch change the same keys.
func TestForKeepsWhatItGave(t *testing.T) {
	stored, batch := batchFixture(t)
	snap, err := Read(context.Background(), batch, storeOf(t, stored...))
	if err != nil {
		t.Fatal(err)
	}
	o := NewOverlay(snap)
	lic := batch[0]
	before := o.For(lic)
	want, _ := json.Marshal(before.Doc())
	o.Apply(lic)
	// Another exclusion under "dj", X-1 renamed (off "dj"), and the
	// licence's own conditions replaced by a new version.
	o.Apply(decodedRec(t, records.KindExcludedEntity, "X-7", 1, `{"entity_id":"K7","name":"Djuro","excluded_from":"2025-01-01"}`))
	o.Apply(decodedRec(t, records.KindExcludedEntity, "X-1", 2, `{"entity_id":"K99","name":"Other Name","excluded_from":"2025-01-01"}`))
	v2 := decodedRec(t, records.KindLicence, lic.ID, 2, `{"type":"export","import_authorisation":"MK-2"}`)
	o.Apply(v2)
	if got, _ := json.Marshal(before.Doc()); string(got) != string(want) {
		t.Errorf("the first decision's registers changed:\n%s\nwere\n%s", got, want)
	}
	after := o.For(lic)
	if _, ok := after.Keyed[RegisterExcludedNames]["dj"]["X-1"]; ok {
		t.Errorf("a renamed exclusion is still under its old key: %v", after.Keyed[RegisterExcludedNames])
	}
	if _, ok := after.Keyed[RegisterExcludedNames]["dj"]["X-7"]; !ok {
		t.Errorf("the batch's new exclusion is missing: %v", after.Keyed[RegisterExcludedNames])
	}
}
