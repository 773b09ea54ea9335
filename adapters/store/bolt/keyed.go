package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/ura-gateway/ura/adapters/store/internal/recdoc"
	"github.com/ura-gateway/ura/gateway/jsonstr"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
)

// The keyed registers (registers.Keyed), in three buckets:
//
//	reg_keyed     len(register) register len(key) key record id → version (uint32) value
//	reg_keyed_rec record id                                     → [[register, key], …]
//	reg_keyed_ver register                                      → version of its derivation (uint32)
var (
	bRegKeyed    = []byte("reg_keyed")
	bRegKeyedRec = []byte("reg_keyed_rec")
	bRegKeyedVer = []byte("reg_keyed_ver")
)

func keyedKey(register, key, id string) []byte {
	return appendKeyedKey(nil, register, key, id)
}

func appendKeyedKey(b []byte, register, key, id string) []byte {
	return append(lp(lp(b, register), key), id...)
}

// indexKeyed replaces what an earlier version of rec put on the keyed
// registers with what rec puts there. first says no version of rec is
// stored: then it has no owner entry either (both are written in one
// transaction), and looking for one would be a seek for nothing.
func indexKeyed(w *wtx, rec *records.Record, first bool) error {
	if !registers.HasKeyed() {
		return nil
	}
	entries, owners := w.keyed, w.keyedRec
	var old []byte
	if !first {
		old = bytes.Clone(owners.Get([]byte(rec.ID)))
	}
	if old != nil {
		var refs [][2]string
		if err := json.Unmarshal(old, &refs); err != nil {
			return fmt.Errorf("corrupt keyed register owner %s: %w", rec.ID, err)
		}
		for _, r := range refs {
			w.key = appendKeyedKey(w.key[:0], r[0], r[1], rec.ID)
			if err := entries.Delete(w.key); err != nil {
				return err
			}
		}
	}
	rows, err := registers.KeyedOf(rec, nil)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		if old == nil {
			return nil
		}
		return owners.Delete([]byte(rec.ID))
	}
	if err := putKeyed(entries, &w.key, w, rec, rows); err != nil {
		return err
	}
	raw, err := marshalRefs(w, rows)
	if err != nil {
		return err
	}
	// A new version mostly sits under the keys its last one did: left as
	// it is, the owner's page (and the branch pages above it) is not
	// rewritten by the commit.
	if bytes.Equal(raw, old) {
		return nil
	}
	w.key = append(w.key[:0], rec.ID...)
	return owners.Put(w.key, raw)
}

// putKeyed writes rec's rows, building each key in *scratch. The values,
// which bbolt holds until the commit, share one block: w's arena (nil: an
// allocation of their own).
func putKeyed(entries *bbolt.Bucket, scratch *[]byte, w *wtx, rec *records.Record, rows []registers.KeyedRow) error {
	n := 0
	for _, r := range rows {
		n += 4 + len(r.Value)
	}
	var vals []byte
	if w != nil {
		// n is exactly what the rows take: they stay in the room tail
		// gives, and keep takes them all out of the arena at once.
		vals = w.keep(append(w.tail(n), make([]byte, n)...))[:0]
	} else {
		vals = make([]byte, 0, n)
	}
	for _, r := range rows {
		start := len(vals)
		vals = append(binary.BigEndian.AppendUint32(vals, uint32(rec.Version)), r.Value...)
		*scratch = appendKeyedKey((*scratch)[:0], r.Register, r.Key, rec.ID)
		if err := entries.Put(*scratch, vals[start:len(vals):len(vals)]); err != nil {
			return err
		}
	}
	return nil
}

// refsOf is the owner entry of rows: [[register, key], …].
func refsOf(rows []registers.KeyedRow) [][2]string {
	refs := make([][2]string, 0, len(rows))
	for _, r := range rows {
		refs = append(refs, [2]string{r.Register, r.Key})
	}
	return refs
}

// marshalRefs is json.Marshal(refsOf(rows)), byte for byte
// (TestMarshalRefs), written without its reflection.
func marshalRefs(w *wtx, rows []registers.KeyedRow) ([]byte, error) {
	n := 2
	for _, r := range rows {
		n += len(r.Register) + len(r.Key) + 8
	}
	var b []byte
	if w != nil {
		b = w.tail(n)
	} else {
		b = make([]byte, 0, n)
	}
	b = append(b, '[')
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(jsonstr.AppendHTML(append(b, '['), r.Register), ',')
		b = append(jsonstr.AppendHTML(b, r.Key), ']')
	}
	b = append(b, ']')
	if w != nil {
		b = w.keep(b)
	}
	return b, nil
}

