package recdoc

import (
	"fmt"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/records"
)

// Stored is what a store holds of the latest version of an id.
type Stored struct {
	Kind    string
	Version int
	Raw     []byte
}

// VersionRule decides a Put of rec against latest, the latest stored
// version of its id (nil: the id was never stored), the same way in every
// store:
//   - an id stored as another kind is a conflict;
//   - the stored version again is Unchanged with the same content, a
//     conflict with other content;
//   - an older version is Unchanged when exactly that version is stored with
//     the same content (a late retry), a conflict otherwise;
//   - a newer version, or a new id, goes on (ok) to the lifecycle Check.
//
// older returns the raw JSON of an older stored version of the id, nil when
// that version is not stored; its error is a storage failure and is returned
// as err. When ok is false, res is the answer.
func VersionRule(rec *records.Record, latest *Stored, older func(version int) ([]byte, error)) (res store.Result, ok bool, err error) {
	if latest == nil {
		return store.Result{}, true, nil
	}
	if latest.Kind != rec.Kind {
		return conflict("%s is stored as a %s, not a %s", rec.ID, latest.Kind, rec.Kind), false, nil
	}
	switch {
	case rec.Version == latest.Version:
		if SameContent(latest.Raw, rec.Raw) {
			return store.Result{Outcome: store.Unchanged}, false, nil
		}
		return conflict("%s version %d is stored with other content", rec.ID, rec.Version), false, nil
	case rec.Version < latest.Version:
		old, err := older(rec.Version)
		if err != nil {
			return store.Result{}, false, err
		}
		if old != nil && SameContent(old, rec.Raw) {
			return store.Result{Outcome: store.Unchanged}, false, nil
		}
		return conflict("%s version %d is older than the stored version %d", rec.ID, rec.Version, latest.Version), false, nil
	}
	return store.Result{}, true, nil
}

func conflict(format string, args ...any) store.Result {
	return store.Result{Err: fmt.Errorf("%w: "+format, append([]any{store.ErrConflict}, args...)...)}
}

// RunCheck runs a lifecycle Check against the stored version prev (nil:
// none); a panicking Check refuses the Put instead of failing the store.
func RunCheck(check store.Check, prev *records.Record) (err error) {
	if check == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: lifecycle check panicked: %v", r)
		}
	}()
	return check(prev)
}
