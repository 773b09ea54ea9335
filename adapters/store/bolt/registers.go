package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	bbolt "go.etcd.io/bbolt"

	"github.com/ura-gateway/ura/adapters/store/internal/recdoc"
	"github.com/ura-gateway/ura/adapters/store/internal/regindex"
	"github.com/ura-gateway/ura/gateway/jsonstr"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
)

// The register indexes (registers.Of), written in the transaction that
// stores each record:
//
//	reg_licences   licence id                   → regLicence
//	reg_entities   entity id                    → regEntity (the last stored wins)
//	reg_entity_rec entity record id             → entity id
//	reg_excl_id    len(entity id) id record id  → regExclusion
//	reg_excl_name  len(name) name record id     → regExclusion
//	reg_excl_rec   exclusion record id          → regExclusion
//	reg_decl       declaration record id        → regExport
//	reg_exported   len(licence) licence category → quantity (int64)
var (
	bRegLicences  = []byte("reg_licences")
	bRegEntities  = []byte("reg_entities")
	bRegEntityRec = []byte("reg_entity_rec")
	bRegExclID    = []byte("reg_excl_id")
	bRegExclName  = []byte("reg_excl_name")
	bRegExclRec   = []byte("reg_excl_rec")
	bRegDecl      = []byte("reg_decl")
	bRegExported  = []byte("reg_exported")

	regBuckets = [][]byte{bRegLicences, bRegEntities, bRegEntityRec, bRegExclID, bRegExclName, bRegExclRec, bRegDecl, bRegExported}
)

// The stored forms carry what registers' JSON tags leave out of the policy's
// view: ids and versions.
type regLicence struct {
	Version int `json:"v"`
	registers.Licence
}

type regEntity struct {
	Version  int    `json:"v"`
	EntityID string `json:"e"`
	registers.Entity
}

type regExclusion struct {
	Version  int    `json:"v"`
	EntityID string `json:"e,omitempty"`
	Name     string `json:"n,omitempty"`
	registers.Exclusion
}

func (x *regExclusion) exclusion() *registers.Exclusion {
	e := x.Exclusion
	e.Version, e.EntityID, e.Name = x.Version, x.EntityID, x.Name
	return &e
}

func getJSON(b *bbolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("embedded store: corrupt register entry: %w", err)
	}
	return true, nil
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// putLicence stores l as putJSON would, byte for byte
// (TestAppendLicenceIsMarshal), without json.Marshal's reflection: every
// licence a push stores passes here.
func putLicence(w *wtx, b *bbolt.Bucket, key []byte, l *regLicence) error {
	return b.Put(key, w.keep(appendLicence(w.tail(256+16*len(l.Items)), l)))
}

