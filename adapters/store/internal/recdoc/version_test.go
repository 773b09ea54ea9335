package recdoc

import (
	"errors"
	"testing"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/records"
)

func TestVersionRule(t *testing.T) {
	v1 := []byte(`{"id":"L","version":1,"a":1}`)
	v2 := []byte(`{"id":"L","version":2,"a":2}`)
	latest := &Stored{Kind: records.KindLicence, Version: 2, Raw: v2}
	olderV1 := func(version int) ([]byte, error) {
		if version == 1 {
			return v1, nil
		}
		return nil, nil
	}
	diskFailure := errors.New("disk on fire")
	rec := func(kind string, version int, raw string) *records.Record {
		return &records.Record{ID: "L", Kind: kind, Version: version, Raw: []byte(raw)}
	}
	cases := []struct {
		name     string
		rec      *records.Record
		latest   *Stored
		older    func(int) ([]byte, error)
		wantOK   bool
		want     store.Outcome
		conflict bool
		err      error
	}{
		{name: "new id", rec: rec(records.KindLicence, 1, `{}`), wantOK: true},
		{name: "newer version", rec: rec(records.KindLicence, 3, `{}`), latest: latest, wantOK: true},
		{name: "same version, same content written differently", rec: rec(records.KindLicence, 2, `{"a":2, "version":2, "id":"L"}`), latest: latest, want: store.Unchanged},
		{name: "same version, other content", rec: rec(records.KindLicence, 2, `{"id":"L","version":2,"a":3}`), latest: latest, conflict: true},
		{name: "older version stored with the same content", rec: rec(records.KindLicence, 1, string(v1)), latest: latest, older: olderV1, want: store.Unchanged},
		{name: "older version, other content", rec: rec(records.KindLicence, 1, `{"id":"L","version":1,"a":9}`), latest: latest, older: olderV1, conflict: true},
		{name: "older version never stored", rec: rec(records.KindLicence, 1, string(v1)), latest: latest, older: func(int) ([]byte, error) { return nil, nil }, conflict: true},
		{name: "older version unreadable", rec: rec(records.KindLicence, 1, string(v1)), latest: latest, older: func(int) ([]byte, error) { return nil, diskFailure }, err: diskFailure},
		{name: "another kind", rec: rec(records.KindEntity, 3, `{}`), latest: latest, conflict: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, ok, err := VersionRule(tc.rec, tc.latest, tc.older)
			switch {
			case !errors.Is(err, tc.err):
				t.Fatalf("err = %v, want %v", err, tc.err)
			case ok != tc.wantOK:
				t.Fatalf("ok = %v, want %v (%+v)", ok, tc.wantOK, res)
			case tc.conflict != errors.Is(res.Err, store.ErrConflict):
				t.Fatalf("result %+v, conflict wanted: %v", res, tc.conflict)
			case res.Outcome != tc.want:
				t.Fatalf("outcome %q, want %q", res.Outcome, tc.want)
			}
		})
	}
}

func TestRunCheckPanicRefuses(t *testing.T) {
	if err := RunCheck(nil, nil); err != nil {
		t.Fatalf("no check: %v", err)
	}
	if err := RunCheck(func(*records.Record) error { panic("boom") }, nil); err == nil {
		t.Fatal("a panicking check did not refuse")
	}
}
