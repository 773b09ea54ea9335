package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/records"
)

// NewStore returns a fresh, empty store; it may register its own cleanup,
// which must tolerate the store being closed already.
type NewStore func(tb testing.TB) store.Store

// Run runs the contract suite against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	t.Run("PutGet", func(t *testing.T) { testPutGet(t, newStore(t)) })
	t.Run("Versions", func(t *testing.T) { testVersions(t, newStore(t)) })
	t.Run("GetMany", func(t *testing.T) { testGetMany(t, newStore(t)) })
	t.Run("Unchanged", func(t *testing.T) { testUnchanged(t, newStore(t)) })
	t.Run("Conflicts", func(t *testing.T) { testConflicts(t, newStore(t)) })
	t.Run("CheckHook", func(t *testing.T) { testCheck(t, newStore(t)) })
	t.Run("QueryFilters", func(t *testing.T) { testQueryFilters(t, newStore(t)) })
	t.Run("QueryOrderAndLatest", func(t *testing.T) { testQueryOrder(t, newStore(t)) })
	t.Run("CursorPaging", func(t *testing.T) { testPaging(t, newStore(t)) })
	t.Run("CursorStableWhileInserting", func(t *testing.T) { testCursorStable(t, newStore(t)) })
	t.Run("WriteDuringStream", func(t *testing.T) { testWriteDuringStream(t, newStore(t)) })
	t.Run("FollowerMissesNothing", func(t *testing.T) { testFollower(t, newStore(t)) })
	t.Run("BadCursor", func(t *testing.T) { testBadCursor(t, newStore(t)) })
	t.Run("ConsumerError", func(t *testing.T) { testConsumerError(t, newStore(t)) })
	t.Run("ConcurrentVersions", func(t *testing.T) { testConcurrentVersions(t, newStore(t)) })
	t.Run("ConcurrentIncrements", func(t *testing.T) { testConcurrentIncrements(t, newStore(t)) })
	t.Run("Batch", func(t *testing.T) { testBatch(t, newStore(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, newStore(t)) })
	t.Run("PingClose", func(t *testing.T) { testPingClose(t, newStore(t)) })
	runRegisters(t, newStore)
	runUsage(t, newStore)
	t.Run("KeyedRegisters", func(t *testing.T) { testKeyed(t, newStore) })
	runReleases(t, newStore)
}

var ctx = context.Background()

func put(t testing.TB, s store.Store, rec *records.Record, want store.Outcome) {
	t.Helper()
	got, err := s.Put(ctx, rec, nil)
	if err != nil {
		t.Fatalf("Put %s v%d: %v", rec.ID, rec.Version, err)
	}
	if got != want {
		t.Fatalf("Put %s v%d = %s, want %s", rec.ID, rec.Version, got, want)
	}
}

func testPutGet(t *testing.T, s store.Store) {
	rec := Licence(t, "AIM-LIC-2026-000123", 1, "issued", base)
	put(t, s, rec, store.Accepted)
	got, err := s.Get(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Raw, rec.Raw) {
		t.Errorf("Raw not kept byte for byte:\n got %s\nwant %s", got.Raw, rec.Raw)
	}
	if got.Kind != rec.Kind || got.ID != rec.ID || got.Version != 1 {
		t.Errorf("got %s %s v%d", got.Kind, got.ID, got.Version)
	}
	if got.Label.Originator != "AL/GOV/AIM" || !got.Label.Created.Equal(base) ||
		!slices.Equal(got.Label.ReleasableTo, []string{"ALB", "NATO"}) || got.Label.Classification != "RESTRICTED" {
		t.Errorf("label = %+v", got.Label)
	}
	lic, _ := got.Doc["licence"].(map[string]any)
	if q, ok := lic["items"].([]any)[0].(map[string]any)["quantity"].(json.Number); !ok || q.String() != "200000" {
		t.Errorf("Doc numbers must be json.Number; quantity = %#v", lic["items"])
	}
}

