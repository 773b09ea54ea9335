package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/internal/regindex"
	"github.com/ura-gateway/ura/gateway/registers"
)

// ApplyUsage applies a batch once (see store.UsageStore), in one
// transaction:
//
//  1. insert the batch's row; when its key is stored already (a concurrent
//     insert of the same key waits here for the other to commit) the stored
//     answer is returned, or ErrIdempotencyMismatch for another digest;
//  2. lock the index rows of the licences its lines use (FOR UPDATE, in id
//     order, as an export declaration does), then read what is used of
//     them: a batch committed by the writer that held a lock is counted;
//  3. check each line against its licence and what the stored usage and
//     the batch's earlier lines used, and write the applied lines, the sums
//     and the answer.
//
// Two batches never wait on each other in a cycle: the only locks taken
// after the licence rows are the batch's own.
func (s *Store) ApplyUsage(ctx context.Context, b store.UsageBatch) (store.UsageOutcome, error) {
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var out store.UsageOutcome
		out, err = s.applyUsage(ctx, b)
		if err == nil || errors.Is(err, store.ErrIdempotencyMismatch) {
			return out, err
		}
		if !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	return store.UsageOutcome{}, fmt.Errorf("postgres store: usage: %w", err)
}

func (s *Store) applyUsage(ctx context.Context, b store.UsageBatch) (store.UsageOutcome, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.UsageOutcome{}, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	tag, err := tx.Exec(ctx, `INSERT INTO ura_usage_batches (member, idem_key, digest, answer) VALUES ($1, $2, $3, '{}')
		ON CONFLICT (member, idem_key) DO NOTHING`, b.Member, b.Key, b.Digest)
	if err != nil {
		return store.UsageOutcome{}, err
	}
	if tag.RowsAffected() == 0 {
		var digest string
		var answer []byte
		if err := tx.QueryRow(ctx, `SELECT digest, answer FROM ura_usage_batches WHERE member = $1 AND idem_key = $2`,
			b.Member, b.Key).Scan(&digest, &answer); err != nil {
			return store.UsageOutcome{}, err
		}
		if digest != b.Digest {
			return store.UsageOutcome{}, store.ErrIdempotencyMismatch
		}
		var out store.UsageOutcome
		if err := json.Unmarshal(answer, &out); err != nil {
			return store.UsageOutcome{}, fmt.Errorf("usage batch answer: %w", err)
		}
		out.Replayed = true
		return out, nil
	}

	skip := map[int]bool{}
	for _, r := range b.Rejected {
		skip[r.Line] = true
	}
	var ids []string
	for i, l := range b.Lines {
		if !skip[i] {
			ids = append(ids, l.LicenceID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	lics := map[string]*registers.Licence{}
	used := map[string]map[string]int64{}
	if len(ids) > 0 {
		rows, err := tx.Query(ctx, `SELECT to_jsonb(l) FROM ura_reg_licences l WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
		if err != nil {
			return store.UsageOutcome{}, err
		}
		raws, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return store.UsageOutcome{}, err
		}
		for _, raw := range raws {
			l, err := decodeLicence(raw)
			if err != nil {
				return store.UsageOutcome{}, err
			}
			lics[l.ID] = l
		}
		rows, err = tx.Query(ctx, `SELECT licence_id, category, quantity FROM ura_usage_used WHERE licence_id = ANY($1)`, ids)
		if err != nil {
			return store.UsageOutcome{}, err
		}
		for rows.Next() {
			var lic, cat string
			var q int64
			if err := rows.Scan(&lic, &cat, &q); err != nil {
				rows.Close()
				return store.UsageOutcome{}, err
			}
			if used[lic] == nil {
				used[lic] = map[string]int64{}
			}
			used[lic][cat] = q
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return store.UsageOutcome{}, err
		}
	}

	out := store.UsageOutcome{Applied: []int{}, Rejected: append([]store.UsageRejection{}, b.Rejected...)}
	batch := &pgx.Batch{}
	for i, l := range b.Lines {
		if skip[i] {
			continue
		}
		u := used[l.LicenceID][l.Category]
		if code, msg, ok := regindex.CheckUsage(l, lics[l.LicenceID], u); !ok {
			out.Rejected = append(out.Rejected, store.UsageRejection{Line: i, Code: code, Message: msg})
			continue
		}
		if used[l.LicenceID] == nil {
			used[l.LicenceID] = map[string]int64{}
		}
		used[l.LicenceID][l.Category] = u + l.Quantity
		batch.Queue(`INSERT INTO ura_usage_lines (member, idem_key, line, licence_id, category, quantity, declaration, used_on)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, b.Member, b.Key, i, l.LicenceID, l.Category, l.Quantity, l.Declaration, l.Date)
		batch.Queue(`INSERT INTO ura_usage_used (licence_id, category, quantity) VALUES ($1, $2, $3)
			ON CONFLICT (licence_id, category) DO UPDATE SET quantity = ura_usage_used.quantity + EXCLUDED.quantity`,
			l.LicenceID, l.Category, l.Quantity)
		out.Applied = append(out.Applied, i)
	}
	store.SortRejections(out.Rejected)
	answer, err := store.MarshalOutcome(out)
	if err != nil {
		return store.UsageOutcome{}, err
	}
	batch.Queue(`UPDATE ura_usage_batches SET answer = $3 WHERE member = $1 AND idem_key = $2`, b.Member, b.Key, answer)
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return store.UsageOutcome{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return store.UsageOutcome{}, err
	}
	return out, nil
}

// Usage is a licence's usage per category (see store.UsageStore).
func (s *Store) Usage(ctx context.Context, licenceID string) (store.LicenceUsage, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT to_jsonb(l) FROM ura_reg_licences l WHERE id = $1`, licenceID).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.LicenceUsage{}, store.ErrNotFound
	}
	if err != nil {
		return store.LicenceUsage{}, fmt.Errorf("postgres store: usage: %w", err)
	}
	lic, err := decodeLicence(raw)
	if err != nil {
		return store.LicenceUsage{}, err
	}
	rows, err := s.pool.Query(ctx, `SELECT category, quantity FROM ura_usage_used WHERE licence_id = $1`, licenceID)
	if err != nil {
		return store.LicenceUsage{}, fmt.Errorf("postgres store: usage: %w", err)
	}
	used := map[string]int64{}
	for rows.Next() {
		var cat string
		var q int64
		if err := rows.Scan(&cat, &q); err != nil {
			rows.Close()
			return store.LicenceUsage{}, err
		}
		used[cat] = q
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return store.LicenceUsage{}, fmt.Errorf("postgres store: usage: %w", err)
	}
	return regindex.UsageOf(lic, used), nil
}