// scanKeyed calls fn for each entry of b (the reg_keyed bucket) under
// register and key (key nil: every key of the register), in key and record
// id order. The bucket is the caller's: in a read transaction bbolt does
// not keep the handles it opens, so each lookup would seek the root again.
func scanKeyed(b *bbolt.Bucket, register string, key *string, fn func(key, id string, v registers.KeyedValue) error) error {
	prefix := lp(nil, register)
	head := len(prefix)
	if key != nil {
		prefix = lp(prefix, *key)
	}
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		rest := k[head:]
		n, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < n || len(v) < 4 {
			return fmt.Errorf("corrupt keyed register entry in %s", register)
		}
		kk, id := string(rest[w:w+int(n)]), string(rest[w+int(n):])
		val := registers.KeyedValue{Version: int(binary.BigEndian.Uint32(v)), Value: json.RawMessage(bytes.Clone(v[4:]))}
		if err := fn(kk, id, val); err != nil {
			return err
		}
	}
	return nil
}

// readKeyed adds the entries of refs' keyed register keys to out.
func readKeyed(tx *bbolt.Tx, refs []registers.KeyRef, out *registers.Snapshot) error {
	if len(refs) == 0 {
		return nil
	}
	b := tx.Bucket(bRegKeyed)
	for _, r := range refs {
		key := r.Key
		err := scanKeyed(b, r.Register, &key, func(k, id string, v registers.KeyedValue) error {
			out.AddKeyed(r.Register, k, id, v)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ScanKeyed calls fn for every entry of one keyed register, in key and
// record id order, in one read transaction.
func (s *Store) ScanKeyed(ctx context.Context, register string, fn func(key, recordID string, value json.RawMessage) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bbolt.Tx) error {
		return scanKeyed(tx.Bucket(bRegKeyed), register, nil, func(k, id string, v registers.KeyedValue) error {
			return fn(k, id, v.Value)
		})
	})
}

// syncKeyed rebuilds, at Open, each keyed register this gateway derives with
// a newer version than the file's entries were written by (or never had):
// its entries are dropped, then every stored record is read again, a chunk
// per write transaction; the register's version is written last, so an
// interrupted rebuild starts over at the next Open.
func syncKeyed(db *bbolt.DB) error {
	stale := map[string]bool{}
	want := registers.KeyedVersions()
	err := db.Update(func(tx *bbolt.Tx) error {
		ver := tx.Bucket(bRegKeyedVer)
		for name, v := range want {
			have := ver.Get([]byte(name))
			if len(have) == 4 && int(binary.BigEndian.Uint32(have)) >= v {
				continue
			}
			stale[name] = true
			if err := ver.Delete([]byte(name)); err != nil {
				return err
			}
			var dead [][]byte
			err := scanKeyed(tx.Bucket(bRegKeyed), name, nil, func(k, id string, _ registers.KeyedValue) error {
				dead = append(dead, keyedKey(name, k, id))
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range dead {
				if err := tx.Bucket(bRegKeyed).Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil || len(stale) == 0 {
		return err
	}
	var after, scratch []byte
	for {
		done := false
		err := db.Update(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bRecords).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			entries, owners := tx.Bucket(bRegKeyed), tx.Bucket(bRegKeyedRec)
			for n := 0; k != nil && n < backfillChunk; k, v = c.Next() {
				after = bytes.Clone(k)
				n++
				_, raw, err := decodeMeta(v)
				if err != nil {
					return err
				}
				rec, err := recdoc.Decode(bytes.Clone(raw))
				if err != nil {
					return err
				}
				rows, err := registers.KeyedOf(rec, stale)
				if err != nil {
					return err
				}
				if len(rows) == 0 {
					continue
				}
				if err := putKeyed(entries, &scratch, nil, rec, rows); err != nil {
					return err
				}
				refs := refsOf(rows)
				var old [][2]string
				if _, err := getJSON(owners, []byte(rec.ID), &old); err != nil {
					return err
				}
				kept := old[:0]
				for _, r := range old {
					if !stale[r[0]] {
						kept = append(kept, r)
					}
				}
				if err := putJSON(owners, []byte(rec.ID), append(kept, refs...)); err != nil {
					return err
				}
			}
			if k != nil {
				return nil
			}
			done = true
			ver := tx.Bucket(bRegKeyedVer)
			for name := range stale {
				if err := ver.Put([]byte(name), binary.BigEndian.AppendUint32(nil, uint32(want[name]))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || done {
			return err
		}
	}
}
