package authority

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/identity"
)

func officer(id string) identity.Member {
	return identity.Member{ID: id, Kind: identity.KindAuditor, Roles: []string{Role}}
}

// TestTwoPersonRule: two different officers, neither the requester; the
// same officer twice, an officer without the role, another kind of member
// with the role, and anything after a revocation or expiry are refused.
func TestTwoPersonRule(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	r := New("r1", "AIM-LIC-1", 3, "IT/GOV/MOD", "why", "AL/GOV/AUDIT3", t0, 72*time.Hour)
	if r.Status(t0) != StatusPending || !r.ExpiresAt.Equal(t0.Add(72*time.Hour)) {
		t.Fatalf("new request %+v", r)
	}
	refused := []struct {
		who  identity.Member
		want error
	}{
		{identity.Member{ID: "AL/GOV/AUDIT", Kind: identity.KindAuditor, Roles: []string{"audit"}}, ErrNotOfficer},
		{identity.Member{ID: "AL/GOV/AIM", Kind: identity.KindAgency, Roles: []string{Role}}, ErrNotOfficer},
		{officer("AL/GOV/AUDIT3"), ErrOwnRequest},
	}
	for _, c := range refused {
		if err := r.Approve(c.who, t0, time.Hour); !errors.Is(err, c.want) {
			t.Errorf("%s approving: %v, want %v", c.who.ID, err, c.want)
		}
	}
	if err := r.Approve(officer("AL/GOV/AUDIT"), t0.Add(time.Minute), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := r.Approve(officer("AL/GOV/AUDIT"), t0.Add(2*time.Minute), time.Hour); !errors.Is(err, ErrSameOfficer) {
		t.Errorf("same officer twice: %v", err)
	}
	if r.Status(t0.Add(2*time.Minute)) != StatusPending || r.InForce("AIM-LIC-1", 3, "IT/GOV/MOD", t0.Add(2*time.Minute)) {
		t.Fatal("one approval put the release in force")
	}
	at := t0.Add(3 * time.Minute)
	if err := r.Approve(officer("AL/GOV/AUDIT2"), at, time.Hour); err != nil {
		t.Fatal(err)
	}
	if !r.InForce("AIM-LIC-1", 3, "IT/GOV/MOD", at) || !r.ExpiresAt.Equal(at.Add(time.Hour)) {
		t.Fatalf("approved release not in force until %s: %+v", at.Add(time.Hour), r)
	}
	for _, q := range [][3]any{{"AIM-LIC-2", 3, "IT/GOV/MOD"}, {"AIM-LIC-1", 4, "IT/GOV/MOD"}, {"AIM-LIC-1", 3, "CZ/GOV/MOD"}} {
		if r.InForce(q[0].(string), q[1].(int), q[2].(string), at) {
			t.Errorf("in force for %v", q)
		}
	}
	if err := r.Approve(officer("AL/GOV/AUDIT4"), at, time.Hour); !errors.Is(err, ErrAlreadyApproved) {
		t.Errorf("third approval: %v", err)
	}
	if s := r.Summary(); !strings.Contains(s, "AL/GOV/AUDIT2") || strings.Contains(s, "why") {
		t.Errorf("summary %q", s)
	}
	// Expiry, recorded once.
	late := at.Add(time.Hour)
	if r.Status(late) != StatusExpired || r.InForce("AIM-LIC-1", 3, "IT/GOV/MOD", late) {
		t.Error("not expired at its expiry")
	}
	if !r.RecordExpiry(late) || r.RecordExpiry(late) {
		t.Error("expiry not recorded exactly once")
	}
	if err := r.Revoke(officer("AL/GOV/AUDIT"), late); !errors.Is(err, ErrExpired) {
		t.Errorf("revoking an expired release: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	r := New("r1", "AIM-LIC-1", 1, "IT/GOV/MOD", "", "AL/GOV/AIM", t0, time.Hour)
	_ = r.Approve(officer("AL/GOV/AUDIT"), t0, time.Hour)
	_ = r.Approve(officer("AL/GOV/AUDIT2"), t0, time.Hour)
	if err := r.Revoke(identity.Member{ID: "AL/GOV/AIM", Kind: identity.KindAgency}, t0); !errors.Is(err, ErrNotOfficer) {
		t.Errorf("agency revoking: %v", err)
	}
	if err := r.Revoke(officer("AL/GOV/AUDIT"), t0); err != nil {
		t.Fatal(err)
	}
	if r.Status(t0) != StatusRevoked || r.InForce("AIM-LIC-1", 1, "IT/GOV/MOD", t0) || r.RecordExpiry(t0.Add(2*time.Hour)) {
		t.Error("a revoked release is in force or expires")
	}
	if err := r.Revoke(officer("AL/GOV/AUDIT2"), t0); !errors.Is(err, ErrRevoked) {
		t.Errorf("second revocation: %v", err)
	}
	if err := r.Approve(officer("AL/GOV/AUDIT3"), t0, time.Hour); !errors.Is(err, ErrRevoked) {
		t.Errorf("approving a revoked release: %v", err)
	}
}
