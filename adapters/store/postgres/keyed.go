package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
)

// queueKeyed queues the keyed register writes of one stored record: what an
// earlier version put is removed (existed says there may be one), then
// what this version puts is written.
func queueKeyed(b *pgx.Batch, rec *records.Record, existed bool) error {
	if !registers.HasKeyed() {
		return nil
	}
	if existed {
		b.Queue(`DELETE FROM ura_reg_keyed WHERE record_id = $1`, rec.ID)
	}
	rows, err := registers.KeyedOf(rec, nil)
	if err != nil {
		return err
	}
	for _, r := range rows {
		b.Queue(`INSERT INTO ura_reg_keyed (register, key, record_id, version, value) VALUES ($1, $2, $3, $4, $5)`,
			r.Register, r.Key, rec.ID, rec.Version, string(r.Value))
	}
	return nil
}

// readKeyed adds the entries of refs' keyed register keys to out.
func readKeyed(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, refs []registers.KeyRef, out *registers.Snapshot) error {
	if len(refs) == 0 {
		return nil
	}
	regs, keys := make([]string, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		regs[i], keys[i] = r.Register, r.Key
	}
	rows, err := q.Query(ctx, `SELECT k.register, k.key, k.record_id, k.version, k.value::text FROM ura_reg_keyed k
		JOIN unnest($1::text[], $2::text[]) AS r(register, key) ON k.register = r.register AND k.key = r.key`, regs, keys)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var reg, key, id, value string
		var v int
		if err := rows.Scan(&reg, &key, &id, &v, &value); err != nil {
			return err
		}
		out.AddKeyed(reg, key, id, registers.KeyedValue{Version: v, Value: json.RawMessage(value)})
	}
	return rows.Err()
}

// ScanKeyed calls fn for every entry of one keyed register, in key and
// record id order, streaming.
func (s *Store) ScanKeyed(ctx context.Context, register string, fn func(key, recordID string, value json.RawMessage) error) error {
	rows, err := s.pool.Query(ctx, `SELECT key, record_id, value::text FROM ura_reg_keyed WHERE register = $1 ORDER BY key, record_id`, register)
	if err != nil {
		return fmt.Errorf("postgres store: keyed register %s: %w", register, err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, id, value string
		if err := rows.Scan(&key, &id, &value); err != nil {
			return fmt.Errorf("postgres store: keyed register %s: %w", register, err)
		}
		if err := fn(key, id, json.RawMessage(value)); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres store: keyed register %s: %w", register, err)
	}
	return nil
}

// syncKeyed brings the keyed registers up to this gateway's derivations, in
// the migration transaction (under its advisory lock): a register this
// gateway derives with a newer version than the store's entries were
// written by, or that the store has never had, is rebuilt from every stored
// record, read by id a chunk at a time. A register the store holds at a
// newer version is left as it is (a newer gateway wrote it; an older one
// keeps writing its own derivation until it is replaced).
func syncKeyed(ctx context.Context, tx pgx.Tx) (rebuilt []string, err error) {
	stored := map[string]int{}
	rows, err := tx.Query(ctx, `SELECT register, version FROM ura_reg_keyed_versions`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var name string
		var v int
		if err := rows.Scan(&name, &v); err != nil {
			rows.Close()
			return nil, err
		}
		stored[name] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	stale := map[string]bool{}
	for name, v := range registers.KeyedVersions() {
		if have, ok := stored[name]; !ok || have < v {
			stale[name] = true
			rebuilt = append(rebuilt, name)
		}
	}
	if len(stale) == 0 {
		return nil, nil
	}
	for name := range stale {
		if _, err := tx.Exec(ctx, `DELETE FROM ura_reg_keyed WHERE register = $1`, name); err != nil {
			return nil, err
		}
	}
	err = eachRecordChunk(ctx, tx, nil, func(recs []*records.Record) error {
		b := &pgx.Batch{}
		for _, rec := range recs {
			kr, err := registers.KeyedOf(rec, stale)
			if err != nil {
				return fmt.Errorf("record %s: %w", rec.ID, err)
			}
			for _, r := range kr {
				b.Queue(`INSERT INTO ura_reg_keyed (register, key, record_id, version, value) VALUES ($1, $2, $3, $4, $5)`,
					r.Register, r.Key, rec.ID, rec.Version, string(r.Value))
			}
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, err
	}
	versions := registers.KeyedVersions()
	for name := range stale {
		if _, err := tx.Exec(ctx, `INSERT INTO ura_reg_keyed_versions (register, version) VALUES ($1, $2)
			ON CONFLICT (register) DO UPDATE SET version = EXCLUDED.version`, name, versions[name]); err != nil {
			return nil, err
		}
	}
	return rebuilt, nil
}
