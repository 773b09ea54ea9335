package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/internal/recdoc"
	"github.com/ura-gateway/ura/gateway/groupcommit"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
)

// fillPercent is how full bbolt leaves a page it splits.
const fillPercent = 0.9

// appendBuckets are the buckets whose keys mostly arrive in ascending order,
// at their end or at the end of one register's or value's range: sequence
// numbers, and record ids that institutions number upwards. Where bbolt's
// default splits a page half full, each of them would take twice the pages
// of its data, and a commit of many new records would write twice the
// pages. Buckets keyed by something else (entity ids, names) keep bbolt's
// default, where a page split at 90 % would soon split again.
var appendBuckets = [][]byte{
	bRecords, bVersions, bSeq, bKind, bOriginator, bLicence, bMarking,
	bRegLicences, bRegEntityRec, bRegExclRec, bRegDecl, bRegKeyed, bRegKeyedRec,
}

// wtx is one write transaction as apply sees it: its buckets, looked up
// once, and one scratch buffer that every key is built in. bbolt copies a
// key on Put and only seeks with it on Get and Delete, so the buffer can be
// reused for the next key at once; values, which bbolt keeps until the
// commit, are never built in it.
type wtx struct {
	tx                                 *bbolt.Tx
	recs, versions, seqs               *bbolt.Bucket
	kind, originator, licence, marking *bbolt.Bucket
	keyed, keyedRec                    *bbolt.Bucket
	key                                []byte
	// arena is where the transaction's values are cut from (tail, keep):
	// bbolt holds a value, uncopied, until the commit, so each must stay
	// as it is until then, but they need not be allocated one by one.
	arena []byte
}

// arenaChunk bounds the blocks a transaction's values are cut from. The
// first is small, so that a lone Put does not pay for a batch's block, and
// each next one twice the last, up to arenaChunk; the last block's unused
// end is what is wasted.
const (
	arenaFirst = 4 << 10
	arenaChunk = 64 << 10
)

// tail is the unused end of w's arena, with room for n bytes, for one
// value to be appended to; keep then takes the value out of it.
func (w *wtx) tail(n int) []byte {
	if cap(w.arena)-len(w.arena) < n {
		size := min(arenaChunk, max(arenaFirst, 2*cap(w.arena)))
		w.arena = make([]byte, 0, max(size, n))
	}
	return w.arena[len(w.arena):len(w.arena)]
}

// keep takes v, appended to what tail returned, out of the arena, and caps
// it so that no append to it can reach the next value. A v that outgrew
// the room (append moved it) is its own allocation and leaves the arena
// as it was.
func (w *wtx) keep(v []byte) []byte {
	rest := w.arena[len(w.arena):cap(w.arena)]
	if len(v) > 0 && len(v) <= len(rest) && &v[0] == &rest[0] {
		w.arena = w.arena[:len(w.arena)+len(v)]
	}
	return v[:len(v):len(v)]
}

// denseAppends sets fillPercent on tx's append buckets; bbolt keeps one
// handle per bucket for a write transaction, so it holds for the whole of it.
func denseAppends(tx *bbolt.Tx) {
	for _, name := range appendBuckets {
		tx.Bucket(name).FillPercent = fillPercent
	}
}

// begin readies tx for apply: denseAppends, and its buckets found.
func begin(tx *bbolt.Tx) *wtx {
	denseAppends(tx)
	return &wtx{
		tx: tx, recs: tx.Bucket(bRecords), versions: tx.Bucket(bVersions), seqs: tx.Bucket(bSeq),
		kind: tx.Bucket(bKind), originator: tx.Bucket(bOriginator), licence: tx.Bucket(bLicence), marking: tx.Bucket(bMarking),
		keyed: tx.Bucket(bRegKeyed), keyedRec: tx.Bucket(bRegKeyedRec),
		key: make([]byte, 0, 256),
	}
}

// seqKey is seqKey(seq) in w's scratch buffer.
func (w *wtx) seqKey(seq uint64) []byte {
	w.key = binary.BigEndian.AppendUint64(w.key[:0], seq)
	return w.key
}

// versionKey is the versions bucket's key, len(id) id version(4), in w's
// scratch buffer.
func (w *wtx) versionKey(id string, version int) []byte {
	w.key = binary.BigEndian.AppendUint32(lp(w.key[:0], id), uint32(version))
	return w.key
}

