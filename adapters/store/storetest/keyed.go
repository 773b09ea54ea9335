package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
)

// byLicence is a keyed register of the tests: each export declaration
// under the licence it cites, with its quantity (or, at version 2 of the
// derivation, its category). Decisions on a declaration read their
// licence's key.
func byLicence(version int) registers.Keyed {
	return registers.Keyed{
		Name:    "test_by_licence",
		Version: version,
		Entries: func(rec *records.Record) []registers.KeyedEntry {
			x, ok := registers.ExportOf(rec)
			if !ok {
				return nil
			}
			if version == 2 {
				return []registers.KeyedEntry{{Key: x.Licence, Value: map[string]any{"category": x.Category}}}
			}
			return []registers.KeyedEntry{{Key: x.Licence, Value: map[string]any{"quantity": x.Quantity}}}
		},
		Lookups: func(rec *records.Record) []string {
			if x, ok := registers.ExportOf(rec); ok {
				return []string{x.Licence}
			}
			return nil
		},
	}
}

// UseTestKeyed installs the tests' keyed register (derivation version 1)
// for the rest of the test.
func UseTestKeyed(t testing.TB) {
	t.Cleanup(registers.SetKeyed([]registers.Keyed{byLicence(1)}))
}

func scanAll(t testing.TB, s store.Store, register string) []string {
	t.Helper()
	var out []string
	err := s.ScanKeyed(ctx, register, func(key, id string, v json.RawMessage) error {
		out = append(out, fmt.Sprintf("%s/%s=%s", key, id, v))
		return nil
	})
	if err != nil {
		t.Fatalf("ScanKeyed: %v", err)
	}
	return out
}

func testKeyed(t *testing.T, newStore NewStore) {
	UseTestKeyed(t)
	s := newStore(t)
	for _, r := range []*records.Record{
		ExportLicence(t, "LIC-1", 1, "issued", 10, "L1", "KAYO sh.a."),
		ExportLicence(t, "LIC-2", 1, "issued", 10, "L1", "KAYO sh.a."),
		Declaration(t, "DEC-1", 1, "LIC-1", "ML1", 3),
		Declaration(t, "DEC-2", 1, "LIC-1", "ML1", 2),
	} {
		put(t, s, r, store.Accepted)
	}
	want := []string{`LIC-1/DEC-1={"quantity":3}`, `LIC-1/DEC-2={"quantity":2}`}
	if got := scanAll(t, s, "test_by_licence"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scan = %v, want %v", got, want)
	}
	snap := read(t, s, registers.Refs{Keyed: []registers.KeyRef{{Register: "test_by_licence", Key: "LIC-1"}, {Register: "test_by_licence", Key: "LIC-2"}}})
	if got := snap.KeyedEntries("test_by_licence", "LIC-1"); len(got) != 2 || got["DEC-1"].Version != 1 || string(got["DEC-1"].Value) != `{"quantity":3}` {
		t.Fatalf("read LIC-1 = %v", got)
	}
	if got := snap.KeyedEntries("test_by_licence", "LIC-2"); len(got) != 0 {
		t.Fatalf("read LIC-2 = %v, want nothing", got)
	}
	// A new version moves its entry: nothing of the old one is left.
	put(t, s, Declaration(t, "DEC-1", 2, "LIC-2", "ML1", 4), store.Accepted)
	want = []string{`LIC-1/DEC-2={"quantity":2}`, `LIC-2/DEC-1={"quantity":4}`}
	if got := scanAll(t, s, "test_by_licence"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after a new version: scan = %v, want %v", got, want)
	}
	// A version refused by the store (older) changes nothing.
	if _, err := s.Put(ctx, Declaration(t, "DEC-1", 1, "LIC-1", "ML1", 5), nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("an older version: %v, want a conflict", err)
	}
	if got := scanAll(t, s, "test_by_licence"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after a stale version: scan = %v, want %v", got, want)
	}
	// An export refused for its balance puts nothing on the register.
	if r := s.PutBatch(ctx, []store.Item{{Record: Declaration(t, "DEC-9", 1, "LIC-2", "ML1", 99)}}); r[0].Err == nil {
		t.Fatalf("an export over the balance was stored")
	}
	if got := scanAll(t, s, "test_by_licence"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after a refused export: scan = %v, want %v", got, want)
	}
}

// KeyedRebuild checks that a store rebuilds a keyed register from its
// records when it is opened by a gateway whose derivation is newer:
// reopen opens the same store again.
func KeyedRebuild(t *testing.T, s store.Store, reopen func() store.Store) {
	restore := registers.SetKeyed([]registers.Keyed{byLicence(1)})
	defer restore()
	put(t, s, ExportLicence(t, "LIC-1", 1, "issued", 10, "L1", "KAYO sh.a."), store.Accepted)
	put(t, s, Declaration(t, "DEC-1", 1, "LIC-1", "ML1", 3), store.Accepted)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	registers.SetKeyed([]registers.Keyed{byLicence(2)})
	s = reopen()
	want := []string{`LIC-1/DEC-1={"category":"ML1"}`}
	if got := scanAll(t, s, "test_by_licence"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the rebuild: scan = %v, want %v", got, want)
	}
	// An older derivation opening it leaves it as the newer one wrote it.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	registers.SetKeyed([]registers.Keyed{byLicence(1)})
	s = reopen()
	defer s.Close()
	if got := scanAll(t, s, "test_by_licence"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("opened by an older derivation: scan = %v, want %v", got, want)
	}
}
