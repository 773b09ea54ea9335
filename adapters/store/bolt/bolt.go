// Package bolt is the embedded register store: one bbolt file under var/, so
// a gateway (and `make demo`) needs no database server.
//
// Layout, one bucket each:
//
//	records   id                      → latest version (meta + raw JSON)
//	versions  len(id) id version(4)   → every version ever stored, same encoding
//	seq       seq(8)                  → id, one entry per record: its latest version
//	ix_kind, ix_originator, ix_licence, ix_marking
//	          len(value) value seq(8) → id
//	reg_*     the registers the policy reads (registers.go), written in
//	          the transaction that stores each record
//	releases  id                      → a release request (releases.go)
//	ix_release record_id 0 version(4) recipient 0 id → nil
//
// The sequence is the order records were stored in and the cursor callers
// resume from. A new version takes a new sequence number and its old index
// entries are removed, so a scan returns each record once, as its latest
// version, and a cursor handed out earlier stays valid.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/internal/recdoc"
	"github.com/ura-gateway/ura/gateway/groupcommit"
	"github.com/ura-gateway/ura/gateway/jsonstr"
	"github.com/ura-gateway/ura/gateway/records"
)

var (
	bRecords    = []byte("records")
	bVersions   = []byte("versions")
	bSeq        = []byte("seq")
	bKind       = []byte("ix_kind")
	bOriginator = []byte("ix_originator")
	bLicence    = []byte("ix_licence")
	bMarking    = []byte("ix_marking")
	bMeta       = []byte("meta")

	allBuckets = append(append([][]byte{bRecords, bVersions, bSeq, bKind, bOriginator, bLicence, bMarking, bMeta, bRegKeyed, bRegKeyedRec, bRegKeyedVer, bReleases, bReleaseIx}, regBuckets...), usageBuckets...)

	keyFormat = []byte("format")
	// keyBackfill is the last record id the back-fill of the register
	// indexes reached, while it runs.
	keyBackfill = []byte("registers_backfill")
)

// formatVersion is written into the file so that a later layout change can
// recognise (and migrate) an older file instead of misreading it. Version 2
// added the register indexes (registers.go); a version 1 file gets them at
// Open, and a gateway that knows only version 1 refuses the file rather
// than store records without them.
const (
	formatVersion        = 2
	formatBeforeRegister = 1
)

// Options tune Open.
type Options struct {
	// Timeout bounds the wait for the file lock another process holds;
	// zero waits 5 s. bbolt allows one writer process per file.
	Timeout time.Duration
	// MaxGroup caps how many concurrent Puts are committed in one
	// transaction (one fsync); zero means 256.
	MaxGroup int
}

// Store is the embedded store.
type Store struct {
	db       *bbolt.DB
	maxGroup int

	// writes carries Puts to the single writer goroutine, which commits
	// whatever is queued in one transaction: concurrent pushes share one
	// fsync instead of waiting for each other's.
	writes *groupcommit.Queue[*writeReq]
	wg     sync.WaitGroup
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the store file at path (mode 0600, its directory
// 0700: the file holds every record the gateway accepted).
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.MaxGroup <= 0 {
		opts.MaxGroup = 256
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: opts.Timeout,
		// The hashmap freelist stays fast as the file grows over the years
		// records must be kept.
		FreelistType: bbolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("embedded store %s: locked by another process: %w", path, err)
		}
		return nil, fmt.Errorf("embedded store %s: %w", path, err)
	}
	needBackfill := false
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		m := tx.Bucket(bMeta)
		if v := m.Get(keyFormat); v != nil {
			switch {
			case len(v) == 4 && binary.BigEndian.Uint32(v) == formatVersion:
			case len(v) == 4 && binary.BigEndian.Uint32(v) == formatBeforeRegister:
				needBackfill = true
			default:
				return fmt.Errorf("file format %x is not %d", v, formatVersion)
			}
			return nil
		}
		return m.Put(keyFormat, binary.BigEndian.AppendUint32(nil, formatVersion))
	})
	if err == nil && needBackfill {
		err = backfill(db)
	}
	if err == nil {
		err = syncKeyed(db)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("embedded store %s: %w", path, err)
	}
	s := &Store{db: db, maxGroup: opts.MaxGroup, writes: groupcommit.NewQueue[*writeReq](opts.MaxGroup)}
	s.wg.Add(1)
	go s.writer()
	return s, nil
}

// DB is the store's file, for an outbox that keeps its queues there
// (adapters/upstream, Options.DB): its buckets are its own, and a push's
// entries reach them as the Follow writes of the PutBatch that stores its
// records, in the same transaction.
func (s *Store) DB() *bbolt.DB { return s.db }

// Path is the file the store lives in.
func (s *Store) Path() string { return s.db.Path() }

// meta is kept beside each stored version so that queries filter without
// decoding the record.
type meta struct {
	Kind       string         `json:"k"`
	Version    int            `json:"v"`
	Seq        uint64         `json:"s"`
	Originator string         `json:"o"`
	Created    time.Time      `json:"c"`
	LicenceID  string         `json:"l,omitempty"`
	Marking    *store.Marking `json:"m,omitempty"`
	Stored     time.Time      `json:"t"`
}

func (m *meta) index() recdoc.Index {
	return recdoc.Index{Kind: m.Kind, Originator: m.Originator, Created: m.Created, LicenceID: m.LicenceID, Marking: m.Marking}
}

