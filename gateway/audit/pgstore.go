package audit

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresOptions configure the PostgreSQL store.
type PostgresOptions struct {
	// Schema holds the tables (default: the connection's search_path).
	Schema string
	// ReadOnly neither creates tables nor writes: for verifying or
	// exporting a log that running gateways write.
	ReadOnly bool
	// VerifyTail is how many of the newest events are chain-checked on
	// open (default 10000); `ura audit verify` checks them all.
	VerifyTail int64
	Logger     *slog.Logger
	// Tracer traces queries (tracing.Tracer.QueryTracer): a search or
	// export under a request's span shows its statements; nil: none.
	Tracer pgx.QueryTracer
}

// PGStore keeps the log in PostgreSQL: one row per event with the canonical
// line (what the chain hashes) and a JSONB copy with indexed columns for
// search, and one row per checkpoint. A group commit is one transaction.
//
// Several gateways may write one schema (Shared): each group commit takes
// the schema's transaction-level advisory lock, reads the head inside the
// transaction and appends after it, so the appends of every replica form
// one chain, serialised in PostgreSQL. head is only what this process last
// saw: a floor the durable head may never fall below.
type PGStore struct {
	pool *pgxpool.Pool
	opts PostgresOptions
	log  *slog.Logger

	mu   sync.RWMutex
	head Head
}

var (
	_ Shared      = (*PGStore)(nil)
	_ Summarizing = (*PGStore)(nil)
)

const pgSchema = `
CREATE TABLE IF NOT EXISTS ura_audit_events (
	seq          bigint PRIMARY KEY CHECK (seq > 0),
	time         timestamptz NOT NULL,
	member       text NOT NULL,
	action       text NOT NULL,
	record_id    text NOT NULL DEFAULT '',
	decision     text NOT NULL,
	reason_codes text[] NOT NULL DEFAULT '{}',
	prev         text NOT NULL,
	hash         text NOT NULL,
	line         bytea NOT NULL,
	event        jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS ura_audit_events_member ON ura_audit_events (member, seq);
CREATE INDEX IF NOT EXISTS ura_audit_events_record ON ura_audit_events (record_id, seq);
CREATE INDEX IF NOT EXISTS ura_audit_events_decision ON ura_audit_events (decision, seq);
CREATE INDEX IF NOT EXISTS ura_audit_events_time ON ura_audit_events (time);
CREATE INDEX IF NOT EXISTS ura_audit_events_reasons ON ura_audit_events USING gin (reason_codes);
CREATE TABLE IF NOT EXISTS ura_audit_checkpoints (
	count     bigint PRIMARY KEY CHECK (count > 0),
	head_hash text NOT NULL,
	time      timestamptz NOT NULL,
	line      bytea NOT NULL
);`

// OpenPostgres connects, creates the tables if needed and checks the
// newest events' chain. Other gateways may hold the same schema open.
func OpenPostgres(ctx context.Context, dsn string, opts PostgresOptions) (*PGStore, error) {
	if opts.VerifyTail <= 0 {
		opts.VerifyTail = 10000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The DSN may hold a password: never echo it.
		return nil, errors.New("audit postgres: invalid DSN")
	}
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	cfg.ConnConfig.Tracer = opts.Tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("audit postgres: %w", err)
	}
	s := &PGStore{pool: pool, opts: opts, log: opts.Logger, head: Head{Hash: ZeroHash}}
	if err := s.open(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("audit postgres: %w", err)
	}
	return s, nil
}

