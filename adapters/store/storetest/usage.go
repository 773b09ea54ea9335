package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/ura-gateway/ura/adapters/store"
)

// runUsage is the contract of customs usage batches: applied once under
// their idempotency key, partly when some lines fail, and never beyond a
// licence's quantity however batches interleave.
func runUsage(t *testing.T, newStore NewStore) {
	t.Run("UsagePartialBatch", func(t *testing.T) { testUsagePartial(t, newStore(t)) })
	t.Run("UsageReplay", func(t *testing.T) { testUsageReplay(t, newStore(t)) })
	t.Run("UsageStatusAndDates", func(t *testing.T) { testUsageStatus(t, newStore(t)) })
	t.Run("ConcurrentUsage", func(t *testing.T) {
		s := newStore(t)
		ConcurrentUsage(t, []store.Store{s, s, s, s}, 3)
	})
}

func usageLine(lic, cat string, q int64) store.UsageLine {
	return store.UsageLine{LicenceID: lic, Category: cat, Quantity: q, Declaration: "EX-2026-000001", Date: "2026-06-01"}
}

func usage(t testing.TB, s store.Store, lic string) map[string]store.CategoryUsage {
	t.Helper()
	u, err := s.Usage(ctx, lic)
	if err != nil {
		t.Fatalf("Usage %s: %v", lic, err)
	}
	out := map[string]store.CategoryUsage{}
	for _, c := range u.Categories {
		if c.Remaining != c.Licensed-c.Used {
			t.Errorf("%s %s: remaining %d, licensed %d − used %d", lic, c.Category, c.Remaining, c.Licensed, c.Used)
		}
		out[c.Category] = c
	}
	return out
}

func codesOf(o store.UsageOutcome) map[int]string {
	out := map[int]string{}
	for _, r := range o.Rejected {
		out[r.Line] = r.Code
	}
	return out
}

func testUsagePartial(t *testing.T, s store.Store) {
	put(t, s, ExportLicence(t, "LIC-U", 1, "issued", 10, "L1", "KAYO"), store.Accepted)
	b := store.UsageBatch{Member: "AL/GOV/DPD", Key: "k1", Digest: "d1", Lines: []store.UsageLine{
		usageLine("LIC-U", "ML1", 4),     // applied
		usageLine("LIC-NONE", "ML1", 1),  // unknown licence
		usageLine("LIC-U", "ML3", 1),     // category not covered
		usageLine("LIC-U", "ML1", 7),     // 4 + 7 > 10
		usageLine("LIC-U", "ML1", 6),     // 4 + 6 = 10: applied
		usageLine("LIC-U", "ML1", 99999), // rejected before the store
	}, Rejected: []store.UsageRejection{{Line: 5, Code: "invalid_line", Message: "quantity: too large"}}}
	o, err := s.ApplyUsage(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if o.Replayed || !slices.Equal(o.Applied, []int{0, 4}) {
		t.Errorf("applied %v (replayed %v), want [0 4]", o.Applied, o.Replayed)
	}
	want := map[int]string{1: "licence_unknown", 2: "licence_category_not_covered", 3: "licence_quantity_exceeded", 5: "invalid_line"}
	if got := codesOf(o); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rejected %v, want %v", got, want)
	}
	for i := 1; i < len(o.Rejected); i++ {
		if o.Rejected[i-1].Line >= o.Rejected[i].Line {
			t.Errorf("rejections not in line order: %+v", o.Rejected)
		}
	}
	if u := usage(t, s, "LIC-U")["ML1"]; u.Licensed != 10 || u.Used != 10 || u.Remaining != 0 {
		t.Errorf("usage %+v, want 10 licensed, 10 used", u)
	}
	if _, err := s.Usage(ctx, "LIC-NONE"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Usage of a licence not stored = %v, want ErrNotFound", err)
	}
}

