package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/storetest"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// schemaName is a fresh schema per store, so tests neither see each other's
// records nor need the database to themselves.
func schemaName(tb testing.TB) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "ura_test_" + hex.EncodeToString(b)
}

func dropSchema(tb testing.TB, dsn, schema string) {
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		tb.Errorf("drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		tb.Errorf("drop schema %s: %v", schema, err)
	}
}

func open(tb testing.TB) *Store {
	tb.Helper()
	dsn := testenv.Postgres(tb)
	schema := schemaName(tb)
	s, err := Open(context.Background(), Options{DSN: dsn, Schema: schema})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = s.Close()
		dropSchema(tb, dsn, schema)
	})
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) store.Store { return open(tb) })
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(tb testing.TB) store.Store { return open(tb) })
}

func TestMillion(t *testing.T) {
	if os.Getenv("URA_LARGE") != "1" {
		t.Skip("set URA_LARGE=1 to store and stream 1,000,000 records")
	}
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("URA_LARGE_N")); err == nil && v > 0 {
		n = v
	}
	storetest.Large(t, open(t), n)
}

// TestMigrationsRace starts several gateways on one empty schema at once:
// the advisory lock must let exactly one apply each migration.
func TestMigrationsRace(t *testing.T) {
	dsn := testenv.Postgres(t)
	schema := schemaName(t)
	t.Cleanup(func() { dropSchema(t, dsn, schema) })
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	stores := make(chan *Store, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(context.Background(), Options{DSN: dsn, Schema: schema, MaxConns: 2})
			if err != nil {
				errs <- err
				return
			}
			stores <- s
		}()
	}
	wg.Wait()
	close(errs)
	close(stores)
	for err := range errs {
		t.Error(err)
	}
	for s := range stores {
		var count, max int
		if err := s.pool.QueryRow(context.Background(), `SELECT count(*), max(version) FROM ura_schema_migrations`).Scan(&count, &max); err != nil {
			t.Fatal(err)
		}
		ms, _ := migrations()
		if last := ms[len(ms)-1].version; count != len(ms) || max != last {
			t.Errorf("ura_schema_migrations has %d rows up to %d, want %d up to %d", count, max, len(ms), last)
		}
		_ = s.Close()
	}
}

// TestRefusesNewerSchema: a gateway must not write into a schema a newer
// release has migrated past what it understands.
func TestRefusesNewerSchema(t *testing.T) {
	s := open(t)
	if _, err := s.pool.Exec(context.Background(), `INSERT INTO ura_schema_migrations (version, name) VALUES (999, '0999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), Options{DSN: testenv.Postgres(t), Schema: s.schema}); err == nil {
		t.Fatal("opened a schema at a newer version")
	}
}

// TestAppliesEveryMigrationNotRecorded: migration numbers are reserved per
// change and may reach a database in any order, so each one not recorded is
// applied, whatever the highest recorded, and none twice.
func TestAppliesEveryMigrationNotRecorded(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if _, err := s.pool.Exec(ctx, `DROP TABLE ura_usage_used, ura_usage_lines, ura_usage_batches;
		DELETE FROM ura_schema_migrations WHERE name = '0005_usage.sql'`); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, Options{DSN: testenv.Postgres(t), Schema: s.schema})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s2.Close() }()
	var n int
	if err := s2.pool.QueryRow(ctx, `SELECT count(*) FROM ura_usage_batches`).Scan(&n); err != nil {
		t.Fatalf("migration 0005 not applied again: %v", err)
	}
	ms, _ := migrations()
	if err := s2.pool.QueryRow(ctx, `SELECT count(*) FROM ura_schema_migrations`).Scan(&n); err != nil || n != len(ms) {
		t.Fatalf("ura_schema_migrations has %d rows (%v), want %d", n, err, len(ms))
	}
}

func TestBadDSNDoesNotLeakPassword(t *testing.T) {
	_, err := Open(context.Background(), Options{DSN: "postgres://ura:s3cret-pw@127.0.0.1:1/ura?sslmode=bogus"})
	if err == nil {
		t.Fatal("Open with a bad DSN succeeded")
	}
	if got := err.Error(); contains(got, "s3cret-pw") {
		t.Errorf("error quotes the password: %s", got)
	}
	_, err = Open(context.Background(), Options{DSN: "postgres://ura:s3cret-pw@127.0.0.1:1/ura?sslmode=disable", ConnectTimeout: 1})
	if err == nil {
		t.Fatal("Open against a closed port succeeded")
	}
	if got := err.Error(); contains(got, "s3cret-pw") {
		t.Errorf("error quotes the password: %s", got)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestReleasesShared approves a release request once through one store and
// once through another on the same schema, as two replicas would.
func TestReleasesShared(t *testing.T) {
	dsn := testenv.Postgres(t)
	schema := schemaName(t)
	t.Cleanup(func() { dropSchema(t, dsn, schema) })
	openOn := func() store.Store {
		s, err := Open(context.Background(), Options{DSN: dsn, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	storetest.ReleasesSurvive(t, openOn(), openOn)
}

func TestKeyedRebuild(t *testing.T) {
	dsn := testenv.Postgres(t)
	schema := schemaName(t)
	t.Cleanup(func() { dropSchema(t, dsn, schema) })
	reopen := func() store.Store {
		s, err := Open(context.Background(), Options{DSN: dsn, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.KeyedRebuild(t, reopen(), reopen)
}