// eachIndex calls fn with each secondary index bucket of a record with m's
// fields and its key there (len(value) value seq(8), see the layout in
// bolt.go), built in w's scratch buffer.
func (w *wtx) eachIndex(m *meta, fn func(b *bbolt.Bucket, key []byte) error) error {
	w.key = binary.BigEndian.AppendUint64(lp(w.key[:0], m.Kind), m.Seq)
	if err := fn(w.kind, w.key); err != nil {
		return err
	}
	w.key = binary.BigEndian.AppendUint64(lp(w.key[:0], m.Originator), m.Seq)
	if err := fn(w.originator, w.key); err != nil {
		return err
	}
	if m.LicenceID != "" {
		w.key = binary.BigEndian.AppendUint64(lp(w.key[:0], m.LicenceID), m.Seq)
		if err := fn(w.licence, w.key); err != nil {
			return err
		}
	}
	if m.Marking != nil {
		w.key = binary.BigEndian.AppendUint64(lp(lp(lp(w.key[:0], m.Marking.Country), m.Marking.Manufacturer), m.Marking.Serial), m.Seq)
		if err := fn(w.marking, w.key); err != nil {
			return err
		}
	}
	return nil
}

// errClosed answers a write after Close.
var errClosed = errors.New("embedded store: closed")

type writeReq struct {
	items   []store.Item
	ixs     []recdoc.Index
	valid   []bool
	results []store.Result
	done    chan struct{}
}

// Put stores one version of a record: the version rules and check run in the
// same write transaction as the write, so two pushes of the same record are
// decided one after the other against what the first one stored.
func (s *Store) Put(ctx context.Context, rec *records.Record, check store.Check) (store.Outcome, error) {
	res := s.PutBatch(ctx, []store.Item{{Record: rec, Check: check}})
	return res[0].Outcome, res[0].Err
}

// PutBatch stores items in one transaction (see store.Store).
func (s *Store) PutBatch(ctx context.Context, items []store.Item) []store.Result {
	req := &writeReq{
		items:   items,
		ixs:     make([]recdoc.Index, len(items)),
		valid:   make([]bool, len(items)),
		results: make([]store.Result, len(items)),
		done:    make(chan struct{}),
	}
	if err := ctx.Err(); err != nil {
		return failAll(req.results, err)
	}
	pending := false
	for i, it := range items {
		if err := recdoc.CheckInput(it.Record); err != nil {
			req.results[i].Err = err
			continue
		}
		ix, err := recdoc.IndexOf(it.Record)
		if err != nil {
			req.results[i].Err = err
			continue
		}
		req.ixs[i], req.valid[i], pending = ix, true, true
	}
	if !pending {
		return req.results
	}
	if !s.writes.Send(req) {
		return failAll(req.results, errClosed)
	}
	// The write is not abandoned when ctx ends: once queued it commits or
	// fails as a whole, and the caller is told which.
	<-req.done
	return req.results
}

func failAll(results []store.Result, err error) []store.Result {
	for i := range results {
		if results[i].Err == nil {
			results[i] = store.Result{Err: err}
		}
	}
	return results
}

// writer is the only goroutine that writes. It commits everything queued at
// the moment in one transaction and never waits for more, so a lone Put pays
// no extra latency and concurrent Puts share the commit's fsync.
func (s *Store) writer() {
	defer s.wg.Done()
	for req := range s.writes.C() {
		group := groupcommit.Gather(req, s.writes.C(), s.maxGroup, func(r *writeReq) int { return len(r.items) }, 0)
		s.commit(group)
		for _, r := range group {
			close(r.done)
		}
	}
}

