package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/authority"
	"github.com/ura-gateway/ura/gateway/identity"
)

func runReleases(t *testing.T, newStore NewStore) {
	t.Run("ReleasesCreateGet", func(t *testing.T) { testReleasesCreateGet(t, newStore(t)) })
	t.Run("ReleasesFor", func(t *testing.T) { testReleasesFor(t, newStore(t)) })
	t.Run("ReleasesList", func(t *testing.T) { testReleasesList(t, newStore(t)) })
	t.Run("ReleasesUpdateRefused", func(t *testing.T) { testReleasesUpdateRefused(t, newStore(t)) })
	t.Run("ReleasesConcurrentApprovals", func(t *testing.T) { testReleasesConcurrent(t, newStore(t)) })
}

// releaseBase is a fixed request time; ids are UUIDv7-shaped, in time order.
var releaseBase = time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)

func releaseID(i int) string { return fmt.Sprintf("0190a000-0000-7000-8000-%012d", i) }

// ReleaseRequest is a pending request i for recordID v1 to IT/GOV/MOD.
func ReleaseRequest(i int, recordID string) authority.Request {
	return authority.New(releaseID(i), recordID, 1, "IT/GOV/MOD", "export contract review", "AL/GOV/AIM",
		releaseBase.Add(time.Duration(i)*time.Minute), 72*time.Hour)
}

// Officer is a security officer with the release role.
func Officer(id string) identity.Member {
	return identity.Member{ID: id, Kind: identity.KindAuditor, Nation: "ALB", Clearance: "SECRET", Roles: []string{authority.Role}}
}

func createRelease(t testing.TB, s store.Store, r authority.Request) {
	t.Helper()
	if err := s.CreateRelease(ctx, r); err != nil {
		t.Fatalf("CreateRelease %s: %v", r.ID, err)
	}
}

