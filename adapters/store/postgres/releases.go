package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ura-gateway/ura/gateway/authority"
)

// The release requests of two-person release authority (store.Releases),
// in ura_releases (migration 0004_releases.sql).

// CreateRelease stores a new request.
func (s *Store) CreateRelease(ctx context.Context, r authority.Request) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO ura_releases (id, record_id, version, recipient, doc) VALUES ($1, $2, $3, $4, $5)`,
		r.ID, r.RecordID, r.Version, r.Recipient, doc); err != nil {
		return fmt.Errorf("postgres store: create release: %w", err)
	}
	return nil
}

// Release reads one request.
func (s *Store) Release(ctx context.Context, id string) (authority.Request, error) {
	var r authority.Request
	var doc []byte
	err := s.pool.QueryRow(ctx, `SELECT doc FROM ura_releases WHERE id = $1`, id).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, authority.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("postgres store: release: %w", err)
	}
	return r, json.Unmarshal(doc, &r)
}

// UpdateRelease changes one request with its row locked (SELECT … FOR
// UPDATE): replicas approving the same request at once take turns, each
// seeing the other's approval.
func (s *Store) UpdateRelease(ctx context.Context, id string, fn func(*authority.Request) error) (authority.Request, error) {
	var r authority.Request
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return r, fmt.Errorf("postgres store: update release: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var doc []byte
	err = tx.QueryRow(ctx, `SELECT doc FROM ura_releases WHERE id = $1 FOR UPDATE`, id).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, authority.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("postgres store: update release: %w", err)
	}
	if err := json.Unmarshal(doc, &r); err != nil {
		return authority.Request{}, err
	}
	if err := fn(&r); err != nil {
		return authority.Request{}, err
	}
	r.ID = id
	if doc, err = json.Marshal(r); err != nil {
		return authority.Request{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE ura_releases SET doc = $2 WHERE id = $1`, id, doc); err != nil {
		return authority.Request{}, fmt.Errorf("postgres store: update release: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return authority.Request{}, fmt.Errorf("postgres store: update release: %w", err)
	}
	return r, nil
}

// ListReleases calls fn for every request, newest first.
func (s *Store) ListReleases(ctx context.Context, fn func(authority.Request) error) error {
	rows, err := s.pool.Query(ctx, `SELECT doc FROM ura_releases ORDER BY id DESC`)
	if err != nil {
		return fmt.Errorf("postgres store: list releases: %w", err)
	}
	docs, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return fmt.Errorf("postgres store: list releases: %w", err)
	}
	for _, doc := range docs {
		var r authority.Request
		if err := json.Unmarshal(doc, &r); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// ReleasesFor lists the requests naming this record version and recipient.
func (s *Store) ReleasesFor(ctx context.Context, recordID string, version int, recipient string) ([]authority.Request, error) {
	rows, err := s.pool.Query(ctx, `SELECT doc FROM ura_releases WHERE record_id = $1 AND version = $2 AND recipient = $3 ORDER BY id`,
		recordID, version, recipient)
	if err != nil {
		return nil, fmt.Errorf("postgres store: releases for: %w", err)
	}
	docs, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("postgres store: releases for: %w", err)
	}
	out := make([]authority.Request, 0, len(docs))
	for _, doc := range docs {
		var r authority.Request
		if err := json.Unmarshal(doc, &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
