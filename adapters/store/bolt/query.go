package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"

	bbolt "go.etcd.io/bbolt"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/internal/recdoc"
	"github.com/ura-gateway/ura/gateway/records"
)

// Scan sizes. A read transaction pins the pages it sees, and bbolt cannot
// grow (remap) the file while one is open, so a scan reads at most this much
// per transaction and calls the consumer outside it: a slow consumer never
// holds a read transaction, and memory stays bounded by one batch.
const (
	batchRecords = 256
	batchScanned = 4096
)

type hit = recdoc.Hit

// plan picks the index that narrows q the most. covered means the index
// entry alone proves a match, so the record's meta need not be decoded.
func plan(q *store.Query) (bucket, prefix []byte, covered bool) {
	n := 0
	for _, set := range []bool{q.Kind != "", q.Originator != "", q.LicenceID != "", q.Marking != nil} {
		if set {
			n++
		}
	}
	covered = n <= 1 && q.Since.IsZero()
	switch {
	case q.Marking != nil:
		return bMarking, markingPrefix(q.Marking), covered
	case q.LicenceID != "":
		return bLicence, lp(nil, q.LicenceID), covered
	case q.Originator != "":
		return bOriginator, lp(nil, q.Originator), covered
	case q.Kind != "":
		return bKind, lp(nil, q.Kind), covered
	}
	return bSeq, nil, covered
}

// Query streams matching records in the order they were stored.
func (s *Store) Query(ctx context.Context, q store.Query, fn func(rec *records.Record, cursor string) error) error {
	after, err := store.DecodeCursor(q.After)
	if err != nil {
		return err
	}
	bucket, prefix, covered := plan(&q)
	sent := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		want := batchRecords
		if q.Limit > 0 && q.Limit-sent < want {
			want = q.Limit - sent
		}
		hits, last, done, err := s.scan(&q, bucket, prefix, covered, after, want)
		if err != nil {
			return err
		}
		n, err := recdoc.Emit(ctx, hits, fn)
		if sent += n; err != nil {
			return err
		}
		if done || (q.Limit > 0 && sent >= q.Limit) {
			return nil
		}
		after = last
	}
}

// scan reads one batch behind after in its own read transaction. last is the
// last sequence looked at (matched or not); done means the index is exhausted.
func (s *Store) scan(q *store.Query, bucket, prefix []byte, covered bool, after uint64, want int) (hits []hit, last uint64, done bool, err error) {
	if after == math.MaxUint64 {
		return nil, after, true, nil
	}
	last = after
	err = s.db.View(func(tx *bbolt.Tx) error {
		recs := tx.Bucket(bRecords)
		c := tx.Bucket(bucket).Cursor()
		start := append(bytes.Clone(prefix), seqKey(after+1)...)
		scanned := 0
		for k, v := c.Seek(start); ; k, v = c.Next() {
			if k == nil || !bytes.HasPrefix(k, prefix) {
				done = true
				return nil
			}
			if len(k) != len(prefix)+8 {
				return fmt.Errorf("embedded store: malformed index key in %s", bucket)
			}
			seq := binary.BigEndian.Uint64(k[len(prefix):])
			last = seq
			val := recs.Get(v)
			if val == nil {
				return fmt.Errorf("embedded store: index %s names missing record %q", bucket, v)
			}
			// Index entries are removed when a record gets a new
			// version, so every entry names a latest version.
			if covered {
				_, raw, err := splitValue(val)
				if err != nil {
					return err
				}
				hits = append(hits, hit{Seq: seq, Raw: bytes.Clone(raw)})
			} else {
				m, raw, err := decodeMeta(val)
				if err != nil {
					return err
				}
				if ix := m.index(); ix.Matches(q) {
					hits = append(hits, hit{Seq: seq, Raw: bytes.Clone(raw)})
				}
			}
			scanned++
			if len(hits) >= want || scanned >= batchScanned {
				return nil
			}
		}
	})
	return hits, last, done, err
}
