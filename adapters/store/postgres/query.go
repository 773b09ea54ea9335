package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/internal/recdoc"
	"github.com/ura-gateway/ura/gateway/records"
)

// batchRecords is how many rows one round trip of a streaming Query reads.
// Rows are read completely before the consumer sees them, so a slow consumer
// holds neither a connection nor a snapshot, and memory stays bounded by one
// batch however many records stream.
const batchRecords = 500

type row struct {
	seq int64
	raw []byte
}

// Query streams matching records in the order they were stored.
func (s *Store) Query(ctx context.Context, q store.Query, fn func(rec *records.Record, cursor string) error) error {
	after, err := store.DecodeCursor(q.After)
	if err != nil {
		return err
	}
	if after > 1<<63-1 {
		return nil
	}
	where, args := filter(&q)
	sql := `SELECT seq, raw FROM ura_records WHERE seq > $1` + where + ` ORDER BY seq LIMIT $2`
	cursor := int64(after)
	sent := 0
	for {
		want := batchRecords
		if q.Limit > 0 && q.Limit-sent < want {
			want = q.Limit - sent
		}
		batch, err := s.page(ctx, sql, append([]any{cursor, want}, args...))
		if err != nil {
			return err
		}
		for _, r := range batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			rec, err := recdoc.Decode(r.raw)
			if err != nil {
				return err
			}
			if err := fn(rec, store.EncodeCursor(uint64(r.seq))); err != nil {
				return err
			}
			sent++
		}
		if len(batch) < want || (q.Limit > 0 && sent >= q.Limit) {
			return nil
		}
		cursor = batch[len(batch)-1].seq
	}
}

func (s *Store) page(ctx context.Context, sql string, args []any) ([]row, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres store: query: %w", err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.raw); err != nil {
			return nil, fmt.Errorf("postgres store: query: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: query: %w", err)
	}
	return out, nil
}

// filter renders q's filters as SQL conditions over parameters $3 onwards;
// every value is a parameter, never part of the SQL text.
func filter(q *store.Query) (string, []any) {
	var (
		b    strings.Builder
		args []any
	)
	cond := func(col string, v any) {
		args = append(args, v)
		b.WriteString(" AND " + col + " $" + strconv.Itoa(len(args)+2))
	}
	if q.Kind != "" {
		cond("kind =", q.Kind)
	}
	if q.Originator != "" {
		cond("originator =", q.Originator)
	}
	if q.LicenceID != "" {
		cond("licence_id =", q.LicenceID)
	}
	if q.Marking != nil {
		cond("mark_country =", q.Marking.Country)
		cond("mark_manufacturer =", q.Marking.Manufacturer)
		cond("mark_serial =", q.Marking.Serial)
	}
	if !q.Since.IsZero() {
		cond("created >=", q.Since)
	}
	return b.String(), args
}
