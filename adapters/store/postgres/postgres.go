// Package postgres is the PostgreSQL register store, for gateways that run
// several replicas or keep their register in an institution's database.
//
// Schema (migrations/): ura_records holds the latest version of each record
// with the fields pulls filter on, ura_record_versions every version, and
// the ura_reg_* tables the registers the policy reads (registers.go). Each
// stored version takes the next number of ura_record_seq, which is the order
// pulls stream in and the cursor they resume from.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/internal/recdoc"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
)

// Options configure Open.
type Options struct {
	// DSN is a libpq connection string or URL.
	DSN string
	// Schema holds the tables; created if missing. Empty uses the
	// connection's default search_path (normally public).
	Schema string
	// MaxConns caps the pool; zero keeps pgx's default (max(4, CPUs)).
	MaxConns int32
	// ConnectTimeout bounds each new connection; zero means 10 s.
	ConnectTimeout time.Duration
	// Tracer traces queries (tracing.Tracer.QueryTracer); nil: none.
	Tracer pgx.QueryTracer
}

// Store is the PostgreSQL store.
type Store struct {
	pool   *pgxpool.Pool
	schema string
}

var _ store.Store = (*Store)(nil)

// Open connects, then applies pending migrations under an advisory lock.
func Open(ctx context.Context, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		// pgx's message can quote the DSN, password included.
		return nil, errors.New("postgres store: the DSN cannot be parsed")
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	if cfg.ConnConfig.ConnectTimeout <= 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "ura"
	cfg.ConnConfig.Tracer = opts.Tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	s := &Store{pool: pool, schema: opts.Schema}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres store: connect %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	if _, err := migrate(ctx, pool, opts.Schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	return s, nil
}

// Get returns the latest version of id.
func (s *Store) Get(ctx context.Context, id string) (*records.Record, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT raw FROM ura_records WHERE id = $1`, id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres store: get: %w", err)
	}
	return recdoc.Decode(raw)
}

// GetMany returns the latest version of each of ids, in one query (see
// store.Store).
func (s *Store) GetMany(ctx context.Context, ids []string) ([]*records.Record, error) {
	out := make([]*records.Record, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id, raw FROM ura_records WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres store: get many: %w", err)
	}
	raws := make(map[string][]byte, len(ids))
	var (
		id  string
		raw []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &raw}, func() error {
		raws[id] = raw
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres store: get many: %w", err)
	}
	// An id asked twice gets one decoded record: a push of two versions of
	// one id decides both against the same previous version.
	done := make(map[string]*records.Record, len(raws))
	for i, id := range ids {
		r, ok := raws[id]
		if !ok {
			continue
		}
		if rec, ok := done[id]; ok {
			out[i] = rec
			continue
		}
		if out[i], err = recdoc.Decode(r); err != nil {
			return nil, err
		}
		done[id] = out[i]
	}
	return out, nil
}

// Versions returns every stored version of id, oldest first.
func (s *Store) Versions(ctx context.Context, id string) ([]*records.Record, error) {
	rows, err := s.pool.Query(ctx, `SELECT raw FROM ura_record_versions WHERE id = $1 ORDER BY version`, id)
	if err != nil {
		return nil, fmt.Errorf("postgres store: versions: %w", err)
	}
	raws, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("postgres store: versions: %w", err)
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

// Ping checks that a connection can be had and answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Close closes the pool; it waits for connections in use to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Put stores one version of a record (see store.Store).
func (s *Store) Put(ctx context.Context, rec *records.Record, check store.Check) (store.Outcome, error) {
	res := s.PutBatch(ctx, []store.Item{{Record: rec, Check: check}})
	return res[0].Outcome, res[0].Err
}

// maxAttempts bounds retries of a write transaction that lost a race
// (serialization failure, deadlock, or two first pushes of the same id).
const maxAttempts = 64

// PutBatch stores items in one transaction (see store.Store).
func (s *Store) PutBatch(ctx context.Context, items []store.Item) []store.Result {
	results := make([]store.Result, len(items))
	ixs := make([]recdoc.Index, len(items))
	valid := make([]bool, len(items))
	pending := false
	for i, it := range items {
		if err := recdoc.CheckInput(it.Record); err != nil {
			results[i].Err = err
			continue
		}
		// The outbox of a gateway on PostgreSQL keeps its own file (one per
		// replica, each with its own workers): its entries are never
		// written here, and an item that asks for it is refused rather than
		// stored unqueued.
		if len(it.Follow) > 0 {
			results[i].Err = fmt.Errorf("postgres store: %w", store.ErrNoFollow)
			continue
		}
		ix, err := recdoc.IndexOf(it.Record)
		if err != nil {
			results[i].Err = err
			continue
		}
		ixs[i], valid[i], pending = ix, true, true
	}
	if !pending {
		return results
	}
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var res []store.Result
		res, err = s.putTx(ctx, items, ixs, valid)
		if err == nil {
			for i := range items {
				if valid[i] {
					results[i] = res[i]
				}
			}
			return results
		}
		if !retryable(err) || ctx.Err() != nil {
			break
		}
		// A short random pause keeps the losers of a race from meeting
		// again at once.
		time.Sleep(time.Duration(rand.IntN(2000*(min(attempt, 8)+1))) * time.Microsecond)
	}
	for i := range items {
		if valid[i] {
			results[i] = store.Result{Err: fmt.Errorf("postgres store: put: %w", err)}
		}
	}
	return results
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505", // unique_violation: a concurrent first push of the same id
			"40001", // serialization_failure
			"40P01": // deadlock_detected
			return true
		}
	}
	return false
}

// state is a record as this transaction sees it.
type state struct {
	kind    string
	version int
	raw     []byte
	exists  bool // a row exists in the database (UPDATE, not INSERT)
	written bool // this transaction wrote it
	rec     *records.Record
}

// putTx decides and writes items in one transaction:
//
//  1. lock the existing rows of every id in the batch, in id order (FOR
//     UPDATE), so concurrent pushes of the same record queue behind each
//     other and batches cannot deadlock on each other's rows;
//  2. lock the register index rows of the licences the batch stores or
//     declares exports against (lockRegisters), and read their balances;
//  3. decide each item against what the database and the earlier items say,
//     running its Check, and an export declaration against its licence's
//     status and balance (a *store.LicenceError refuses it);
//  4. take the sequence lock and write the accepted items with their
//     register index entries.
//
// Ids not yet stored are not locked by step 1; a concurrent first push of the
// same id surfaces as a unique violation at INSERT and the whole transaction
// is retried, now seeing that row.
func (s *Store) putTx(ctx context.Context, items []store.Item, ixs []recdoc.Index, valid []bool) ([]store.Result, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(ctx) }()

	var ids []string
	for i, it := range items {
		if valid[i] {
			ids = append(ids, it.Record.ID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows, err := tx.Query(ctx, `SELECT id, kind, version, raw FROM ura_records WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, err
	}
	states := map[string]*state{}
	for rows.Next() {
		st := &state{exists: true}
		var id string
		if err := rows.Scan(&id, &st.kind, &st.version, &st.raw); err != nil {
			rows.Close()
			return nil, err
		}
		states[id] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	entries := make([]registers.Entries, len(items))
	for i, it := range items {
		if valid[i] {
			entries[i] = registers.Of(it.Record)
		}
	}
	regs, err := lockRegisters(ctx, tx, items, valid, entries)
	if err != nil {
		return nil, err
	}

	results := make([]store.Result, len(items))
	prevExports := make([]*registers.Export, len(items))
	var accepted []int
	for i, it := range items {
		if !valid[i] {
			continue
		}
		rec := it.Record
		st := states[rec.ID]
		res, err := s.decide(ctx, tx, rec, st, it.Check)
		if err != nil {
			return nil, err
		}
		if res.Err == nil && res.Outcome == store.Accepted {
			if err := regs.check(entries[i]); err != nil {
				res = store.Result{Err: err}
			} else {
				prevExports[i] = regs.apply(rec, entries[i])
			}
		}
		results[i] = res
		if res.Err == nil && res.Outcome == store.Accepted {
			if st == nil {
				st = &state{}
				states[rec.ID] = st
			}
			st.kind, st.version, st.raw, st.rec, st.written = rec.Kind, rec.Version, rec.Raw, rec, true
			accepted = append(accepted, i)
		}
	}
	if len(accepted) == 0 {
		return results, tx.Commit(ctx)
	}

	// Sequence numbers are taken under a lock held until commit, so they
	// become visible in the order they were taken: a pull that has read
	// number n never later finds a smaller one appear behind its cursor.
	// The writes go in one round trip (a pipelined batch).
	batch := &pgx.Batch{}
	batch.Queue(`SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, lockSeq)
	inserted := map[string]bool{}
	for _, i := range accepted {
		rec, ix := items[i].Record, &ixs[i]
		var country, manufacturer, serial *string
		if ix.Marking != nil {
			country, manufacturer, serial = &ix.Marking.Country, &ix.Marking.Manufacturer, &ix.Marking.Serial
		}
		var created, licence any
		if !ix.Created.IsZero() {
			created = ix.Created
		}
		if ix.LicenceID != "" {
			licence = ix.LicenceID
		}
		existed := states[rec.ID].exists || inserted[rec.ID]
		if existed {
			batch.Queue(`UPDATE ura_records SET kind = $2, version = $3, seq = nextval('ura_record_seq'),
				originator = $4, created = $5, licence_id = $6, mark_country = $7, mark_manufacturer = $8,
				mark_serial = $9, raw = $10, stored_at = now() WHERE id = $1`,
				rec.ID, rec.Kind, rec.Version, ix.Originator, created, licence, country, manufacturer, serial, []byte(rec.Raw))
		} else {
			batch.Queue(`INSERT INTO ura_records (id, kind, version, seq, originator, created, licence_id,
				mark_country, mark_manufacturer, mark_serial, raw) VALUES ($1, $2, $3, nextval('ura_record_seq'), $4, $5, $6, $7, $8, $9, $10)`,
				rec.ID, rec.Kind, rec.Version, ix.Originator, created, licence, country, manufacturer, serial, []byte(rec.Raw))
			inserted[rec.ID] = true
		}
		batch.Queue(`INSERT INTO ura_record_versions (id, version, kind, raw) VALUES ($1, $2, $3, $4)`,
			rec.ID, rec.Version, rec.Kind, []byte(rec.Raw))
		if err := queueIndex(batch, rec, entries[i], prevExports[i]); err != nil {
			return nil, err
		}
		if err := queueKeyed(batch, rec, existed); err != nil {
			return nil, err
		}
	}
	br := tx.SendBatch(ctx, batch)
	for range batch.Len() {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, err
		}
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return results, nil
}

// decide applies the version rules and the Check to one record against st,
// the record as the transaction sees it (nil: not stored). A returned error
// is a database failure; refusals are in the Result.
func (s *Store) decide(ctx context.Context, tx pgx.Tx, rec *records.Record, st *state, check store.Check) (store.Result, error) {
	var prev *records.Record
	if st != nil {
		older := func(version int) ([]byte, error) {
			var old []byte
			err := tx.QueryRow(ctx, `SELECT raw FROM ura_record_versions WHERE id = $1 AND version = $2`, rec.ID, version).Scan(&old)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, nil
			}
			return old, err
		}
		res, ok, err := recdoc.VersionRule(rec, &recdoc.Stored{Kind: st.kind, Version: st.version, Raw: st.raw}, older)
		if !ok {
			return res, err
		}
		prev = st.rec
		if prev == nil {
			var err error
			if prev, err = recdoc.Decode(st.raw); err != nil {
				return store.Result{}, err
			}
			st.rec = prev
		}
	}
	if err := recdoc.RunCheck(check, prev); err != nil {
		return store.Result{Err: err}, nil
	}
	return store.Result{Outcome: store.Accepted}, nil
}
