package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/ura-gateway/ura/gateway/authority"
)

// The release requests of two-person release authority (store.Releases):
// one bucket of requests by id, and an index by what each releases. Both
// buckets are created when a file is opened, so a file of format 2 written
// before them takes them without a format change.
var (
	bReleases  = []byte("releases")
	bReleaseIx = []byte("ix_release")
)

// releaseTarget is the index prefix of one record version and recipient.
func releaseTarget(recordID string, version int, recipient string) []byte {
	k := make([]byte, 0, len(recordID)+len(recipient)+6)
	k = append(k, recordID...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint32(k, uint32(version))
	k = append(k, recipient...)
	return append(k, 0)
}

// CreateRelease stores a new request.
func (s *Store) CreateRelease(ctx context.Context, r authority.Request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bReleases)
		if b.Get([]byte(r.ID)) != nil {
			return fmt.Errorf("release %s exists already", r.ID)
		}
		if err := b.Put([]byte(r.ID), v); err != nil {
			return err
		}
		return tx.Bucket(bReleaseIx).Put(append(releaseTarget(r.RecordID, r.Version, r.Recipient), r.ID...), nil)
	})
}

// Release reads one request.
func (s *Store) Release(ctx context.Context, id string) (authority.Request, error) {
	var r authority.Request
	if err := ctx.Err(); err != nil {
		return r, err
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bReleases).Get([]byte(id))
		if v == nil {
			return authority.ErrNotFound
		}
		return json.Unmarshal(v, &r)
	})
	return r, err
}

// UpdateRelease changes one request in one write transaction: bbolt has one
// writer at a time, so the read, fn and the write are never interleaved
// with another change.
func (s *Store) UpdateRelease(ctx context.Context, id string, fn func(*authority.Request) error) (authority.Request, error) {
	var r authority.Request
	if err := ctx.Err(); err != nil {
		return r, err
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bReleases)
		v := b.Get([]byte(id))
		if v == nil {
			return authority.ErrNotFound
		}
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
		r.ID = id
		out, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), out)
	})
	if err != nil {
		return authority.Request{}, err
	}
	return r, nil
}

// ListReleases calls fn for every request, newest first.
func (s *Store) ListReleases(ctx context.Context, fn func(authority.Request) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bReleases).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var r authority.Request
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("release %s: %w", k, err)
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReleasesFor lists the requests naming this record version and recipient.
func (s *Store) ReleasesFor(ctx context.Context, recordID string, version int, recipient string) ([]authority.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []authority.Request
	prefix := releaseTarget(recordID, version, recipient)
	err := s.db.View(func(tx *bbolt.Tx) error {
		rs := tx.Bucket(bReleases)
		c := tx.Bucket(bReleaseIx).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			v := rs.Get(k[len(prefix):])
			if v == nil {
				continue
			}
			var r authority.Request
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}
