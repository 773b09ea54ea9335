// Package storetest is the contract every store.Store implementation must
// meet. Each implementation's tests call Run with a constructor for a fresh,
// empty store, and Bench for its throughput figures.
package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/internal/recdoc"
	"github.com/ura-gateway/ura/gateway/records"
)

// base is the creation time of the test records; each record is a minute
// later than the one before, so Since filters have something to cut.
var base = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// Record builds a record the way the decoder would hand it to a store: Raw
// holds the JSON, and Kind, ID, Version, Label and Doc are read from it.
func Record(tb testing.TB, doc map[string]any) *records.Record {
	tb.Helper()
	raw, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	rec, err := recdoc.Decode(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return rec
}

func label(originator string, created time.Time, releasable ...string) map[string]any {
	if len(releasable) == 0 {
		releasable = []string{"ALB", "NATO"}
	}
	return map[string]any{
		"classification": "RESTRICTED",
		"releasable_to":  releasable,
		"originator":     originator,
		"created":        created.Format(time.RFC3339),
	}
}

// Licence is an export licence issued by AIM; status varies the content.
func Licence(tb testing.TB, id string, version int, status string, created time.Time) *records.Record {
	tb.Helper()
	return Record(tb, map[string]any{
		"kind": records.KindLicence, "id": id, "version": version,
		"label": label("AL/GOV/AIM", created),
		"licence": map[string]any{
			"type": "export", "status": status,
			"holder":     map[string]any{"entity_id": "L61234567A", "name": "KAYO sh.a."},
			"valid_from": "2026-05-01", "valid_until": "2027-04-30",
			"items": []any{map[string]any{"ml_category": "ML3", "description": "7.62x39mm cartridges",
				"quantity": 200000, "unit": "rounds"}, map[string]any{"ml_category": "ML1", "description": "rifles",
				"quantity": 1000, "unit": "pieces"}},
			"destination": "CZE",
		},
	})
}

// Event is a tracking event about one marked item under a licence.
func Event(tb testing.TB, id string, version int, originator, typ, licenceID string, m store.Marking, created time.Time) *records.Record {
	tb.Helper()
	return Record(tb, map[string]any{
		"kind": records.KindTrackingEvent, "id": id, "version": version,
		"label": label(originator, created, "ALB", "CZE"),
		"event": map[string]any{
			"type": typ, "at": created.Add(-5 * time.Minute).Format(time.RFC3339),
			"item": map[string]any{
				"marking":     map[string]any{"manufacturer": m.Manufacturer, "country": m.Country, "serial": m.Serial, "year": 2026},
				"ml_category": "ML1", "att_category": "small_arms",
			},
			"licence_id": licenceID, "from": "ALB", "to": "CZE",
		},
	})
}

// Entity is an entry of the register of licensed entities.
func Entity(tb testing.TB, id string, version int, name string, created time.Time) *records.Record {
	tb.Helper()
	return Record(tb, map[string]any{
		"kind": records.KindEntity, "id": id, "version": version,
		"label":  label("AL/GOV/AIM", created),
		"entity": map[string]any{"entity_id": id, "name": name, "country": "ALB"},
	})
}

// Small is a compact licence for bulk loads (benchmarks, the million-record
// test): about 400 bytes of JSON.
func Small(tb testing.TB, i int) *records.Record {
	tb.Helper()
	return Record(tb, map[string]any{
		"kind": records.KindLicence, "id": fmt.Sprintf("AIM-LIC-2026-%07d", i), "version": 1,
		"label": label("AL/GOV/AIM", base.Add(time.Duration(i)*time.Second)),
		"licence": map[string]any{
			"type": "export", "status": "issued",
			"holder":      map[string]any{"entity_id": "L61234567A", "name": "KAYO sh.a."},
			"valid_from":  "2026-05-01",
			"valid_until": "2027-04-30",
			"destination": "CZE",
		},
	})
}

// ExportLicence is an export licence with the given status and licensed
// quantity of ML1, held by holder (entity id and name).
func ExportLicence(tb testing.TB, id string, version int, status string, ml1 int, holderID, holderName string) *records.Record {
	tb.Helper()
	return Record(tb, map[string]any{
		"kind": records.KindLicence, "id": id, "version": version,
		"label": label("AL/GOV/AIM", base),
		"licence": map[string]any{
			"type": "export", "status": status,
			"holder":     map[string]any{"entity_id": holderID, "name": holderName},
			"valid_from": "2026-05-01", "valid_until": "2027-04-30",
			"items":       []any{map[string]any{"ml_category": "ML1", "quantity": ml1, "unit": "pieces"}},
			"destination": "CZE",
		},
	})
}

// Declaration is an export declaration of quantity items of category under
// licenceID.
func Declaration(tb testing.TB, id string, version int, licenceID, category string, quantity int) *records.Record {
	tb.Helper()
	return Record(tb, map[string]any{
		"kind": records.KindTrackingEvent, "id": id, "version": version,
		"label": label("AL/GOV/DPD", base, "ALB", "CZE"),
		"event": map[string]any{
			"type": "EXPORT_DECLARED", "at": base.Format(time.RFC3339),
			"item": map[string]any{
				"marking":     map[string]any{"manufacturer": "KAYO", "country": "ALB", "serial": "LOT-" + id, "year": 2026},
				"ml_category": category,
			},
			"quantity": quantity, "licence_id": licenceID, "from": "ALB", "to": "CZE",
		},
	})
}

// Exclusion is an entry of the register of excluded entities.
func Exclusion(tb testing.TB, id string, version int, entityID, name, from, until string) *records.Record {
	tb.Helper()
	body := map[string]any{"name": name, "excluded_from": from, "reason": "sanctions"}
	if entityID != "" {
		body["entity_id"] = entityID
	}
	if until != "" {
		body["excluded_until"] = until
	}
	return Record(tb, map[string]any{
		"kind": records.KindExcludedEntity, "id": id, "version": version,
		"label": label("AL/GOV/AIM", base), "excluded_entity": body,
	})
}