func testReleasesCreateGet(t *testing.T, s store.Store) {
	r := ReleaseRequest(1, "AIM-LIC-2026-000123")
	createRelease(t, s, r)
	got, err := s.Release(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RecordID != r.RecordID || got.Version != 1 || got.Recipient != r.Recipient || got.RequestedBy != r.RequestedBy ||
		got.Justification != r.Justification || !got.RequestedAt.Equal(r.RequestedAt) || !got.ExpiresAt.Equal(r.ExpiresAt) ||
		len(got.Approvals) != 0 || got.Status(r.RequestedAt) != authority.StatusPending {
		t.Errorf("read back %+v, stored %+v", got, r)
	}
	if err := s.CreateRelease(ctx, r); err == nil {
		t.Error("a second request with the same id was stored")
	}
	if _, err := s.Release(ctx, releaseID(99)); !errors.Is(err, authority.ErrNotFound) {
		t.Errorf("missing release: %v, want authority.ErrNotFound", err)
	}
	if _, err := s.UpdateRelease(ctx, releaseID(99), func(*authority.Request) error { return nil }); !errors.Is(err, authority.ErrNotFound) {
		t.Errorf("update of a missing release: %v, want authority.ErrNotFound", err)
	}
}

func testReleasesFor(t *testing.T, s store.Store) {
	want := ReleaseRequest(1, "AIM-LIC-2026-000123")
	other := []authority.Request{ReleaseRequest(2, "AIM-LIC-2026-000124"), ReleaseRequest(3, "AIM-LIC-2026-000123"), ReleaseRequest(4, "AIM-LIC-2026-000123")}
	other[1].Version = 2
	other[2].Recipient = "NATO/ORG/LIAISON"
	second := ReleaseRequest(5, "AIM-LIC-2026-000123")
	for _, r := range append([]authority.Request{want, second}, other...) {
		createRelease(t, s, r)
	}
	got, err := s.ReleasesFor(ctx, "AIM-LIC-2026-000123", 1, "IT/GOV/MOD")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != want.ID || got[1].ID != second.ID {
		t.Errorf("ReleasesFor = %v, want %s then %s only", ids(got), want.ID, second.ID)
	}
	// A prefix of a record id or recipient is not the record or recipient.
	for _, q := range [][3]any{{"AIM-LIC-2026-00012", 1, "IT/GOV/MOD"}, {"AIM-LIC-2026-000123", 1, "IT/GOV/MO"}, {"AIM-LIC-2026-000123", 3, "IT/GOV/MOD"}} {
		got, err := s.ReleasesFor(ctx, q[0].(string), q[1].(int), q[2].(string))
		if err != nil || len(got) != 0 {
			t.Errorf("ReleasesFor%v = %v, %v; want none", q, ids(got), err)
		}
	}
}

func testReleasesList(t *testing.T, s store.Store) {
	for _, i := range []int{3, 1, 2} {
		createRelease(t, s, ReleaseRequest(i, "AIM-LIC-2026-000123"))
	}
	var got []authority.Request
	if err := s.ListReleases(ctx, func(r authority.Request) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != releaseID(3) || got[1].ID != releaseID(2) || got[2].ID != releaseID(1) {
		t.Errorf("ListReleases = %v, want newest first", ids(got))
	}
	stop := errors.New("stop")
	n := 0
	if err := s.ListReleases(ctx, func(authority.Request) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("ListReleases after fn's error: %v, %d calls", err, n)
	}
}

func testReleasesUpdateRefused(t *testing.T, s store.Store) {
	r := ReleaseRequest(1, "AIM-LIC-2026-000123")
	createRelease(t, s, r)
	now := r.RequestedAt.Add(time.Hour)
	one := Officer("AL/GOV/AUDIT")
	if _, err := s.UpdateRelease(ctx, r.ID, func(x *authority.Request) error { return x.Approve(one, now, time.Hour) }); err != nil {
		t.Fatal(err)
	}
	_, err := s.UpdateRelease(ctx, r.ID, func(x *authority.Request) error { return x.Approve(one, now, time.Hour) })
	if !errors.Is(err, authority.ErrSameOfficer) {
		t.Fatalf("second approval by the same officer: %v", err)
	}
	got, _ := s.Release(ctx, r.ID)
	if len(got.Approvals) != 1 || got.Approvals[0].Officer != one.ID || !got.Approvals[0].At.Equal(now) {
		t.Errorf("approvals after a refused update: %+v", got.Approvals)
	}
	got, err = s.UpdateRelease(ctx, r.ID, func(x *authority.Request) error { return x.Approve(Officer("AL/GOV/AUDIT2"), now, time.Hour) })
	if err != nil || got.Status(now) != authority.StatusApproved || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("second officer: %v, %+v", err, got)
	}
	if again, _ := s.Release(ctx, r.ID); again.Status(now) != authority.StatusApproved || len(again.Approvals) != 2 {
		t.Errorf("read back %+v", again)
	}
}

// testReleasesConcurrent approves one request from many goroutines at
// once: the two officers' approvals both count, each once, whatever the
// interleaving, because each update reads what the one before it wrote.
func testReleasesConcurrent(t *testing.T, s store.Store) {
	r := ReleaseRequest(1, "AIM-LIC-2026-000123")
	createRelease(t, s, r)
	now := r.RequestedAt.Add(time.Hour)
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		ok, refused int
	)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			officer := Officer([]string{"AL/GOV/AUDIT", "AL/GOV/AUDIT2", "AL/GOV/AUDIT3"}[i%3])
			_, err := s.UpdateRelease(ctx, r.ID, func(x *authority.Request) error { return x.Approve(officer, now, time.Hour) })
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else {
				refused++
			}
		}()
	}
	wg.Wait()
	got, err := s.Release(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ok != authority.Required || len(got.Approvals) != authority.Required || got.Approvals[0].Officer == got.Approvals[1].Officer {
		t.Errorf("%d approvals taken, %d refused; stored %+v", ok, refused, got.Approvals)
	}
}

// ReleasesSurvive checks that a request approved through s is read, as
// approved, through other: the same store reopened after a restart, or
// another replica's store on the same database.
func ReleasesSurvive(t *testing.T, s store.Store, other func() store.Store) {
	r := ReleaseRequest(7, "AIM-LIC-2026-000777")
	createRelease(t, s, r)
	now := r.RequestedAt.Add(time.Minute)
	if _, err := s.UpdateRelease(ctx, r.ID, func(x *authority.Request) error { return x.Approve(Officer("AL/GOV/AUDIT"), now, time.Hour) }); err != nil {
		t.Fatal(err)
	}
	o := other()
	got, err := o.UpdateRelease(ctx, r.ID, func(x *authority.Request) error { return x.Approve(Officer("AL/GOV/AUDIT2"), now, time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	if got.Status(now) != authority.StatusApproved {
		t.Fatalf("status %s after approvals through two stores", got.Status(now))
	}
	found, err := o.ReleasesFor(ctx, r.RecordID, 1, r.Recipient)
	if err != nil || len(found) != 1 || !found[0].InForce(r.RecordID, 1, r.Recipient, now) {
		t.Errorf("ReleasesFor through the other store: %+v, %v", found, err)
	}
}

func ids(rs []authority.Request) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