func (s *PGStore) open(ctx context.Context) error {
	if !s.opts.ReadOnly {
		// Replicas starting together would race on CREATE … IF NOT EXISTS
		// (it is not atomic against itself): the append lock orders them.
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.lockKey()); err != nil {
				return fmt.Errorf("advisory lock: %w", err)
			}
			if s.opts.Schema != "" {
				if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.opts.Schema}.Sanitize()); err != nil {
					return fmt.Errorf("create schema: %w", err)
				}
			}
			if _, err := tx.Exec(ctx, pgSchema); err != nil {
				return fmt.Errorf("create tables: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	var count, maxSeq int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*), coalesce(max(seq), 0) FROM ura_audit_events`).Scan(&count, &maxSeq); err != nil {
		return err
	}
	if s.opts.ReadOnly {
		return nil
	}
	if count != maxSeq {
		return fmt.Errorf("the log holds %d events but its last is seq %d: events were deleted; refusing to open", count, maxSeq)
	}
	head := Head{Hash: ZeroHash}
	from := max(maxSeq-s.opts.VerifyTail, 0)
	if from > 0 {
		var line []byte
		if err := s.pool.QueryRow(ctx, `SELECT line FROM ura_audit_events WHERE seq = $1`, from).Scan(&line); err != nil {
			return fmt.Errorf("seq %d: %w", from, err)
		}
		e, err := ParseLine(line)
		if err != nil {
			return fmt.Errorf("seq %d: %w; refusing to open", from, err)
		}
		head = Head{Count: e.Event.Seq, Hash: e.Event.Hash}
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, line FROM ura_audit_events WHERE seq > $1 ORDER BY seq`, from)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var line []byte
		if err := rows.Scan(&seq, &line); err != nil {
			return err
		}
		e, err := ParseLine(line)
		switch {
		case err != nil:
			return fmt.Errorf("seq %d: %w; refusing to open", seq, err)
		case e.Event.Seq != head.Count+1 || seq != e.Event.Seq:
			return fmt.Errorf("seq %d: found seq %d; refusing to open", head.Count+1, e.Event.Seq)
		case e.Event.Prev != head.Hash:
			return fmt.Errorf("seq %d: prev does not match the hash of seq %d; refusing to open", seq, head.Count)
		}
		head = Head{Count: e.Event.Seq, Hash: e.Event.Hash}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s.head = head
	return nil
}

// lockKey is the advisory lock that serialises appends to the schema's
// chain, whichever gateway makes them; it differs per schema so that
// tests can run side by side.
func (s *PGStore) lockKey() int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("ura_audit\x00" + s.opts.Schema))
	return int64(h.Sum64() >> 1)
}

// Head implements Store: the head this process last read or wrote. Other
// replicas may have appended since (CurrentHead).
func (s *PGStore) Head() Head {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.head
}

// CurrentHead implements Shared. Read outside the write lock, it may
// miss a commit this process finished meanwhile: the later head wins, and
// only a write, which reads under the lock, judges a head that went back.
func (s *PGStore) CurrentHead(ctx context.Context) (Head, error) {
	head, err := pgHead(ctx, s.pool)
	if err != nil {
		return Head{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if head.Count > s.head.Count {
		s.head = head
	}
	return s.head, nil
}

// pgHead reads the last event's seq and hash (the primary key's last row).
func pgHead(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (Head, error) {
	head := Head{Hash: ZeroHash}
	err := q.QueryRow(ctx, `SELECT seq, hash FROM ura_audit_events ORDER BY seq DESC LIMIT 1`).Scan(&head.Count, &head.Hash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Head{}, fmt.Errorf("read head: %w", err)
	}
	return head, nil
}

// advance moves the known head forward to head, read under the write lock,
// and refuses a durable head behind or beside one this process has seen:
// events were removed or rewritten under the running gateways.
func (s *PGStore) advance(head Head) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case head.Count < s.head.Count:
		return fmt.Errorf("the log went back from seq %d to %d: events were removed", s.head.Count, head.Count)
	case head.Count == s.head.Count && head.Hash != s.head.Hash:
		return fmt.Errorf("seq %d changed its hash: the log was rewritten", head.Count)
	}
	s.head = head
	return nil
}

// Write inserts the entries in one transaction, if they continue the
// durable head.
func (s *PGStore) Write(ctx context.Context, entries []Entry) error {
	_, err := s.WriteSealed(ctx, func(head Head) ([]Entry, error) {
		if len(entries) > 0 {
			if e := entries[0].Event; e.Seq != head.Count+1 || e.Prev != head.Hash {
				return nil, fmt.Errorf("write seq %d does not continue head %d", e.Seq, head.Count)
			}
		}
		return entries, nil
	})
	return err
}

// WriteSealed implements Shared: one transaction holds the schema's
// advisory lock from reading the head until the commit, so no other
// writer's entries can come between the head and these.
func (s *PGStore) WriteSealed(ctx context.Context, seal func(head Head) ([]Entry, error)) (Head, error) {
	if s.opts.ReadOnly {
		return Head{}, errors.New("audit log opened read-only")
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Head{}, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.lockKey()); err != nil {
		return Head{}, fmt.Errorf("advisory lock: %w", err)
	}
	head, err := pgHead(ctx, tx)
	if err != nil {
		return Head{}, err
	}
	if err := s.advance(head); err != nil {
		return Head{}, err
	}
	entries, err := seal(head)
	if err != nil || len(entries) == 0 {
		return head, err
	}
	if e := entries[0].Event; e.Seq != head.Count+1 || e.Prev != head.Hash {
		return Head{}, fmt.Errorf("write seq %d does not continue head %d", e.Seq, head.Count)
	}
	rows := make([][]any, len(entries))
	for i, en := range entries {
		e := en.Event
		codes := make([]string, len(e.Reasons))
		for j, r := range e.Reasons {
			codes[j] = r.Code
		}
		rows[i] = []any{e.Seq, e.Time, e.Member, e.Action, e.RecordID, e.Decision, codes, e.Prev, e.Hash, en.Line, string(en.Line)}
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"ura_audit_events"},
		[]string{"seq", "time", "member", "action", "record_id", "decision", "reason_codes", "prev", "hash", "line", "event"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return Head{}, fmt.Errorf("insert: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Head{}, fmt.Errorf("commit: %w", err)
	}
	last := entries[len(entries)-1].Event
	head = Head{Count: last.Seq, Hash: last.Hash}
	s.mu.Lock()
	if head.Count > s.head.Count {
		// Not judged: a concurrent CurrentHead may already know of later
		// events of other replicas.
		s.head = head
	}
	s.mu.Unlock()
	return head, nil
}

// LatestCheckpoint implements Shared.
func (s *PGStore) LatestCheckpoint(ctx context.Context) (*SignedCheckpoint, error) {
	var line []byte
	err := s.pool.QueryRow(ctx, `SELECT line FROM ura_audit_checkpoints ORDER BY count DESC LIMIT 1`).Scan(&line)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cp, err := parseCheckpoint(line)
	if err != nil {
		return nil, fmt.Errorf("latest checkpoint: %w", err)
	}
	return &cp, nil
}

// AddCheckpoint implements Store.
func (s *PGStore) AddCheckpoint(ctx context.Context, cp SignedCheckpoint) error {
	if s.opts.ReadOnly {
		return errors.New("audit log opened read-only")
	}
	line, err := canonicalJSON(cp)
	if err != nil {
		return err
	}
	// Two replicas may sign the same head: the first checkpoint stored
	// stands, and the other is as good.
	_, err = s.pool.Exec(ctx, `INSERT INTO ura_audit_checkpoints (count, head_hash, time, line) VALUES ($1, $2, $3, $4)
		ON CONFLICT (count) DO NOTHING`, cp.Count, cp.HeadHash, cp.Time, line)
	if err != nil {
		return fmt.Errorf("insert checkpoint: %w", err)
	}
	return nil
}

// Checkpoints implements Store.
func (s *PGStore) Checkpoints(ctx context.Context) ([]SignedCheckpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT line FROM ura_audit_checkpoints ORDER BY count`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cps []SignedCheckpoint
	for rows.Next() {
		var line []byte
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		cp, err := parseCheckpoint(line)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d: %w", len(cps)+1, err)
		}
		cps = append(cps, cp)
	}
	return cps, rows.Err()
}