func (s *Store) commit(group []*writeReq) {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		w := begin(tx)
		for _, r := range group {
			if err := s.applyReq(w, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return
	}
	if len(group) == 1 {
		s.failReq(group[0], err)
		return
	}
	// One request's storage failure must not fail the others queued with
	// it: each is retried in its own transaction.
	for _, r := range group {
		if err := s.db.Update(func(tx *bbolt.Tx) error { return s.applyReq(begin(tx), r) }); err != nil {
			s.failReq(r, err)
		}
	}
}

func (s *Store) failReq(r *writeReq, err error) {
	for i := range r.results {
		if r.valid[i] {
			r.results[i] = store.Result{Err: fmt.Errorf("embedded store: %w", err)}
		}
	}
}

func (s *Store) applyReq(w *wtx, r *writeReq) error {
	for i, it := range r.items {
		if !r.valid[i] {
			continue
		}
		res, err := s.apply(w, it.Record, &r.ixs[i], it.Check)
		if err != nil {
			return err
		}
		if res.Err == nil {
			if err := follow(w, it.Follow); err != nil {
				return err
			}
		}
		r.results[i] = res
	}
	return nil
}

// follow writes a stored (or unchanged) record's Follow entries in its
// transaction: the outbox's entries for it are durable exactly when it is.
// A queue the outbox did not create is a storage failure: the record would
// otherwise be acknowledged and never forwarded.
func follow(w *wtx, fs []store.Follow) error {
	for _, f := range fs {
		b := w.tx.Bucket([]byte(f.Queue))
		if b == nil {
			return fmt.Errorf("queue %q does not exist", f.Queue)
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := b.Put(w.seqKey(seq), f.Value); err != nil {
			return err
		}
	}
	return nil
}

// apply decides one record and writes it when accepted. The decision is made
// before anything is written, so a refused record leaves the transaction
// untouched; a returned error is a storage failure that aborts it.
func (s *Store) apply(w *wtx, rec *records.Record, ix *recdoc.Index, check store.Check) (store.Result, error) {
	tx, recs, versions, seqs := w.tx, w.recs, w.versions, w.seqs
	id := w.keep(append(w.tail(len(rec.ID)), rec.ID...))
	prevVal := recs.Get(id)
	var (
		prev *records.Record
		pm   meta
	)
	if prevVal != nil {
		var (
			praw []byte
			err  error
		)
		if pm, praw, err = decodeMeta(prevVal); err != nil {
			return store.Result{}, err
		}
		older := func(version int) ([]byte, error) {
			if _, oraw, err := splitValue(versions.Get(w.versionKey(rec.ID, version))); err == nil {
				return oraw, nil
			}
			return nil, nil // not stored, or unreadable: not the same content
		}
		res, ok, err := recdoc.VersionRule(rec, &recdoc.Stored{Kind: pm.Kind, Version: pm.Version, Raw: praw}, older)
		if !ok {
			return res, err
		}
		if prev, err = recdoc.Decode(bytes.Clone(praw)); err != nil {
			return store.Result{}, err
		}
	}
	// RunCheck keeps a panicking Check from taking the writer goroutine,
	// and with it every later write, down.
	if err := recdoc.RunCheck(check, prev); err != nil {
		return store.Result{Err: err}, nil
	}
	entries := registers.Of(rec)
	if err := checkExport(tx, entries); err != nil {
		if le := (*store.LicenceError)(nil); errors.As(err, &le) {
			return store.Result{Err: err}, nil
		}
		return store.Result{}, err
	}

	seq, err := seqs.NextSequence()
	if err != nil {
		return store.Result{}, err
	}
	if prevVal != nil {
		if err := seqs.Delete(w.seqKey(pm.Seq)); err != nil {
			return store.Result{}, err
		}
		if err := w.eachIndex(&pm, (*bbolt.Bucket).Delete); err != nil {
			return store.Result{}, err
		}
	}
	m := meta{
		Kind: rec.Kind, Version: rec.Version, Seq: seq,
		Originator: ix.Originator, Created: ix.Created,
		LicenceID: ix.LicenceID, Marking: ix.Marking,
		Stored: time.Now().UTC(),
	}
	val, err := appendValue(w.tail(binary.MaxVarintLen32+256+len(rec.Raw)), &m, rec.Raw)
	if err != nil {
		return store.Result{}, err
	}
	val = w.keep(val)
	if err := recs.Put(id, val); err != nil {
		return store.Result{}, err
	}
	if err := versions.Put(w.versionKey(rec.ID, rec.Version), val); err != nil {
		return store.Result{}, err
	}
	if err := seqs.Put(w.seqKey(seq), id); err != nil {
		return store.Result{}, err
	}
	err = w.eachIndex(&m, func(b *bbolt.Bucket, key []byte) error { return b.Put(key, id) })
	if err != nil {
		return store.Result{}, err
	}
	if err := index(w, rec, id, entries); err != nil {
		return store.Result{}, err
	}
	if err := indexKeyed(w, rec, prevVal == nil); err != nil {
		return store.Result{}, err
	}
	return store.Result{Outcome: store.Accepted}, nil
}