func testVersions(t *testing.T, s store.Store) {
	id := "AIM-LIC-2026-000200"
	statuses := []string{"issued", "renewed", "suspended"}
	for i, st := range statuses {
		put(t, s, Licence(t, id, i+1, st, base.Add(time.Duration(i)*time.Hour)), store.Accepted)
	}
	got, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 3 || status(got) != "suspended" {
		t.Errorf("latest = v%d %s, want v3 suspended", got.Version, status(got))
	}
	vs, err := s.Versions(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 {
		t.Fatalf("history has %d versions, want 3", len(vs))
	}
	for i, v := range vs {
		if v.Version != i+1 || status(v) != statuses[i] {
			t.Errorf("history[%d] = v%d %s, want v%d %s", i, v.Version, status(v), i+1, statuses[i])
		}
	}
	// A version may be skipped (v3 → v5) as long as it moves forward.
	put(t, s, Licence(t, id, 5, "revoked", base.Add(4*time.Hour)), store.Accepted)
	if vs, _ := s.Versions(ctx, id); len(vs) != 4 || vs[3].Version != 5 {
		t.Errorf("after v5, history = %d versions", len(vs))
	}
}

// testGetMany: one read answers each id as Get does, in the order asked,
// nil where Get says ErrNotFound, the latest version where there are
// several, and an id asked twice twice.
func testGetMany(t *testing.T, s store.Store) {
	if got, err := s.GetMany(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("GetMany(nil) = %v, %v; want nothing", got, err)
	}
	a, b := "AIM-LIC-2026-000301", "AIM-LIC-2026-000302"
	put(t, s, Licence(t, a, 1, "issued", base), store.Accepted)
	put(t, s, Licence(t, b, 1, "issued", base), store.Accepted)
	put(t, s, Licence(t, b, 2, "suspended", base.Add(time.Hour)), store.Accepted)
	ids := []string{b, "AIM-LIC-2026-404", a, b, ""}
	got, err := s.GetMany(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("GetMany answered %d of %d ids", len(got), len(ids))
	}
	for i, id := range ids {
		want, err := s.Get(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if got[i] != nil {
				t.Errorf("GetMany[%d] %q = v%d, want nil (Get: not found)", i, id, got[i].Version)
			}
		case err != nil:
			t.Fatal(err)
		case got[i] == nil:
			t.Errorf("GetMany[%d] %q = nil, want v%d", i, id, want.Version)
		case got[i].ID != id || got[i].Version != want.Version || !bytes.Equal(got[i].Raw, want.Raw):
			t.Errorf("GetMany[%d] %q = %s v%d, want v%d as Get has it", i, id, got[i].ID, got[i].Version, want.Version)
		}
	}
	if got[0] == nil || got[0].Version != 2 || status(got[0]) != "suspended" {
		t.Errorf("GetMany %s is not its latest version", b)
	}
}

func status(r *records.Record) string {
	lic, _ := r.Doc["licence"].(map[string]any)
	s, _ := lic["status"].(string)
	return s
}

func testUnchanged(t *testing.T, s store.Store) {
	id := "AIM-LIC-2026-000300"
	v1 := Licence(t, id, 1, "issued", base)
	put(t, s, v1, store.Accepted)
	put(t, s, v1, store.Unchanged)

	// The same JSON value written differently is the same content.
	var doc map[string]any
	_ = json.Unmarshal(v1.Raw, &doc)
	pretty, _ := json.MarshalIndent(doc, "", "    ")
	reordered := *v1
	reordered.Raw = pretty
	put(t, s, &reordered, store.Unchanged)

	put(t, s, Licence(t, id, 2, "suspended", base.Add(time.Hour)), store.Accepted)
	// Retrying v1 after v2 landed is a retry, not a conflict.
	put(t, s, v1, store.Unchanged)
	got, _ := s.Get(ctx, id)
	if got.Version != 2 {
		t.Errorf("an unchanged re-push of v1 moved the record to v%d", got.Version)
	}
	if vs, _ := s.Versions(ctx, id); len(vs) != 2 {
		t.Errorf("history has %d versions after unchanged pushes, want 2", len(vs))
	}
}

func testConflicts(t *testing.T, s store.Store) {
	id := "AIM-LIC-2026-000400"
	put(t, s, Licence(t, id, 1, "issued", base), store.Accepted)
	put(t, s, Licence(t, id, 3, "renewed", base.Add(time.Hour)), store.Accepted)
	cases := []struct {
		name string
		rec  *records.Record
	}{
		{"same version, other content", Licence(t, id, 3, "revoked", base.Add(time.Hour))},
		{"older version, other content", Licence(t, id, 1, "revoked", base)},
		{"older version never stored", Licence(t, id, 2, "renewed", base)},
		{"kind change, newer version", Entity(t, id, 4, "KAYO sh.a.", base)},
		{"kind change, same version", Entity(t, id, 3, "KAYO sh.a.", base)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.Put(ctx, tc.rec, nil)
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("Put = %q, %v; want ErrConflict", out, err)
			}
		})
	}
	got, _ := s.Get(ctx, id)
	if got.Version != 3 || status(got) != "renewed" || got.Kind != records.KindLicence {
		t.Errorf("a refused push changed the record: v%d %s %s", got.Version, got.Kind, status(got))
	}
}

