package server

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ura-gateway/ura/adapters/store/bolt"
	"github.com/ura-gateway/ura/gateway/records"
)

// TestExLeapSecond: a record timed in a leap second, or with a lowercase t
// and z, is accepted as the published schema says, stored in the embedded
// store and read back, and an item's trace keeps it in order between the
// second before it and the next day. A :60 outside 23:59 UTC is refused at
// its field, with the record's index.
func TestExLeapSecond(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "ura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := startGateway(t, withStore(st))
	// The events are export declarations, which the store counts against
	// their licence: it must be there first.
	if res := exResults(t, e.as("AL/GOV/AIM").push(exSample(t, records.KindLicence))); res[0].Status != "accepted" {
		t.Fatalf("licence: %+v", res[0])
	}
	ev := exSample(t, records.KindTrackingEvent)
	mk := func(id, at, created string) map[string]any {
		return exWith(ev, "id", id, "event.type", "EXPORT_DECLARED", "event.at", at, "label.created", created)
	}
	results := exResults(t, e.as("AL/GOV/DPD").push(
		mk("EVT-AFTER", "2026-07-01T00:00:00Z", "2026-07-01t00:00:00z"),
		mk("EVT-LEAP", "2026-06-30T23:59:60Z", "2026-06-30T23:59:60Z"),
		mk("EVT-LEAP-OFFSET", "2026-07-01t01:59:60.5+02:00", "2026-06-30T23:59:60.5Z"),
		mk("EVT-BEFORE", "2026-06-30T23:59:59.999Z", "2026-06-30T23:59:59Z"),
	))
	for _, r := range results {
		if r.Status != "accepted" {
			t.Fatalf("%s: %s %v", r.ID, r.Status, r.Errors)
		}
	}
	r := e.as("AL/GOV/MOD").get("/v1/items/ALB/KAYO/K26-000123/trace")
	var body struct{ Events []json.RawMessage }
	if r.status != 200 || json.Unmarshal(r.body, &body) != nil {
		t.Fatalf("trace: %d %s", r.status, r.body)
	}
	var ids []string
	for _, raw := range body.Events {
		var d struct{ ID string }
		_ = json.Unmarshal(raw, &d)
		ids = append(ids, d.ID)
	}
	// The two leap-second events are the same instant to Go's time; the
	// trace orders equal instants by id.
	want := []string{"EVT-BEFORE", "EVT-LEAP", "EVT-LEAP-OFFSET", "EVT-AFTER"}
	if !slices.Equal(ids, want) {
		t.Errorf("trace order %v, want %v", ids, want)
	}
	// Read back through the store: the label's leap second parses again.
	if r := e.as("AL/GOV/MOD").get("/v1/records/EVT-LEAP"); r.status != 200 {
		t.Errorf("get EVT-LEAP: %d %s", r.status, r.body)
	}

	bad := exResults(t, e.as("AL/GOV/DPD").push(mk("EVT-OK", "2026-06-30T10:00:00Z", "2026-06-30T10:00:00Z"), mk("EVT-BAD", "2026-06-30T22:59:60Z", "2026-06-30T10:00:00Z")))
	if bad[1].Status != "invalid" || len(bad[1].Errors) == 0 {
		t.Fatalf("a leap second at 22:59 UTC: %+v", bad[1])
	}
	for _, fe := range bad[1].Errors {
		if fe.Pointer != "/event/at" || fe.Record == nil || *fe.Record != 1 {
			t.Errorf("refusal %+v, want pointer /event/at and record 1", fe)
		}
	}
}