// appendLicence appends l as json.Marshal writes it, its strings escaped
// as json.Marshal escapes them (jsonstr.AppendHTML).
func appendLicence(b []byte, l *regLicence) []byte {
	str := func(s string) { b = jsonstr.AppendHTML(b, s) }
	b = strconv.AppendInt(append(b, `{"v":`...), int64(l.Version), 10)
	b = append(b, `,"originator":`...)
	str(l.Originator)
	b = append(b, `,"type":`...)
	str(l.Type)
	b = append(b, `,"status":`...)
	str(l.Status)
	b = append(b, `,"valid_from":`...)
	str(l.ValidFrom)
	b = append(b, `,"valid_until":`...)
	str(l.ValidUntil)
	b = append(b, `,"destination":`...)
	str(l.Destination)
	if h := l.Holder; h != nil {
		b = append(b, `,"holder":{"entity_id":`...)
		str(h.EntityID)
		b = append(b, `,"name":`...)
		str(h.Name)
		b = append(b, '}')
	}
	b = append(b, `,"items":`...)
	if l.Items == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		for i, cat := range slices.Sorted(maps.Keys(l.Items)) {
			if i > 0 {
				b = append(b, ',')
			}
			str(cat)
			b = strconv.AppendInt(append(b, ':'), l.Items[cat], 10)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func exportedKey(lic, cat string) []byte { return append(lp(nil, lic), cat...) }

func exportedIn(tx *bbolt.Tx, lic, cat string) int64 {
	v := tx.Bucket(bRegExported).Get(exportedKey(lic, cat))
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func addExported(tx *bbolt.Tx, lic, cat string, q int64) error {
	b, key := tx.Bucket(bRegExported), exportedKey(lic, cat)
	n := exportedIn(tx, lic, cat) + q
	if n <= 0 {
		return b.Delete(key)
	}
	return b.Put(key, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

func licenceIn(tx *bbolt.Tx, id string) (*registers.Licence, error) {
	return licenceOf(tx.Bucket(bRegLicences), id)
}

func licenceOf(b *bbolt.Bucket, id string) (*registers.Licence, error) {
	var l regLicence
	ok, err := getJSON(b, []byte(id), &l)
	if !ok || err != nil {
		return nil, err
	}
	lic := l.Licence
	lic.ID, lic.Version = id, l.Version
	return &lic, nil
}

func declarationIn(tx *bbolt.Tx, id string) (*registers.Export, error) {
	return declarationOf(tx.Bucket(bRegDecl), id)
}

func declarationOf(b *bbolt.Bucket, id string) (*registers.Export, error) {
	var x registers.Export
	ok, err := getJSON(b, []byte(id), &x)
	if !ok || err != nil {
		return nil, err
	}
	return &x, nil
}

// checkExport refuses an export declaration its licence does not allow,
// against the indexes as this write transaction sees them (bbolt's single
// writer is the lock).
func checkExport(tx *bbolt.Tx, e registers.Entries) error {
	if e.Export == nil {
		return nil
	}
	x := *e.Export
	lic, err := licenceIn(tx, x.Licence)
	if err != nil {
		return err
	}
	prev, err := declarationIn(tx, x.RecordID)
	if err != nil {
		return err
	}
	return regindex.CheckExport(x, lic, exportedIn(tx, x.Licence, x.Category), prev)
}

// index writes a stored record's register entries. The store accepts only
// a newer version of a record, so each entry replaces its older version.
// id is rec.ID as bytes, which the caller has already made.
func index(w *wtx, rec *records.Record, id []byte, e registers.Entries) error {
	tx := w.tx
	switch {
	case e.Licence != nil:
		return putLicence(w, tx.Bucket(bRegLicences), id, &regLicence{Version: rec.Version, Licence: *e.Licence})
	case e.Entity != nil:
		ents, recs := tx.Bucket(bRegEntities), tx.Bucket(bRegEntityRec)
		if old := recs.Get(id); old != nil && string(old) != e.Entity.EntityID {
			var cur regEntity
			if ok, err := getJSON(ents, old, &cur); err != nil {
				return err
			} else if ok && cur.RecordID == rec.ID {
				if err := ents.Delete(bytes.Clone(old)); err != nil {
					return err
				}
			}
		}
		if err := recs.Put(id, []byte(e.Entity.EntityID)); err != nil {
			return err
		}
		return putJSON(ents, []byte(e.Entity.EntityID), regEntity{Version: rec.Version, EntityID: e.Entity.EntityID, Entity: *e.Entity})
	case e.Exclusion != nil:
		x := e.Exclusion
		recs := tx.Bucket(bRegExclRec)
		var old regExclusion
		if ok, err := getJSON(recs, id, &old); err != nil {
			return err
		} else if ok {
			if err := exclusionKeys(tx, &old, rec.ID, func(b *bbolt.Bucket, k []byte) error { return b.Delete(k) }); err != nil {
				return err
			}
		}
		now := regExclusion{Version: rec.Version, EntityID: x.EntityID, Name: x.Name, Exclusion: *x}
		if err := putJSON(recs, id, now); err != nil {
			return err
		}
		return exclusionKeys(tx, &now, rec.ID, func(b *bbolt.Bucket, k []byte) error { return putJSON(b, k, now) })
	case e.Event:
		decl := tx.Bucket(bRegDecl)
		prev, err := declarationIn(tx, rec.ID)
		if err != nil {
			return err
		}
		if prev != nil {
			if err := addExported(tx, prev.Licence, prev.Category, -prev.Quantity); err != nil {
				return err
			}
			if err := decl.Delete(id); err != nil {
				return err
			}
		}
		if x := e.Export; x != nil {
			if err := addExported(tx, x.Licence, x.Category, x.Quantity); err != nil {
				return err
			}
			return putJSON(decl, id, x)
		}
	}
	return nil
}

func exclusionKeys(tx *bbolt.Tx, x *regExclusion, id string, fn func(*bbolt.Bucket, []byte) error) error {
	if x.EntityID != "" {
		if err := fn(tx.Bucket(bRegExclID), append(lp(nil, x.EntityID), id...)); err != nil {
			return err
		}
	}
	if x.Name != "" {
		return fn(tx.Bucket(bRegExclName), append(lp(nil, x.Name), id...))
	}
	return nil
}

// Registers reads what refs name in one read transaction (see
// registers.Refs).
func (s *Store) Registers(ctx context.Context, refs registers.Refs) (*registers.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := registers.NewSnapshot()
	err := s.db.View(func(tx *bbolt.Tx) error {
		if err := readKeyed(tx, refs.Keyed, out); err != nil {
			return err
		}
		// One handle per bucket for the whole read, looked up only when
		// there is something to read in it: bbolt keeps none in a read
		// transaction, so each lookup seeks the root and opens the bucket.
		var lics, exported, decls, ents, exclID, exclName *bbolt.Bucket
		if len(refs.Licences) > 0 {
			lics, exported = tx.Bucket(bRegLicences), tx.Bucket(bRegExported)
		}
		if len(refs.Declarations) > 0 {
			decls = tx.Bucket(bRegDecl)
		}
		ids := append([]string(nil), refs.EntityIDs...)
		names := append([]string(nil), refs.Names...)
		for _, id := range refs.Licences {
			l, err := licenceOf(lics, id)
			if err != nil {
				return err
			}
			if l != nil {
				out.Licences[id] = l
				if l.Holder != nil {
					ids = append(ids, l.Holder.EntityID)
					names = append(names, registers.NormaliseName(l.Holder.Name))
				}
			}
			prefix := lp(nil, id)
			c := exported.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				if len(v) == 8 {
					out.AddExported(id, string(k[len(prefix):]), int64(binary.BigEndian.Uint64(v)))
				}
			}
		}
		for _, id := range refs.Declarations {
			x, err := declarationOf(decls, id)
			if err != nil {
				return err
			}
			if x != nil {
				out.Declarations[id] = x
			}
		}
		if len(ids) > 0 {
			ents, exclID = tx.Bucket(bRegEntities), tx.Bucket(bRegExclID)
		}
		for _, id := range ids {
			if id == "" {
				continue
			}
			var e regEntity
			ok, err := getJSON(ents, []byte(id), &e)
			if err != nil {
				return err
			}
			if ok {
				ent := e.Entity
				ent.Version, ent.EntityID = e.Version, e.EntityID
				out.Entities[id] = &ent
				names = append(names, registers.NormaliseName(ent.Name))
			}
			if err := scanExclusions(exclID, id, out); err != nil {
				return err
			}
		}
		if len(names) > 0 {
			exclName = tx.Bucket(bRegExclName)
		}
		for _, n := range names {
			if n == "" {
				continue
			}
			if err := scanExclusions(exclName, n, out); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded store: registers: %w", err)
	}
	return out, nil
}

func scanExclusions(b *bbolt.Bucket, key string, out *registers.Snapshot) error {
	prefix := lp(nil, key)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var x regExclusion
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("corrupt register entry: %w", err)
		}
		out.AddExclusion(x.exclusion())
	}
	return nil
}

// backfillChunk is how many records one back-fill transaction indexes: a
// write transaction keeps its dirty pages in memory until it commits.
const backfillChunk = 5000

// backfill indexes every record of a file written before the register
// indexes existed, a chunk per transaction, resuming behind the last id
// indexed (meta keyBackfill) if it was interrupted. It runs once, at Open,
// before any write.
func backfill(db *bbolt.DB) error {
	for {
		done := false
		err := db.Update(func(tx *bbolt.Tx) error {
			w := begin(tx)
			m := tx.Bucket(bMeta)
			after := m.Get(keyBackfill)
			c := tx.Bucket(bRecords).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			var last []byte
			for n := 0; k != nil && n < backfillChunk; k, v = c.Next() {
				mt, raw, err := decodeMeta(v)
				if err != nil {
					return err
				}
				last = k
				switch mt.Kind {
				case records.KindLicence, records.KindEntity, records.KindExcludedEntity, records.KindTrackingEvent:
				default:
					continue
				}
				rec, err := recdoc.Decode(bytes.Clone(raw))
				if err != nil {
					return err
				}
				if err := index(w, rec, []byte(rec.ID), registers.Of(rec)); err != nil {
					return err
				}
				n++
			}
			if k == nil {
				done = true
				if err := m.Delete(keyBackfill); err != nil {
					return err
				}
				return m.Put(keyFormat, binary.BigEndian.AppendUint32(nil, formatVersion))
			}
			return m.Put(keyBackfill, bytes.Clone(last))
		})
		if err != nil || done {
			return err
		}
	}
}
