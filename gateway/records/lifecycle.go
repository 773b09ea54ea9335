package records

import (
	"errors"
	"fmt"
)

// Licence statuses.
const (
	StatusIssued    = "issued"
	StatusRenewed   = "renewed"
	StatusSuspended = "suspended"
	StatusRevoked   = "revoked"
	StatusExpired   = "expired"
)

// licenceTransitions are the moves a licence's status may make from one
// version to the next. Revoked and expired are final. A suspended licence
// is reinstated by moving back to issued (or renewed). Renewed may follow
// renewed because each renewal is its own version; issued may not follow
// issued: an issued licence that changes is renewed, suspended or ended.
var licenceTransitions = map[string][]string{
	StatusIssued:    {StatusRenewed, StatusSuspended, StatusRevoked, StatusExpired},
	StatusRenewed:   {StatusRenewed, StatusSuspended, StatusRevoked, StatusExpired},
	StatusSuspended: {StatusIssued, StatusRenewed, StatusRevoked, StatusExpired},
	StatusRevoked:   {},
	StatusExpired:   {},
}

// ErrTransition is wrapped by every refused licence status change.
var ErrTransition = errors.New("licence status transition not allowed")

// ErrKindChange is returned when a new version of an id has another kind.
var ErrKindChange = errors.New("record kind cannot change")

// TransitionError names a refused licence status change.
type TransitionError struct{ From, To string }

func (e *TransitionError) Error() string {
	if len(licenceTransitions[e.From]) == 0 {
		return fmt.Sprintf("a %s licence cannot change status (to %s): %s is final", e.From, e.To, e.From)
	}
	return fmt.Sprintf("a licence cannot move from %s to %s", e.From, e.To)
}

func (e *TransitionError) Unwrap() error { return ErrTransition }

// LicenceTransition reports whether status from may become status to.
func LicenceTransition(from, to string) error {
	for _, ok := range licenceTransitions[from] {
		if ok == to {
			return nil
		}
	}
	return &TransitionError{From: from, To: to}
}

// LifecycleCheck is the rule a new version of rec must satisfy against the
// stored one. It has store.Check's shape so that the store runs it inside
// the transaction that writes rec: two concurrent pushes are decided one
// after the other against what the first stored. The store calls it only
// for a version above the stored one (or for a new id); equal and older
// versions are its own business (unchanged or conflict). A first version
// may carry any status, so that a register kept before the gateway existed
// can be loaded as it stands.
func LifecycleCheck(rec *Record) func(prev *Record) error {
	return func(prev *Record) error {
		if prev == nil || prev.Version >= rec.Version {
			return nil
		}
		if prev.Kind != rec.Kind {
			return fmt.Errorf("%w: %s is a %s, not a %s", ErrKindChange, rec.ID, prev.Kind, rec.Kind)
		}
		if rec.Kind != KindLicence {
			return nil
		}
		from, _ := prev.Body()["status"].(string)
		to, _ := rec.Body()["status"].(string)
		return LicenceTransition(from, to)
	}
}
