package audit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// pgSchema makes a private schema in the shared test database and drops it
// when the test ends.
func pgSchema(t testing.TB) (dsn, schema string) {
	t.Helper()
	dsn = testenv.Postgres(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema = "audit_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		_, _ = conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	})
	return dsn, schema
}

func TestPostgresStoreContract(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audittest.Opener {
		dsn, schema := pgSchema(t)
		return func() (audit.Store, error) {
			return audit.OpenPostgres(context.Background(), dsn, audit.PostgresOptions{Schema: schema})
		}
	})
}

func pgExec(t *testing.T, dsn, schema, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `SET search_path TO `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

func pgLog(t *testing.T, n int) (dsn, schema string, signer *audittest.Signer) {
	t.Helper()
	dsn, schema = pgSchema(t)
	signer = audittest.NewSigner(t, "k1")
	st, err := audit.OpenPostgres(context.Background(), dsn, audit.PostgresOptions{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.Open(context.Background(), audit.Options{Store: st, Signer: signer, CheckpointEvery: 10})
	if err != nil {
		t.Fatal(err)
	}
	evs := audittest.Events(n, t0)
	for i := 0; i < n; i += 10 {
		if err := c.Append(context.Background(), evs[i:i+10]...); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return dsn, schema, signer
}

// TestPostgresTampering: a database administrator's UPDATE, DELETE or
// renumbering is caught by the verifier and refused by the gateway.
func TestPostgresTampering(t *testing.T) {
	cases := []struct {
		name, sql, want string
	}{
		{"update", `UPDATE ura_audit_events SET line = convert_to(replace(convert_from(line, 'UTF8'), '"decision":"deny"', '"decision":"allow"'), 'UTF8') WHERE seq = 19`, "seq 19: hash mismatch"},
		{"delete", `DELETE FROM ura_audit_events WHERE seq = 8`, "seq 8: missing"},
		{"truncate tail", `DELETE FROM ura_audit_events WHERE seq > 35`, "truncated"},
		{"reorder", `UPDATE ura_audit_events SET seq = seq + 1000 WHERE seq IN (5, 6); UPDATE ura_audit_events SET seq = 1011 - seq WHERE seq IN (1005, 1006)`, "seq 5: missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dsn, schema, signer := pgLog(t, 40)
			pgExec(t, dsn, schema, tc.sql)
			ro, err := audit.OpenPostgres(context.Background(), dsn, audit.PostgresOptions{Schema: schema, ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			_, err = audit.VerifyStore(context.Background(), ro, audit.VerifyOptions{Keys: signer.KeySet()})
			ro.Close()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verify: %v, want …%s…", err, tc.want)
			}
			st, err := audit.OpenPostgres(context.Background(), dsn, audit.PostgresOptions{Schema: schema})
			if err == nil {
				_, err = audit.Open(context.Background(), audit.Options{Store: st})
				st.Close()
			}
			if err == nil {
				t.Fatal("the gateway opened a tampered log")
			}
		})
	}
}

// pgChainOfThree opens a chain on a PostgreSQL store opened with opts and
// appends three events to it.
func pgChainOfThree(t *testing.T, dsn string, opts audit.PostgresOptions) (*audit.Chain, *audit.PGStore) {
	t.Helper()
	st, err := audit.OpenPostgres(context.Background(), dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.Open(context.Background(), audit.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Append(context.Background(), audittest.Events(3, t0)...); err != nil {
		_ = c.Close()
		t.Fatal(err)
	}
	return c, st
}

// TestPostgresFailureIsUnavailable: the table disappears under a running
// gateway; appends fail with ErrUnavailable and stay failed.
func TestPostgresFailureIsUnavailable(t *testing.T) {
	dsn, schema := pgSchema(t)
	c, _ := pgChainOfThree(t, dsn, audit.PostgresOptions{Schema: schema})
	defer c.Close()
	pgExec(t, dsn, schema, `ALTER TABLE ura_audit_events RENAME TO gone`)
	if err := c.Append(context.Background(), audittest.Events(1, t0)...); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("append with the table gone: %v", err)
	}
	pgExec(t, dsn, schema, `ALTER TABLE gone RENAME TO ura_audit_events`)
	if err := c.Append(context.Background(), audittest.Events(1, t0)...); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("append after the table came back: %v (must stay failed until reopened)", err)
	}
}

// BenchmarkPostgresWriters measures durable events per second on one
// PostgreSQL chain written by one gateway and by three (replicas: each its
// own store, pool and chain, as separate processes hold them), with 16
// concurrent appenders per writer. The appends of all writers are
// serialised by the schema's advisory lock (ARCHITECTURE.md, Audit):
//
//	go test -run '^$' -bench BenchmarkPostgresWriters -benchtime 5s ./gateway/audit/
func BenchmarkPostgresWriters(b *testing.B) {
	for _, writers := range []int{1, 3} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			dsn, schema := pgSchema(b)
			chains := make([]*audit.Chain, writers)
			for i := range chains {
				st, err := audit.OpenPostgres(context.Background(), dsn, audit.PostgresOptions{Schema: schema})
				if err != nil {
					b.Fatal(err)
				}
				c, err := audit.Open(context.Background(), audit.Options{Store: st})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				chains[i] = c
			}
			evs := audittest.Events(1024, time.Now())
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for i := range writers * 16 {
				c := chains[i%writers]
				wg.Go(func() {
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						if err := c.Append(context.Background(), evs[n%1024]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// queryMarker marks the context of the queries a test asks for.
type queryMarker struct{}

// seenQueries is a pgx.QueryTracer that keeps the statements of the
// queries started under a marked context.
type seenQueries struct {
	mu   sync.Mutex
	sqls []string
}

func (q *seenQueries) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if ctx.Value(queryMarker{}) != nil {
		q.mu.Lock()
		q.sqls = append(q.sqls, d.SQL)
		q.mu.Unlock()
	}
	return ctx
}

func (*seenQueries) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestPostgresQueriesTraced: the audit store's queries go through the
// tracer it was opened with, under the context of whoever asked, as the
// record store's do (a search under a request's span shows them).
func TestPostgresQueriesTraced(t *testing.T) {
	dsn, schema := pgSchema(t)
	seen := &seenQueries{}
	c, st := pgChainOfThree(t, dsn, audit.PostgresOptions{Schema: schema, Tracer: seen})
	defer c.Close()
	ctx := context.WithValue(context.Background(), queryMarker{}, true)
	if _, err := st.Get(ctx, 2); err != nil {
		t.Fatal(err)
	}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if len(seen.sqls) == 0 || !strings.Contains(strings.Join(seen.sqls, "\n"), "ura_audit_events") {
		t.Fatalf("queries traced under the asker's context: %q", seen.sqls)
	}
}