func testCheck(t *testing.T, s store.Store) {
	id := "AIM-LIC-2026-000500"
	var seen []*records.Record
	record := func(prev *records.Record) error { seen = append(seen, prev); return nil }
	if _, err := s.Put(ctx, Licence(t, id, 1, "issued", base), record); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != nil {
		t.Fatalf("Check for a new record got %v, want nil", seen)
	}
	if _, err := s.Put(ctx, Licence(t, id, 2, "suspended", base.Add(time.Hour)), record); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[1] == nil || seen[1].Version != 1 || status(seen[1]) != "issued" {
		t.Fatalf("Check for v2 did not get v1 as prev: %+v", seen)
	}

	// The attack: a transition the lifecycle forbids must leave no trace.
	errTransition := errors.New("suspended → issued is not an allowed transition")
	var prevSeen *records.Record
	out, err := s.Put(ctx, Licence(t, id, 3, "issued", base.Add(2*time.Hour)), func(prev *records.Record) error {
		prevSeen = prev
		return errTransition
	})
	if !errors.Is(err, errTransition) {
		t.Fatalf("Put with a failing Check = %q, %v; want the Check's error", out, err)
	}
	if prevSeen == nil || prevSeen.Version != 2 {
		t.Errorf("Check saw prev %+v, want v2", prevSeen)
	}
	got, _ := s.Get(ctx, id)
	if got.Version != 2 {
		t.Errorf("aborted Put changed the record to v%d", got.Version)
	}
	if vs, _ := s.Versions(ctx, id); len(vs) != 2 {
		t.Errorf("aborted Put left %d versions, want 2", len(vs))
	}
	ids := collect(t, s, store.Query{Kind: records.KindLicence})
	if !slices.Equal(ids, []string{id + "@2"}) {
		t.Errorf("query after aborted Put = %v", ids)
	}
	// A Check that panics is a failed Put, not a dead store.
	_, err = s.Put(ctx, Licence(t, id, 3, "revoked", base.Add(2*time.Hour)), func(*records.Record) error { panic("boom") })
	if err == nil {
		t.Error("Put whose Check panicked succeeded")
	}
	put(t, s, Licence(t, id, 3, "revoked", base.Add(3*time.Hour)), store.Accepted)
}

// collect runs q and returns "id@version" of every result, in order.
func collect(t testing.TB, s store.Store, q store.Query) []string {
	t.Helper()
	ids, _ := collectCursors(t, s, q)
	return ids
}

func collectCursors(t testing.TB, s store.Store, q store.Query) (ids, cursors []string) {
	t.Helper()
	err := s.Query(ctx, q, func(r *records.Record, c string) error {
		ids = append(ids, fmt.Sprintf("%s@%d", r.ID, r.Version))
		cursors = append(cursors, c)
		return nil
	})
	if err != nil {
		t.Fatalf("Query %+v: %v", q, err)
	}
	return ids, cursors
}

var (
	mk1 = store.Marking{Country: "ALB", Manufacturer: "KAYO", Serial: "K26-000123"}
	mk2 = store.Marking{Country: "ALB", Manufacturer: "KAYO", Serial: "K26-000124"}
	// mk3 differs from mk1 only in the manufacturer.
	mk3 = store.Marking{Country: "ALB", Manufacturer: "KAYOX", Serial: "K26-000123"}
)