func testUsageReplay(t *testing.T, s store.Store) {
	put(t, s, ExportLicence(t, "LIC-R", 1, "issued", 10, "L1", "KAYO"), store.Accepted)
	b := store.UsageBatch{Member: "AL/GOV/DPD", Key: "same", Digest: "d1", Lines: []store.UsageLine{usageLine("LIC-R", "ML1", 3), usageLine("LIC-X", "ML1", 1)}}
	first, err := s.ApplyUsage(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.ApplyUsage(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replayed || !slices.Equal(again.Applied, first.Applied) || fmt.Sprint(again.Rejected) != fmt.Sprint(first.Rejected) {
		t.Errorf("replay = %+v, want the first answer %+v replayed", again, first)
	}
	if u := usage(t, s, "LIC-R")["ML1"]; u.Used != 3 {
		t.Errorf("used %d after a replay, want 3 (applied once)", u.Used)
	}
	other := b
	other.Digest = "d2"
	if _, err := s.ApplyUsage(ctx, other); !errors.Is(err, store.ErrIdempotencyMismatch) {
		t.Errorf("same key, other body = %v, want ErrIdempotencyMismatch", err)
	}
	// Keys are per member: another member's batch under the same key is
	// its own.
	theirs := b
	theirs.Member, theirs.Digest = "AL/GOV/DPD2", "d3"
	o, err := s.ApplyUsage(ctx, theirs)
	if err != nil || o.Replayed {
		t.Fatalf("another member's key: %+v, %v", o, err)
	}
	if u := usage(t, s, "LIC-R")["ML1"]; u.Used != 6 {
		t.Errorf("used %d, want 6", u.Used)
	}
}

func testUsageStatus(t *testing.T, s store.Store) {
	put(t, s, ExportLicence(t, "LIC-S", 1, "issued", 10, "L1", "KAYO"), store.Accepted)
	put(t, s, ExportLicence(t, "LIC-S", 2, "suspended", 10, "L1", "KAYO"), store.Accepted)
	put(t, s, ExportLicence(t, "LIC-D", 1, "issued", 10, "L1", "KAYO"), store.Accepted)
	early, late := usageLine("LIC-D", "ML1", 1), usageLine("LIC-D", "ML1", 1)
	early.Date, late.Date = "2026-04-30", "2027-05-01"
	o, err := s.ApplyUsage(ctx, store.UsageBatch{Member: "AL/GOV/DPD", Key: "s", Digest: "d", Lines: []store.UsageLine{
		usageLine("LIC-S", "ML1", 1), early, late, usageLine("LIC-D", "ML1", 1),
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{0: "licence_suspended", 1: "licence_not_yet_valid", 2: "licence_expired"}
	if got := codesOf(o); fmt.Sprint(got) != fmt.Sprint(want) || !slices.Equal(o.Applied, []int{3}) {
		t.Errorf("rejected %v applied %v, want %v and [3]", got, o.Applied, want)
	}
	if u := usage(t, s, "LIC-S")["ML1"]; u.Used != 0 {
		t.Errorf("suspended licence used %d", u.Used)
	}
}

// ConcurrentUsage sends usage batches against one licence from many
// goroutines, each through stores[i%len(stores)] (separate handles on one
// database act as replicas), for rounds rounds: the lines applied never
// exceed the licence, and every loser is rejected with
// licence_quantity_exceeded.
func ConcurrentUsage(t *testing.T, stores []store.Store, rounds int) {
	t.Helper()
	const licensed, each, workers = 10, 3, 8
	for round := range rounds {
		lic := fmt.Sprintf("LIC-USE-%d", round)
		put(t, stores[0], ExportLicence(t, lic, 1, "issued", licensed, "L1", "KAYO"), store.Accepted)
		var (
			mu      sync.Mutex
			applied int
			wg      sync.WaitGroup
		)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := stores[w%len(stores)]
				o, err := s.ApplyUsage(ctx, store.UsageBatch{Member: "AL/GOV/DPD", Key: fmt.Sprintf("r%d-w%d", round, w), Digest: "d",
					Lines: []store.UsageLine{usageLine(lic, "ML1", each)}})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Errorf("round %d worker %d: %v", round, w, err)
				case len(o.Applied) == 1:
					applied++
				case codesOf(o)[0] != "licence_quantity_exceeded":
					t.Errorf("round %d worker %d: %+v", round, w, o)
				}
			}()
		}
		wg.Wait()
		if want := licensed / each; applied != want {
			t.Errorf("round %d: %d batches of %d applied, want %d (licence of %d)", round, applied, each, want, licensed)
		}
		if u := usage(t, stores[len(stores)-1], lic)["ML1"]; u.Used != int64(applied*each) {
			t.Errorf("round %d: used %d, applied %d", round, u.Used, applied*each)
		}
	}
}
