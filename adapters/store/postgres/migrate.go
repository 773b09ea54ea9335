package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Advisory lock keys (classid of the two-key form). The second key is the
// schema's hash, so gateways on different schemas do not wait for each other.
const (
	lockMigrate = 0x55524101 // "URA\x01"
	lockSeq     = 0x55524102
)

// migrationRegisters created the register indexes, which are filled from
// the stored records in the same transaction.
const migrationRegisters = 2

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: name must start with NNNN_", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	// Numbers are reserved per change and may be merged in any order, so
	// a gap is allowed; a number twice is not.
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migration %s: version %d is also %s", out[i].name, out[i].version, out[i-1].name)
		}
	}
	return out, nil
}

// migrate brings the schema up to date in one transaction under an advisory
// lock, so replicas starting together apply each migration once and a failed
// migration leaves nothing half-applied. It returns the schema version.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) (int, error) {
	ms, err := migrations()
	if err != nil {
		return 0, err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockMigrate, schema); err != nil {
		return 0, fmt.Errorf("migration lock: %w", err)
	}
	if schema != "" {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return 0, fmt.Errorf("create schema: %w", err)
		}
		// The connection resolved its search_path before the schema
		// existed; name it again so the tables land inside it.
		if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return 0, err
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS ura_schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, fmt.Errorf("migration table: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT version FROM ura_schema_migrations ORDER BY version`)
	if err != nil {
		return 0, err
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return 0, err
	}
	known := map[int]bool{}
	for _, m := range ms {
		known[m.version] = true
	}
	done := map[int]bool{}
	current := 0
	for _, v := range applied {
		if !known[int(v)] {
			return int(v), fmt.Errorf("database schema has migration %d, which this gateway does not know: refusing to run against it", v)
		}
		done[int(v)] = true
		current = max(current, int(v))
	}
	last := ms[len(ms)-1].version
	// Every migration not applied yet, in order: one merged later under a
	// lower number than the database's highest is applied too.
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return current, fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO ura_schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return current, err
		}
		if m.version == migrationRegisters {
			if _, err := backfillRegisters(ctx, tx); err != nil {
				return current, fmt.Errorf("migration %s: index the stored records: %w", m.name, err)
			}
		}
	}
	if _, err := syncKeyed(ctx, tx); err != nil {
		return current, fmt.Errorf("keyed registers: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return current, err
	}
	return last, nil
}