func seed(t testing.TB, s store.Store) {
	t.Helper()
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	for _, r := range []*records.Record{
		Licence(t, "LIC-A", 1, "issued", at(0)),
		Entity(t, "ENT-KAYO", 1, "KAYO sh.a.", at(1)),
		Event(t, "EVT-1", 1, "AL/GOV/AIM", "MANUFACTURED", "LIC-A", mk1, at(2)),
		Licence(t, "LIC-B", 1, "issued", at(3)),
		Event(t, "EVT-2", 1, "AL/GOV/DPD", "EXPORT_DECLARED", "LIC-A", mk1, at(4)),
		Event(t, "EVT-3", 1, "AL/GOV/DPD", "EXPORT_DECLARED", "LIC-B", mk2, at(5)),
		Event(t, "EVT-4", 1, "AL/GOV/DPD", "EXIT_CONFIRMED", "LIC-A", mk1, at(6)),
		Event(t, "EVT-5", 1, "AL/GOV/AIM", "MANUFACTURED", "LIC-B", mk3, at(7)),
	} {
		put(t, s, r, store.Accepted)
	}
}

func testQueryFilters(t *testing.T, s store.Store) {
	seed(t, s)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	cases := []struct {
		name string
		q    store.Query
		want []string
	}{
		{"all", store.Query{}, []string{"LIC-A@1", "ENT-KAYO@1", "EVT-1@1", "LIC-B@1", "EVT-2@1", "EVT-3@1", "EVT-4@1", "EVT-5@1"}},
		{"kind licence", store.Query{Kind: records.KindLicence}, []string{"LIC-A@1", "LIC-B@1"}},
		{"kind entity", store.Query{Kind: records.KindEntity}, []string{"ENT-KAYO@1"}},
		{"kind nothing stored", store.Query{Kind: records.KindExcludedEntity}, nil},
		{"originator customs", store.Query{Originator: "AL/GOV/DPD"}, []string{"EVT-2@1", "EVT-3@1", "EVT-4@1"}},
		{"originator prefix is not a match", store.Query{Originator: "AL/GOV/DP"}, nil},
		{"licence A", store.Query{LicenceID: "LIC-A"}, []string{"EVT-1@1", "EVT-2@1", "EVT-4@1"}},
		{"licence B by customs", store.Query{LicenceID: "LIC-B", Originator: "AL/GOV/DPD"}, []string{"EVT-3@1"}},
		{"marking", store.Query{Marking: &mk1}, []string{"EVT-1@1", "EVT-2@1", "EVT-4@1"}},
		{"marking differing in manufacturer only", store.Query{Marking: &mk3}, []string{"EVT-5@1"}},
		{"marking unknown serial", store.Query{Marking: &store.Marking{Country: "ALB", Manufacturer: "KAYO", Serial: "K26-999"}}, nil},
		{"marking and kind", store.Query{Marking: &mk1, Kind: records.KindTrackingEvent, Originator: "AL/GOV/DPD"}, []string{"EVT-2@1", "EVT-4@1"}},
		{"since (inclusive)", store.Query{Since: at(5)}, []string{"EVT-3@1", "EVT-4@1", "EVT-5@1"}},
		{"since and kind", store.Query{Since: at(1), Kind: records.KindLicence}, []string{"LIC-B@1"}},
		{"since after everything", store.Query{Since: at(60)}, nil},
		{"limit", store.Query{Kind: records.KindTrackingEvent, Limit: 2}, []string{"EVT-1@1", "EVT-2@1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := collect(t, s, tc.q); !slices.Equal(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func testQueryOrder(t *testing.T, s store.Store) {
	seed(t, s)
	// A new version moves its record to the end; it appears once, as the
	// new version, and its old index entries are gone.
	put(t, s, Licence(t, "LIC-A", 2, "suspended", base.Add(time.Hour)), store.Accepted)
	ev := Event(t, "EVT-1", 2, "AL/GOV/AIM", "MANUFACTURED", "LIC-B", mk2, base.Add(2*time.Hour))
	put(t, s, ev, store.Accepted)
	want := []string{"ENT-KAYO@1", "LIC-B@1", "EVT-2@1", "EVT-3@1", "EVT-4@1", "EVT-5@1", "LIC-A@2", "EVT-1@2"}
	if got := collect(t, s, store.Query{}); !slices.Equal(got, want) {
		t.Errorf("order after updates:\n got  %v\nwant %v", got, want)
	}
	if got := collect(t, s, store.Query{LicenceID: "LIC-A"}); !slices.Equal(got, []string{"EVT-2@1", "EVT-4@1"}) {
		t.Errorf("EVT-1 moved to LIC-B but still matches LIC-A: %v", got)
	}
	if got := collect(t, s, store.Query{Marking: &mk2}); !slices.Equal(got, []string{"EVT-3@1", "EVT-1@2"}) {
		t.Errorf("marking index after update: %v", got)
	}
	if got := collect(t, s, store.Query{Kind: records.KindLicence}); !slices.Equal(got, []string{"LIC-B@1", "LIC-A@2"}) {
		t.Errorf("kind index after update: %v", got)
	}
	// Cursors increase with the order.
	_, cursors := collectCursors(t, s, store.Query{})
	for i := 1; i < len(cursors); i++ {
		a, _ := store.DecodeCursor(cursors[i-1])
		b, _ := store.DecodeCursor(cursors[i])
		if a >= b {
			t.Errorf("cursor %d (%d) not after cursor %d (%d)", i, b, i-1, a)
		}
	}
}

func testPaging(t *testing.T, s store.Store) {
	seed(t, s)
	all := collect(t, s, store.Query{})
	var got []string
	after := ""
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("paging does not end")
		}
		ids, cursors := collectCursors(t, s, store.Query{After: after, Limit: 3})
		if len(ids) == 0 {
			break
		}
		if len(ids) > 3 {
			t.Fatalf("page of %d with limit 3", len(ids))
		}
		got = append(got, ids...)
		after = cursors[len(cursors)-1]
	}
	if !slices.Equal(got, all) {
		t.Errorf("pages = %v, want %v", got, all)
	}
	// Paging under a filter resumes within the filter.
	ids, cursors := collectCursors(t, s, store.Query{Originator: "AL/GOV/DPD", Limit: 1})
	rest := collect(t, s, store.Query{Originator: "AL/GOV/DPD", After: cursors[0]})
	if got := append(ids, rest...); !slices.Equal(got, []string{"EVT-2@1", "EVT-3@1", "EVT-4@1"}) {
		t.Errorf("filtered paging = %v", got)
	}
}

func testCursorStable(t *testing.T, s store.Store) {
	seed(t, s)
	first, cursors := collectCursors(t, s, store.Query{Limit: 3})
	cursor := cursors[2]
	// Meanwhile: new records, and a new version of one already paged past
	// and of one not reached yet.
	put(t, s, Licence(t, "LIC-C", 1, "issued", base.Add(time.Hour)), store.Accepted)
	put(t, s, Licence(t, "LIC-A", 2, "renewed", base.Add(time.Hour)), store.Accepted)
	put(t, s, Event(t, "EVT-3", 2, "AL/GOV/DPD", "EXPORT_DECLARED", "LIC-B", mk2, base.Add(time.Hour)), store.Accepted)
	put(t, s, Entity(t, "ENT-TRADER", 1, "Trader sh.p.k.", base.Add(time.Hour)), store.Accepted)
	rest := collect(t, s, store.Query{After: cursor})
	want := []string{"LIC-B@1", "EVT-2@1", "EVT-4@1", "EVT-5@1", "LIC-C@1", "LIC-A@2", "EVT-3@2", "ENT-TRADER@1"}
	if !slices.Equal(rest, want) {
		t.Errorf("after the cursor:\n got  %v\nwant %v (first page %v)", rest, want, first)
	}
	// The same cursor still resumes at the same place.
	if again := collect(t, s, store.Query{After: cursor}); !slices.Equal(again, want) {
		t.Errorf("cursor reused: %v", again)
	}
}

// testWriteDuringStream writes from inside the consumer, as a pull that is
// slow to drain runs beside pushes: the scan must neither block the writes
// nor return anything twice.
func testWriteDuringStream(t *testing.T, s store.Store) {
	const n = 700 // several of any implementation's internal batches
	items := make([]store.Item, n)
	for i := range items {
		items[i] = store.Item{Record: Small(t, i)}
	}
	for i, r := range s.PutBatch(ctx, items) {
		if r.Err != nil || r.Outcome != store.Accepted {
			t.Fatalf("batch item %d: %v %v", i, r.Outcome, r.Err)
		}
	}
	seen := map[string]bool{}
	count, added := 0, 0
	err := s.Query(ctx, store.Query{}, func(r *records.Record, _ string) error {
		key := fmt.Sprintf("%s@%d", r.ID, r.Version)
		if seen[key] {
			return fmt.Errorf("%s returned twice", key)
		}
		seen[key] = true
		count++
		if count%100 == 0 {
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if _, err := s.Put(wctx, Small(t, n+added), nil); err != nil {
				return fmt.Errorf("write during stream: %w", err)
			}
			added++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if count < n {
		t.Errorf("stream returned %d records, want at least the %d stored before it", count, n)
	}
	if total := len(collect(t, s, store.Query{})); total != n+added {
		t.Errorf("after the stream: %d records, want %d", total, n+added)
	}
}

// testFollower is a puller that keeps resuming from its last cursor while
// writers push concurrently, as a partner's sync job does. Cursor order must
// be commit order: if a record could become visible behind a cursor already
// handed out, the follower would skip it for good.
func testFollower(t *testing.T, s store.Store) {
	const writers, each = 8, 60
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := s.Put(ctx, Small(t, w*each+i), nil); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	seen := map[string]int{}
	cursor := ""
	follow := func() {
		err := s.Query(ctx, store.Query{After: cursor}, func(r *records.Record, c string) error {
			seen[r.ID]++
			cursor = c
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		follow()
	}
	follow()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if len(seen) != writers*each {
		t.Errorf("follower saw %d of %d records", len(seen), writers*each)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("follower saw %s %d times", id, n)
		}
	}
}

func testBadCursor(t *testing.T, s store.Store) {
	seed(t, s)
	for _, c := range []string{"not base64!", "AAAA", "AAAAAAAAAAAAAAAAAAAAAA"} {
		err := s.Query(ctx, store.Query{After: c}, func(*records.Record, string) error { return nil })
		if !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("cursor %q: %v, want ErrBadCursor", c, err)
		}
	}
}

func testConsumerError(t *testing.T, s store.Store) {
	seed(t, s)
	stop := errors.New("client went away")
	n := 0
	err := s.Query(ctx, store.Query{}, func(*records.Record, string) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("Query = %v after %d records; want the consumer's error after 2", err, n)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = s.Query(cctx, store.Query{}, func(*records.Record, string) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Query with a cancelled context = %v", err)
	}
}

// testConcurrentVersions: 50 pushers send versions 1..50 of one record at
// once. Whatever the interleaving, the record ends at version 50 and every
// version acknowledged as accepted is in its history.
func testConcurrentVersions(t *testing.T, s store.Store) {
	const n = 50
	id := "AIM-LIC-2026-000600"
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted []int
		errs     []error
	)
	start := make(chan struct{})
	for v := 1; v <= n; v++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out, err := s.Put(ctx, Licence(t, id, v, fmt.Sprintf("renewed-%d", v), base), nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && out == store.Accepted:
				accepted = append(accepted, v)
			case errors.Is(err, store.ErrConflict):
			default:
				errs = append(errs, fmt.Errorf("v%d: %q %v", v, out, err))
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	got, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != n || status(got) != fmt.Sprintf("renewed-%d", n) {
		t.Errorf("final = v%d %s, want v%d", got.Version, status(got), n)
	}
	if !slices.Contains(accepted, n) {
		t.Errorf("v%d was never accepted", n)
	}
	vs, err := s.Versions(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var hist []int
	for _, v := range vs {
		hist = append(hist, v.Version)
	}
	slices.Sort(accepted)
	if !slices.Equal(hist, accepted) {
		t.Errorf("history %v, accepted %v: they must be the same versions", hist, accepted)
	}
}

// testConcurrentIncrements is the lost-update test: 50 pushers each read the
// latest version and push the next one, retrying on conflict. Every pusher's
// update must land: versions 1..51, each written by exactly one pusher.
func testConcurrentIncrements(t *testing.T, s store.Store) {
	const n = 50
	id := "AIM-LIC-2026-000700"
	put(t, s, Licence(t, id, 1, "issued", base), store.Accepted)
	var wg sync.WaitGroup
	errc := make(chan error, n)
	start := make(chan struct{})
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for attempt := 0; attempt < 10*n; attempt++ {
				cur, err := s.Get(ctx, id)
				if err != nil {
					errc <- err
					return
				}
				next := Licence(t, id, cur.Version+1, fmt.Sprintf("by-%d", w), base)
				_, err = s.Put(ctx, next, func(prev *records.Record) error {
					// The record must not have moved between Get and
					// Put; if it did, the version rule has already
					// refused this push, so this never fires.
					if prev == nil {
						return fmt.Errorf("check saw no record, read v%d", cur.Version)
					}
					if prev.Version != cur.Version {
						return fmt.Errorf("check saw v%d, read v%d", prev.Version, cur.Version)
					}
					return nil
				})
				switch {
				case err == nil:
					return
				case errors.Is(err, store.ErrConflict):
					continue
				default:
					errc <- err
					return
				}
			}
			errc <- fmt.Errorf("pusher %d never got its update in", w)
		}()
	}
	close(start)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	vs, err := s.Versions(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != n+1 {
		t.Fatalf("history has %d versions, want %d", len(vs), n+1)
	}
	by := map[string]bool{}
	for i, v := range vs {
		if v.Version != i+1 {
			t.Errorf("history[%d] is v%d", i, v.Version)
		}
		if i > 0 {
			if by[status(v)] {
				t.Errorf("%s wrote two versions", status(v))
			}
			by[status(v)] = true
		}
	}
	if len(by) != n {
		t.Errorf("%d pushers landed an update, want %d", len(by), n)
	}
	if got, _ := s.Get(ctx, id); got.Version != n+1 {
		t.Errorf("final version %d, want %d", got.Version, n+1)
	}
}

func testBatch(t *testing.T, s store.Store) {
	put(t, s, Licence(t, "LIC-X", 2, "issued", base), store.Accepted)
	refused := errors.New("refused by check")
	items := []store.Item{
		{Record: Licence(t, "LIC-Y", 1, "issued", base)},
		{Record: Licence(t, "LIC-X", 1, "issued", base)}, // older: conflict
		{Record: Licence(t, "LIC-Y", 2, "suspended", base), Check: func(prev *records.Record) error {
			if prev == nil || prev.Version != 1 {
				return fmt.Errorf("item 2 did not see item 0: %+v", prev)
			}
			return nil
		}},
		{Record: Licence(t, "LIC-Z", 1, "issued", base), Check: func(*records.Record) error { return refused }},
		{Record: Licence(t, "LIC-Y", 2, "suspended", base)}, // same as item 2
		{Record: &records.Record{ID: "broken"}},
	}
	res := s.PutBatch(ctx, items)
	if len(res) != len(items) {
		t.Fatalf("%d results for %d items", len(res), len(items))
	}
	want := []struct {
		out store.Outcome
		err error
	}{{store.Accepted, nil}, {"", store.ErrConflict}, {store.Accepted, nil}, {"", refused}, {store.Unchanged, nil}, {"", nil}}
	for i, w := range want {
		r := res[i]
		switch {
		case i == 5:
			if r.Err == nil {
				t.Errorf("item 5 (no kind, no raw) accepted")
			}
		case w.err != nil:
			if !errors.Is(r.Err, w.err) {
				t.Errorf("item %d: %v, want %v", i, r.Err, w.err)
			}
		case r.Err != nil || r.Outcome != w.out:
			t.Errorf("item %d: %q %v, want %q", i, r.Outcome, r.Err, w.out)
		}
	}
	if _, err := s.Get(ctx, "LIC-Z"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LIC-Z refused by its check but stored: %v", err)
	}
	if got, _ := s.Get(ctx, "LIC-Y"); got == nil || got.Version != 2 {
		t.Errorf("LIC-Y = %+v", got)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	if _, err := s.Get(ctx, "AIM-LIC-2026-404"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get unknown = %v, want ErrNotFound", err)
	}
	if _, err := s.Versions(ctx, "AIM-LIC-2026-404"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Versions unknown = %v, want ErrNotFound", err)
	}
	if ids := collect(t, s, store.Query{}); len(ids) != 0 {
		t.Errorf("empty store returned %v", ids)
	}
}

func testPingClose(t *testing.T, s store.Store) {
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := (store.Health{Store: s}).Check(ctx); err != nil {
		t.Fatalf("Health: %v", err)
	}
	put(t, s, Licence(t, "LIC-CLOSE", 1, "issued", base), store.Accepted)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
	if _, err := s.Put(ctx, Licence(t, "LIC-CLOSE", 2, "issued", base), nil); err == nil {
		t.Error("Put after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
