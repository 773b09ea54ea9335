package upstream

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/bolt"
	"github.com/ura-gateway/ura/adapters/store/storetest"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/records"
)

// openInStore opens the embedded store at dir/ura.db and an outbox whose
// queues are in its file; the outbox file of older versions is dir/outbox.db.
func openInStore(t *testing.T, dir string, dest config.Destination) (*bolt.Store, *Outbox) {
	t.Helper()
	bs, err := bolt.Open(filepath.Join(dir, "ura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := newDeps().options(t)
	opts.Store, opts.DB = bs, bs.DB()
	o, err := Open(config.Upstream{Destinations: []config.Destination{dest}, Outbox: config.Outbox{Path: filepath.Join(dir, "outbox.db")}}, nil, opts)
	if err != nil {
		_ = bs.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close(); _ = bs.Close() })
	return bs, o
}

// putFollowed stores recs as a push does with the outbox in the store's
// file: each record with its entries, in one PutBatch.
func putFollowed(t *testing.T, bs *bolt.Store, o *Outbox, recs ...*records.Record) []store.Result {
	t.Helper()
	items := make([]store.Item, len(recs))
	var all []store.Follow
	for i, r := range recs {
		fs, err := o.Follows(Decided{Record: r, DecisionID: "d-" + r.ID})
		if err != nil {
			t.Fatal(err)
		}
		items[i] = store.Item{Record: r, Follow: fs}
		all = append(all, fs...)
	}
	res := bs.PutBatch(ctx, items)
	o.Queued(all)
	return res
}

// TestOutboxInStoreFile: with the embedded store, a record and its outbox
// entry are one commit. Refused records queue nothing; what is committed
// survives a restart of both and is delivered once, in order.
func TestOutboxInStoreFile(t *testing.T) {
	p := newPKI(t)
	bo := newBackOffice()
	up := newUpstream(t, p.serverTLS(p.inter, p.root), bo)
	dest := p.destination("aim-backoffice", "http", up.url(), records.KindLicence)
	dir := t.TempDir()
	bs, o := openInStore(t, dir, dest)
	if !o.InStore() {
		t.Fatal("an outbox opened on the store's file does not say so")
	}
	recs := licences(t, 3)
	clash := storetest.Licence(t, recs[0].ID, 1, "issued", base.Add(time.Hour)) // same id+version, other content
	for i, r := range putFollowed(t, bs, o, append(recs, clash)...) {
		switch {
		case i < 3 && (r.Err != nil || r.Outcome != store.Accepted):
			t.Fatalf("record %d: %v %v", i, r.Outcome, r.Err)
		case i == 3 && !errors.Is(r.Err, store.ErrConflict):
			t.Fatalf("the conflicting version was %v %v, want a conflict", r.Outcome, r.Err)
		}
	}
	if n := pending(t, o, "aim-backoffice"); n != 3 {
		t.Fatalf("%d entries queued, want 3: a refused record queues nothing", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "outbox.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an outbox file was created beside the store's: %v", err)
	}

	// A queue the outbox never made: the batch fails whole, nothing stored.
	lost := storetest.Licence(t, "AIM-LIC-2026-LOST", 1, "issued", base)
	res := bs.PutBatch(ctx, []store.Item{{Record: lost, Follow: []store.Follow{{Queue: "q/nowhere", Value: []byte("{}")}}}})
	if res[0].Err == nil {
		t.Fatal("a write to a queue that does not exist was accepted")
	}
	if _, err := bs.Get(ctx, lost.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the record of a failed queue write was stored: %v", err)
	}

	// Restart both; then the back office comes up.
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
	_, o2 := openInStore(t, dir, dest)
	if n := pending(t, o2, "aim-backoffice"); n != 3 {
		t.Fatalf("after the restart %d entries queued, want 3", n)
	}
	up.start()
	waitDelivered(t, o2, "aim-backoffice", 3)
	checkExactlyOnce(t, bo, recs)
}

// TestOutboxMovesItsFile: an outbox file left by an earlier version (its
// own bbolt file) is moved into the store's file at Open: queued entries in
// their order, parked ones too; the old file is renamed, and a move cut
// short after its copy committed is not copied twice.
func TestOutboxMovesItsFile(t *testing.T) {
	p := newPKI(t)
	bo := newBackOffice()
	up := newUpstream(t, p.serverTLS(p.inter, p.root), bo)
	dest := p.destination("aim-backoffice", "http", up.url(), records.KindLicence)
	dir := t.TempDir()
	oldPath := filepath.Join(dir, "outbox.db")
	recs := licences(t, 4)

	// The earlier version: records in the store, entries in outbox.db, one
	// of them parked.
	bs, err := bolt.Open(filepath.Join(dir, "ura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if _, err := bs.Put(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	opts := newDeps().options(t)
	opts.Store = bs
	old, err := Open(config.Upstream{Destinations: []config.Destination{dest}, Outbox: config.Outbox{Path: oldPath}}, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.EnqueueBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	parkOldest(t, oldPath, "aim-backoffice")
	// A crash after the copy committed and before the rename: the copy is
	// made here, the rename never happened.
	oldDB, err := bbolt.Open(oldPath, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := moveEntries(bs.DB(), oldDB); err != nil || n != 4 {
		t.Fatalf("moveEntries = %d, %v; want 4 entries", n, err)
	}
	if err := oldDB.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}

	bs2, o := openInStore(t, dir, dest)
	_ = bs2
	if n := pending(t, o, "aim-backoffice"); n != 3 {
		t.Errorf("%d entries queued after the move, want 3 (copied once)", n)
	}
	if parked, err := o.ParkedEntries("aim-backoffice"); err != nil || len(parked) != 1 || parked[0].ID != recs[0].ID {
		t.Errorf("parked after the move: %+v, %v; want %s", parked, err, recs[0].ID)
	}
	if _, err := os.Stat(oldPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old outbox file is still there: %v", err)
	}
	if _, err := os.Stat(oldPath + movedSuffix); err != nil {
		t.Errorf("the old outbox file was not kept as %s: %v", movedSuffix, err)
	}
	up.start()
	waitDelivered(t, o, "aim-backoffice", 3)
	checkExactlyOnce(t, bo, recs[1:])
}

// parkOldest moves the oldest queued entry of name to its dead letters, as a
// refusal for good would, in the closed outbox file at path.
func parkOldest(t *testing.T, path, name string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		q, dead := tx.Bucket(queueBucket(name)), tx.Bucket(deadBucket(name))
		k, v := q.Cursor().First()
		if err := dead.Put(k, v); err != nil {
			return err
		}
		return q.Delete(k)
	})
	if err != nil {
		t.Fatal(err)
	}
}
