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
		n, err := recdoc.Emit(ctx, batch, fn)
		if sent += n; err != nil {
			return err
		}
		if len(batch) < want || (q.Limit > 0 && sent >= q.Limit) {
			return nil
		}
		cursor = int64(batch[len(batch)-1].Seq)
	}
}

func (s *Store) page(ctx context.Context, sql string, args []any) ([]recdoc.Hit, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres store: query: %w", err)
	}
	defer rows.Close()
	var out []recdoc.Hit
	for rows.Next() {
		var (
			seq int64
			raw []byte
		)
		if err := rows.Scan(&seq, &raw); err != nil {
			return nil, fmt.Errorf("postgres store: query: %w", err)
		}
		out = append(out, recdoc.Hit{Seq: uint64(seq), Raw: raw})
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
