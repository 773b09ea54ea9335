package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/internal/regindex"
)

// Customs usage batches (ARCHITECTURE.md, "Customs usage"):
//
//	usage_batches  len(member) member key        → usageBatch (digest, answer)
//	usage_lines    len(member) member len(key) key line(4) → the line applied
//	usage_used     len(licence) licence category  → quantity used (int64)
//
// A batch is applied in one write transaction: bbolt's single writer is the
// lock on every licence it uses, and the idempotency record, the lines and
// the sums commit together or not at all. Adding these buckets changes
// nothing an older file holds, so the file format stays 2.
var (
	bUsageBatches = []byte("usage_batches")
	bUsageLines   = []byte("usage_lines")
	bUsageUsed    = []byte("usage_used")

	usageBuckets = [][]byte{bUsageBatches, bUsageLines, bUsageUsed}
)

type usageBatch struct {
	Digest string          `json:"digest"`
	Answer json.RawMessage `json:"answer"`
}

func usedIn(tx *bbolt.Tx, lic, cat string) int64 {
	v := tx.Bucket(bUsageUsed).Get(exportedKey(lic, cat))
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// ApplyUsage applies a batch once (see store.UsageStore).
func (s *Store) ApplyUsage(ctx context.Context, b store.UsageBatch) (store.UsageOutcome, error) {
	if err := ctx.Err(); err != nil {
		return store.UsageOutcome{}, err
	}
	var out store.UsageOutcome
	err := s.db.Update(func(tx *bbolt.Tx) error {
		key := lp(lp(nil, b.Member), b.Key)
		var prior usageBatch
		ok, err := getJSON(tx.Bucket(bUsageBatches), key, &prior)
		if err != nil {
			return err
		}
		if ok {
			if prior.Digest != b.Digest {
				return store.ErrIdempotencyMismatch
			}
			if err := json.Unmarshal(prior.Answer, &out); err != nil {
				return fmt.Errorf("embedded store: corrupt usage batch: %w", err)
			}
			out.Replayed = true
			return nil
		}
		out = store.UsageOutcome{Applied: []int{}, Rejected: append([]store.UsageRejection{}, b.Rejected...)}
		skip := map[int]bool{}
		for _, r := range b.Rejected {
			skip[r.Line] = true
		}
		for i, l := range b.Lines {
			if skip[i] {
				continue
			}
			lic, err := licenceIn(tx, l.LicenceID)
			if err != nil {
				return err
			}
			used := usedIn(tx, l.LicenceID, l.Category)
			if code, msg, ok := regindex.CheckUsage(l, lic, used); !ok {
				out.Rejected = append(out.Rejected, store.UsageRejection{Line: i, Code: code, Message: msg})
				continue
			}
			if err := tx.Bucket(bUsageUsed).Put(exportedKey(l.LicenceID, l.Category), binary.BigEndian.AppendUint64(nil, uint64(used+l.Quantity))); err != nil {
				return err
			}
			if err := putJSON(tx.Bucket(bUsageLines), binary.BigEndian.AppendUint32(bytes.Clone(key), uint32(i)), l); err != nil {
				return err
			}
			out.Applied = append(out.Applied, i)
		}
		store.SortRejections(out.Rejected)
		answer, err := store.MarshalOutcome(out)
		if err != nil {
			return err
		}
		return putJSON(tx.Bucket(bUsageBatches), key, usageBatch{Digest: b.Digest, Answer: answer})
	})
	if err != nil {
		return store.UsageOutcome{}, err
	}
	return out, nil
}

// Usage is a licence's usage per category (see store.UsageStore).
func (s *Store) Usage(ctx context.Context, licenceID string) (store.LicenceUsage, error) {
	if err := ctx.Err(); err != nil {
		return store.LicenceUsage{}, err
	}
	var out store.LicenceUsage
	err := s.db.View(func(tx *bbolt.Tx) error {
		lic, err := licenceIn(tx, licenceID)
		if err != nil {
			return err
		}
		if lic == nil {
			return store.ErrNotFound
		}
		used := map[string]int64{}
		prefix := lp(nil, licenceID)
		c := tx.Bucket(bUsageUsed).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) == 8 {
				used[string(k[len(prefix):])] = int64(binary.BigEndian.Uint64(v))
			}
		}
		out = regindex.UsageOf(lic, used)
		return nil
	})
	return out, err
}