// Scan implements Store. Rows are streamed in seq order; read-only, every
// row is passed, for the verifier to judge gaps and order. Every committed
// row is durable, and appends are serialised, so a reader sees a gap-free
// prefix of the chain however many replicas write it.
func (s *PGStore) Scan(ctx context.Context, from int64, fn func([]byte) error) error {
	upTo := int64(1<<63 - 1)
	q := `SELECT line FROM ura_audit_events WHERE seq <= $2 ORDER BY seq OFFSET $1`
	if !s.opts.ReadOnly {
		// Written here, seq is gap-free, so position and seq agree and the
		// primary key finds the start.
		q = `SELECT line FROM ura_audit_events WHERE seq >= $1 + 1 AND seq <= $2 ORDER BY seq`
	}
	rows, err := s.pool.Query(ctx, q, max(from, 1)-1, upTo)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var line []byte
		if err := rows.Scan(&line); err != nil {
			return err
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Get implements Store.
func (s *PGStore) Get(ctx context.Context, seq int64) (Entry, error) {
	var line []byte
	err := s.pool.QueryRow(ctx, `SELECT line FROM ura_audit_events WHERE seq = $1 AND seq <= $2`, seq, s.readLimit()).Scan(&line)
	if errors.Is(err, pgx.ErrNoRows) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, err
	}
	e, err := decodeLine(line)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Event: e, Line: line}, nil
}

// readLimit bounds what reads show: every committed row, written by this
// process or another replica, is durable.
func (s *PGStore) readLimit() int64 { return 1<<63 - 1 }

// where builds the filter shared by search and summary.
type pgWhere struct {
	conds []string
	args  []any
}

func (w *pgWhere) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(w.args))))
}

func (w *pgWhere) sql() string { return strings.Join(w.conds, " AND ") }

func (s *PGStore) timeWhere(from, to time.Time) *pgWhere {
	w := &pgWhere{}
	w.add("seq <= ?", s.readLimit())
	if !from.IsZero() {
		w.add("time >= ?", from)
	}
	if !to.IsZero() {
		w.add("time < ?", to)
	}
	return w
}

