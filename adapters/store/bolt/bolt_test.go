package bolt

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/storetest"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"

	bbolt "go.etcd.io/bbolt"
)

func open(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(filepath.Join(tb.TempDir(), "data", "ura.db"), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) store.Store { return open(tb) })
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(tb testing.TB) store.Store { return open(tb) })
}

// TestMillion is the opt-in bounded-memory check: URA_LARGE=1 stores
// 1,000,000 records (URA_LARGE_N overrides the count) and streams them back.
func TestMillion(t *testing.T) {
	if os.Getenv("URA_LARGE") != "1" {
		t.Skip("set URA_LARGE=1 to store and stream 1,000,000 records")
	}
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("URA_LARGE_N")); err == nil && v > 0 {
		n = v
	}
	s := open(t)
	storetest.Large(t, s, n)
	if fi, err := os.Stat(s.Path()); err == nil {
		t.Logf("file size %.1f MiB", float64(fi.Size())/(1<<20))
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ura.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	for v, st := range []string{"issued", "suspended"} {
		if _, err := s.Put(ctx, storetest.Licence(t, "AIM-LIC-2026-000123", v+1, st, base), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(ctx, storetest.Entity(t, "L61234567A", 1, "KAYO sh.a.", base), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get(ctx, "AIM-LIC-2026-000123")
	if err != nil || got.Version != 2 {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
	vs, err := s.Versions(ctx, "AIM-LIC-2026-000123")
	if err != nil || len(vs) != 2 {
		t.Fatalf("history after reopen: %d %v", len(vs), err)
	}
	// The sequence continues: a record stored after reopening sorts last.
	if _, err := s.Put(ctx, storetest.Entity(t, "L99999999Z", 1, "Trader", base), nil); err != nil {
		t.Fatal(err)
	}
	var order []string
	_ = s.Query(ctx, store.Query{}, func(r *records.Record, _ string) error { order = append(order, r.ID); return nil })
	if len(order) != 3 || order[2] != "L99999999Z" {
		t.Errorf("order after reopen: %v", order)
	}
}

func TestSecondProcessIsLockedOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ura.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// bbolt locks the file: a second gateway on the same file must fail at
	// start, not corrupt it.
	_, err = Open(path, Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		t.Fatal("second Open of a locked file succeeded")
	}
}

func TestRefusesForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ura.db")
	if err := os.WriteFile(path, []byte("not a bbolt file, but someone's notes"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{Timeout: 100 * time.Millisecond}); err == nil {
		t.Fatal("opened a file that is not a store")
	}
}

func TestFileIsPrivate(t *testing.T) {
	s := open(t)
	for _, p := range []string{s.Path(), filepath.Dir(s.Path())} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v; group and others must have no access", p, fi.Mode().Perm())
		}
	}
}

// TestBackfillRegisters: a file written before the register indexes existed
// (format 1) gets them at Open, in chunks.
func TestBackfillRegisters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ura.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs := []*records.Record{
		storetest.ExportLicence(t, "LIC-1", 1, "issued", 10, "L1", "KAYO"),
		storetest.Declaration(t, "DEC-1", 1, "LIC-1", "ML1", 4),
		storetest.Declaration(t, "DEC-1", 2, "LIC-1", "ML1", 6),
		storetest.Exclusion(t, "EXC-1", 1, "L1", "Kayo", "2025-01-01", ""),
	}
	for i := range backfillChunk + 10 { // more than one back-fill chunk
		recs = append(recs, storetest.Small(t, i))
	}
	items := make([]store.Item, len(recs))
	for i, r := range recs {
		items[i].Record = r
	}
	for i, r := range s.PutBatch(ctx, items) {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
	}
	// Back to a format 1 file: no register buckets.
	err = s.db.Update(func(tx *bbolt.Tx) error {
		for _, b := range regBuckets {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put(keyFormat, binary.BigEndian.AppendUint32(nil, formatBeforeRegister))
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap, err := s.Registers(ctx, registers.Refs{Licences: []string{"LIC-1", "AIM-LIC-2026-0005009"}})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Licences["LIC-1"] == nil || snap.Licences["AIM-LIC-2026-0005009"] == nil || snap.Exported["LIC-1"]["ML1"] != 6 || snap.ByID["L1"]["EXC-1"] == nil {
		t.Fatalf("after back-fill: licences %v exported %v exclusions %v", snap.Licences, snap.Exported, snap.ByID)
	}
	if _, err := s.Put(ctx, storetest.Declaration(t, "DEC-2", 1, "LIC-1", "ML1", 5), nil); storetest.LicenceCode(err) != "licence_quantity_exceeded" {
		t.Fatalf("the back-filled balance is not enforced: %v", err)
	}
}

func TestKeyedRebuild(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ura.db")
	reopen := func() store.Store {
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.KeyedRebuild(t, reopen(), reopen)
}