// encodeValue: uvarint(len(meta)) meta raw.
func encodeValue(m *meta, raw []byte) ([]byte, error) {
	return appendValue(nil, m, raw)
}

// appendValue appends encodeValue(m, raw) to dst.
func appendValue(dst []byte, m *meta, raw []byte) ([]byte, error) {
	var buf [256]byte
	mj, ok := appendMeta(buf[:0], m)
	if !ok {
		// A copy, so that m itself does not escape to the heap on the
		// path every record takes.
		mc := *m
		var err error
		if mj, err = json.Marshal(&mc); err != nil {
			return nil, err
		}
	}
	out := slices.Grow(dst, binary.MaxVarintLen32+len(mj)+len(raw))
	out = binary.AppendUvarint(out, uint64(len(mj)))
	out = append(out, mj...)
	return append(out, raw...), nil
}

// appendMeta appends m as json.Marshal writes it, byte for byte
// (TestAppendMetaIsMarshal), without its reflection, which was a tenth of
// storing a record. It declines (false) what it does not write itself: a
// time json.Marshal refuses.
func appendMeta(b []byte, m *meta) ([]byte, bool) {
	ok := true
	str := func(s string) { b = jsonstr.AppendHTML(b, s) }
	tm := func(t time.Time) {
		if y := t.Year(); y < 0 || y > 9999 {
			ok = false
			return
		}
		b = append(t.AppendFormat(append(b, '"'), time.RFC3339Nano), '"')
	}
	b = append(b, `{"k":`...)
	str(m.Kind)
	b = strconv.AppendInt(append(b, `,"v":`...), int64(m.Version), 10)
	b = strconv.AppendUint(append(b, `,"s":`...), m.Seq, 10)
	b = append(b, `,"o":`...)
	str(m.Originator)
	b = append(b, `,"c":`...)
	tm(m.Created)
	if m.LicenceID != "" {
		b = append(b, `,"l":`...)
		str(m.LicenceID)
	}
	if m.Marking != nil {
		b = append(b, `,"m":{"Country":`...)
		str(m.Marking.Country)
		b = append(b, `,"Manufacturer":`...)
		str(m.Marking.Manufacturer)
		b = append(b, `,"Serial":`...)
		str(m.Marking.Serial)
		b = append(b, '}')
	}
	b = append(b, `,"t":`...)
	tm(m.Stored)
	return append(b, '}'), ok
}

// splitValue returns the meta and raw parts without copying.
func splitValue(v []byte) (mj, raw []byte, err error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || uint64(len(v)-k) < n {
		return nil, nil, errors.New("embedded store: corrupt value")
	}
	return v[k : k+int(n)], v[k+int(n):], nil
}

func decodeMeta(v []byte) (meta, []byte, error) {
	var m meta
	mj, raw, err := splitValue(v)
	if err != nil {
		return m, nil, err
	}
	if err := json.Unmarshal(mj, &m); err != nil {
		return m, nil, fmt.Errorf("embedded store: corrupt meta: %w", err)
	}
	return m, raw, nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// lp appends a length-prefixed string, so that index keys of different values
// never share a prefix.
func lp(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func markingPrefix(m *store.Marking) []byte {
	return lp(lp(lp(nil, m.Country), m.Manufacturer), m.Serial)
}

// Get returns the latest version of id.
func (s *Store) Get(ctx context.Context, id string) (*records.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var raw []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bRecords).Get([]byte(id))
		if v == nil {
			return store.ErrNotFound
		}
		_, r, err := splitValue(v)
		raw = bytes.Clone(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return recdoc.Decode(raw)
}

// GetMany returns the latest version of each of ids, in one read
// transaction (see store.Store).
func (s *Store) GetMany(ctx context.Context, ids []string) ([]*records.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	raws := make([][]byte, len(ids))
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bRecords)
		for i, id := range ids {
			v := b.Get([]byte(id))
			if v == nil {
				continue
			}
			_, r, err := splitValue(v)
			if err != nil {
				return err
			}
			// The value lives in the file's map only as long as the
			// transaction: decoded after it, it must be copied.
			raws[i] = bytes.Clone(r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*records.Record, len(ids))
	for i, r := range raws {
		if r == nil {
			continue
		}
		if out[i], err = recdoc.Decode(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Versions returns every stored version of id, oldest first.
func (s *Store) Versions(ctx context.Context, id string) ([]*records.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var raws [][]byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		prefix := lp(nil, id)
		c := tx.Bucket(bVersions).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(k) != len(prefix)+4 {
				continue
			}
			_, r, err := splitValue(v)
			if err != nil {
				return err
			}
			raws = append(raws, bytes.Clone(r))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(raws) == 0 {
		return nil, store.ErrNotFound
	}
	out := make([]*records.Record, len(raws))
	for i, r := range raws {
		if out[i], err = recdoc.Decode(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Ping reports whether the file is open and readable.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.writes.Closed() {
		return berrors.ErrDatabaseNotOpen
	}
	return s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bRecords) == nil {
			return errors.New("embedded store: records bucket missing")
		}
		return nil
	})
}

// Close waits for queued writes, then closes the file. A Put after Close
// fails; Close twice is harmless.
func (s *Store) Close() error {
	if !s.writes.Close() {
		return nil
	}
	s.wg.Wait()
	return s.db.Close()
}