// Search implements Store with the indexed columns.
func (s *PGStore) Search(ctx context.Context, q Query) (Page, error) {
	q = q.normalize()
	w := s.timeWhere(q.From, q.To)
	if q.Member != "" {
		w.add("member = ?", q.Member)
	}
	if q.RecordID != "" {
		w.add("record_id = ?", q.RecordID)
	}
	if q.Decision != "" {
		w.add("decision = ?", q.Decision)
	}
	if q.Reason != "" {
		w.add("reason_codes @> ARRAY[?::text]", q.Reason)
	}
	if q.Before > 0 {
		w.add("seq < ?", q.Before)
	}
	w.args = append(w.args, q.Limit+1)
	sql := fmt.Sprintf(`SELECT line FROM ura_audit_events WHERE %s ORDER BY seq DESC LIMIT $%d`, w.sql(), len(w.args))
	rows, err := s.pool.Query(ctx, sql, w.args...)
	if err != nil {
		return Page{}, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var line []byte
		if err := rows.Scan(&line); err != nil {
			return Page{}, err
		}
		e, err := decodeLine(line)
		if err != nil {
			continue
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return Page{}, err
	}
	return pageOf(out, q.Limit), nil
}

// Summary implements Summarizing with SQL aggregates; the result is the
// same as scanning with a Summarizer.
func (s *PGStore) Summary(ctx context.Context, q SummaryQuery) (*Summary, error) {
	z := NewSummarizer(q)
	q = z.q
	w := s.timeWhere(q.From, q.To)
	where := w.sql()
	out := &z.s

	var first, last *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT count(*), min(time), max(time) FROM ura_audit_events WHERE `+where, w.args...).
		Scan(&out.Events, &first, &last); err != nil {
		return nil, err
	}
	if first != nil {
		f, l := first.UTC(), last.UTC()
		out.First, out.Last = &f, &l
	}
	groups := func(col string, into map[string]int64) error {
		rows, err := s.pool.Query(ctx, `SELECT `+col+`, count(*) FROM ura_audit_events WHERE `+where+` GROUP BY 1`, w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var n int64
			if err := rows.Scan(&k, &n); err != nil {
				return err
			}
			into[k] = n
		}
		return rows.Err()
	}
	denied := fmt.Sprintf(`decision IN ('%s', '%s')`, DecisionDeny, DecisionWithhold)
	if err := groups("decision", out.ByDecision); err != nil {
		return nil, err
	}
	if err := groups("action", out.ByAction); err != nil {
		return nil, err
	}
	ranked := func(sql string) ([]Count, error) {
		rows, err := s.pool.Query(ctx, sql+fmt.Sprintf(` GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %d`, q.Top), w.args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		list := []Count{}
		for rows.Next() {
			var c Count
			if err := rows.Scan(&c.Key, &c.Count); err != nil {
				return nil, err
			}
			list = append(list, c)
		}
		return list, rows.Err()
	}
	var err error
	if out.TopMembers, err = ranked(`SELECT member, count(*) FROM ura_audit_events WHERE ` + where); err != nil {
		return nil, err
	}
	if out.DenialsByMember, err = ranked(`SELECT member, count(*) FROM ura_audit_events WHERE ` + where + ` AND ` + denied); err != nil {
		return nil, err
	}
	if out.DenialsByReason, err = ranked(`SELECT r, count(*) FROM ura_audit_events, unnest(reason_codes) AS r WHERE ` + where + ` AND ` + denied); err != nil {
		return nil, err
	}
	bucketUS := q.Bucket.Microseconds()
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT (extract(epoch FROM time) * 1000000)::bigint / %d AS k, decision, count(*)
		FROM ura_audit_events WHERE %s GROUP BY 1, 2 ORDER BY 1`, bucketUS, where), w.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out.BucketSeconds = int64(q.Bucket / time.Second)
	out.Buckets = []Bucket{}
	for rows.Next() {
		var k, n int64
		var d string
		if err := rows.Scan(&k, &d, &n); err != nil {
			return nil, err
		}
		start := time.UnixMicro(k * bucketUS).UTC()
		if len(out.Buckets) == 0 || !out.Buckets[len(out.Buckets)-1].Start.Equal(start) {
			if len(out.Buckets) >= MaxBuckets {
				return nil, fmt.Errorf("%w: more than %d buckets of %s; choose a wider bucket or a shorter range", ErrTooManyBuckets, MaxBuckets, q.Bucket)
			}
			out.Buckets = append(out.Buckets, Bucket{Start: start, ByDecision: map[string]int64{}})
		}
		out.Buckets[len(out.Buckets)-1].ByDecision[d] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Close releases the pool.
func (s *PGStore) Close() error {
	s.pool.Close()
	return nil
}
