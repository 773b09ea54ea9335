package apitest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ura-gateway/ura/gateway/authority"
)

// releases are the fake store's release requests (store.Releases), kept in
// memory with the real stores' rules: one change at a time, newest first.
type releases struct {
	mu   sync.Mutex
	byID map[string]authority.Request
}

func (s *Store) rel() *releases {
	s.relOnce.Do(func() { s.releases = &releases{byID: map[string]authority.Request{}} })
	return s.releases
}

// CreateRelease stores a new request.
func (s *Store) CreateRelease(_ context.Context, r authority.Request) error {
	rs := s.rel()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if _, ok := rs.byID[r.ID]; ok {
		return fmt.Errorf("release %s exists already", r.ID)
	}
	rs.byID[r.ID] = clone(r)
	return nil
}

// Release reads one request.
func (s *Store) Release(_ context.Context, id string) (authority.Request, error) {
	rs := s.rel()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r, ok := rs.byID[id]
	if !ok {
		return authority.Request{}, authority.ErrNotFound
	}
	return clone(r), nil
}

// UpdateRelease changes one request under the store's lock.
func (s *Store) UpdateRelease(_ context.Context, id string, fn func(*authority.Request) error) (authority.Request, error) {
	rs := s.rel()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r, ok := rs.byID[id]
	if !ok {
		return authority.Request{}, authority.ErrNotFound
	}
	r = clone(r)
	if err := fn(&r); err != nil {
		return authority.Request{}, err
	}
	r.ID = id
	rs.byID[id] = clone(r)
	return r, nil
}

// ListReleases calls fn for every request, newest first.
func (s *Store) ListReleases(_ context.Context, fn func(authority.Request) error) error {
	rs := s.rel()
	rs.mu.Lock()
	all := make([]authority.Request, 0, len(rs.byID))
	for _, r := range rs.byID {
		all = append(all, clone(r))
	}
	rs.mu.Unlock()
	slices.SortFunc(all, func(a, b authority.Request) int { return strings.Compare(b.ID, a.ID) })
	for _, r := range all {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// ReleasesFor lists the requests naming this record version and recipient.
func (s *Store) ReleasesFor(_ context.Context, recordID string, version int, recipient string) ([]authority.Request, error) {
	rs := s.rel()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []authority.Request
	for _, r := range rs.byID {
		if r.RecordID == recordID && r.Version == version && r.Recipient == recipient {
			out = append(out, clone(r))
		}
	}
	slices.SortFunc(out, func(a, b authority.Request) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func clone(r authority.Request) authority.Request {
	r.Approvals = slices.Clone(r.Approvals)
	return r
}
