package seed

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/bolt"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
)

// devMembers are the members of deploy/dev/ura.yaml, the configuration the
// seed is pushed to.
func devMembers(t *testing.T) map[string]identity.Member {
	t.Helper()
	cfg, err := config.Load(filepath.Join("..", "ura.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]identity.Member{}
	for _, m := range cfg.Members {
		out[m.ID] = identity.Member{ID: m.ID, Name: m.Name, Nation: m.Nation, Kind: m.Kind, Clearance: m.Clearance, Roles: m.Roles}
	}
	return out
}

func decode(t *testing.T, file string) []*records.Record {
	t.Helper()
	body, err := fs.ReadFile(Files, file)
	if err != nil {
		t.Fatal(err)
	}
	lim := config.Default().Limits
	checked, err := records.DecodeBatch(body, records.FormatNDJSON,
		records.Limits{MaxRecords: lim.MaxRecords, MaxDepth: lim.MaxDepth, MaxStringLength: lim.MaxStringLength})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if int64(len(body)) > lim.MaxBodyBytes {
		t.Errorf("%s is %d bytes, over limits.max_body_bytes", file, len(body))
	}
	var out []*records.Record
	for _, c := range checked {
		if !c.Valid() {
			for _, fe := range c.Errors {
				t.Errorf("%s line %d (%s v%d): %s: %s", file, c.Index+1, c.ID, c.Version, fe.Pointer, fe.Detail)
			}
			continue
		}
		out = append(out, c.Record)
	}
	return out
}

// TestSeedValidates: every record passes the JSON Schemas and the semantic
// checks, and is labelled with the institution whose file it is in.
func TestSeedValidates(t *testing.T) {
	files, _ := fs.Glob(Files, "*.ndjson")
	var ordered []string
	for _, p := range Order {
		ordered = append(ordered, p.File)
	}
	sort.Strings(files)
	sorted := slices.Clone(ordered)
	sort.Strings(sorted)
	if !slices.Equal(files, sorted) {
		t.Errorf("seed files %v, Order names %v", files, ordered)
	}
	seen := map[string]bool{}
	for _, p := range Order {
		for _, rec := range decode(t, p.File) {
			if rec.Label.Originator != p.Member {
				t.Errorf("%s: %s is labelled %s; every record in it must be %s's", p.File, rec.ID, rec.Label.Originator, p.Member)
			}
			key := fmt.Sprintf("%s@%d", rec.ID, rec.Version)
			if seen[key] {
				t.Errorf("%s appears twice", key)
			}
			seen[key] = true
		}
	}
}

type seeded struct {
	st      *bolt.Store
	engine  *policy.OPA
	members map[string]identity.Member
	all     map[string]*records.Record // latest version by id
}

// push runs the seed through what a push does: the default policy (as the
// file's member, with the registers the store holds for the record), then
// the store with the lifecycle check and the export balance.
func push(t *testing.T) *seeded {
	t.Helper()
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "seed.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	// A generous deadline: the race detector on a loaded machine can be slow.
	engine, err := policy.New(ctx, policy.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := &seeded{st: st, engine: engine, members: devMembers(t), all: map[string]*records.Record{}}
	for _, p := range Order {
		member, ok := s.members[p.Member]
		if !ok {
			t.Fatalf("%s is pushed by %s, which deploy/dev/ura.yaml does not register", p.File, p.Member)
		}
		for _, rec := range decode(t, p.File) {
			prev, err := st.Get(ctx, rec.ID)
			if err != nil && err != store.ErrNotFound {
				t.Fatal(err)
			}
			snap, err := registers.Read(ctx, []*records.Record{rec}, st.Registers)
			if err != nil {
				t.Fatal(err)
			}
			d := engine.Decide(ctx, policy.Input{Caller: member, Action: policy.Push, Record: rec, Previous: prev,
				Registers: registers.NewOverlay(snap).For(rec)})
			if !d.Allow {
				t.Errorf("%s: policy denies %s v%d to %s: %v%s", p.File, rec.ID, rec.Version, p.Member, d.Reasons, aged(rec, s.all))
				continue
			}
			out, err := st.Put(ctx, rec, store.Check(records.LifecycleCheck(rec)))
			if err != nil || out != store.Accepted {
				t.Errorf("%s: storing %s v%d: %q %v", p.File, rec.ID, rec.Version, out, err)
				continue
			}
			s.all[rec.ID] = rec
		}
	}
	return s
}

// aged explains a denial that only the passing of time can cause: the seed's
// licences have fixed validity dates, and today is outside them.
func aged(rec *records.Record, all map[string]*records.Record) string {
	id, _ := rec.Body()["licence_id"].(string)
	lic := all[id]
	if lic == nil {
		return ""
	}
	until, _ := lic.Body()["valid_until"].(string)
	if until != "" && until < time.Now().UTC().Format(time.DateOnly) {
		return fmt.Sprintf(" (licence %s expired on %s: move the seed's dates forward)", id, until)
	}
	return ""
}

// TestSeedPushes: the whole seed is accepted by the default policy and the
// store, in Order, and pushing it again changes nothing, as a second
// `make demo` does.
func TestSeedPushes(t *testing.T) {
	s := push(t)
	ctx := context.Background()
	for _, p := range Order {
		for _, rec := range decode(t, p.File) {
			out, err := s.st.Put(ctx, rec, store.Check(records.LifecycleCheck(rec)))
			if err != nil || out != store.Unchanged {
				// v1 of a record later moved to v2 is unchanged too.
				t.Errorf("re-push %s v%d: %q %v", rec.ID, rec.Version, out, err)
			}
		}
	}
}

// TestSeedTellsTheStory checks the facts the demo relies on.
func TestSeedTellsTheStory(t *testing.T) {
	s := push(t)
	ctx := context.Background()

	kayo := s.all["AIM-ENT-L61234567A"]
	if kayo == nil {
		t.Fatal("KAYO is not in the register of entities")
	}
	var sites []string
	for _, site := range kayo.Body()["sites"].([]any) {
		sites = append(sites, site.(map[string]any)["name"].(string))
	}
	for _, plant := range []string{"Mjekës", "Poliçan", "Gramsh"} {
		if !slices.ContainsFunc(sites, func(s string) bool { return strings.Contains(s, plant) }) {
			t.Errorf("KAYO has no %s site: %v", plant, sites)
		}
	}

	// The suspended licence: two versions, the latest suspended.
	vs, err := s.st.Versions(ctx, "AIM-LIC-2026-000127")
	if err != nil || len(vs) != 2 || vs[1].Body()["status"] != "suspended" || vs[0].Body()["status"] != "issued" {
		t.Fatalf("AIM-LIC-2026-000127 history: %v %v", len(vs), err)
	}

	// Export licences to allied destinations.
	dests := map[string]bool{}
	for _, rec := range s.all {
		if rec.Kind == records.KindLicence && rec.Body()["type"] == "export" {
			dests[rec.Body()["destination"].(string)] = true
		}
	}
	for _, d := range []string{"CZE", "ITA", "HRV", "XKX"} {
		if !dests[d] {
			t.Errorf("no export licence to %s", d)
		}
	}

	// Every reference resolves, and no licence names the excluded entity.
	excluded := map[string]bool{}
	for _, rec := range s.all {
		if rec.Kind == records.KindExcludedEntity {
			excluded[rec.Body()["entity_id"].(string)] = true
		}
	}
	if len(excluded) != 1 {
		t.Errorf("%d excluded entities, want 1", len(excluded))
	}
	for _, rec := range s.all {
		if id, ok := rec.Body()["licence_id"].(string); ok && s.all[id] == nil {
			t.Errorf("%s refers to licence %s, which the seed does not hold", rec.ID, id)
		}
		if rec.Kind == records.KindLicence {
			holder := rec.Body()["holder"].(map[string]any)["entity_id"].(string)
			if s.all["AIM-ENT-"+holder] == nil {
				t.Errorf("%s is held by %s, not in the register of entities", rec.ID, holder)
			}
			if excluded[holder] {
				t.Errorf("%s is held by an excluded entity", rec.ID)
			}
		}
	}

	// Licence conditions: every export licence of small arms names its
	// import authorisation and end-user certificate, held in the seed; the
	// brokered export's declarations name the broker's brokering licence.
	for _, rec := range s.all {
		b := rec.Body()
		if rec.Kind == records.KindLicence && b["type"] == "export" && rec.Label.Originator == "AL/GOV/AIM" {
			for _, it := range b["items"].([]any) {
				if cat := it.(map[string]any)["ml_category"]; cat != "ML1" && cat != "ML2" {
					continue
				}
				if s.all[fmt.Sprint(b["end_user_certificate_id"])] == nil || b["import_authorisation"] == nil {
					t.Errorf("%s exports small arms without its authorisations in the seed", rec.ID)
				}
			}
		}
		if broker, ok := b["broker"].(map[string]any); ok && (rec.Kind == records.KindLicence || rec.Kind == records.KindTrackingEvent) {
			if bl := s.all[fmt.Sprint(broker["brokering_licence_id"])]; bl == nil || bl.Kind != records.KindBrokeringLicence {
				t.Errorf("%s names brokering licence %v, which the seed does not hold", rec.ID, broker["brokering_licence_id"])
			}
		}
	}
	if d := s.all["DPD-EVT-2026-0004701"]; d == nil || d.Body()["broker"] == nil {
		t.Error("the seed has no brokered export declaration")
	}

	// A rifle's trace: manufacture at Gramsh, export declaration, exit.
	mk := store.Marking{Country: "ALB", Manufacturer: "KAYO", Serial: "K26-GR-000101"}
	var trace []*records.Record
	if err := s.st.Query(ctx, store.Query{Kind: records.KindTrackingEvent, Marking: &mk}, func(r *records.Record, _ string) error {
		trace = append(trace, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(trace, func(i, j int) bool {
		a, _ := trace[i].EventTime()
		b, _ := trace[j].EventTime()
		return a.Before(b)
	})
	var steps []string
	for _, r := range trace {
		steps = append(steps, r.Body()["type"].(string)+" by "+r.Label.Originator)
	}
	want := []string{"MANUFACTURED by AL/GOV/AIM", "EXPORT_DECLARED by AL/GOV/DPD", "EXIT_CONFIRMED by AL/GOV/DPD"}
	if !slices.Equal(steps, want) {
		t.Errorf("trace of %s = %v, want %v", mk.Serial, steps, want)
	}

	// The rifle the demo tries to export: made at Gramsh, then stolen, so
	// an export declaration of it is refused (item_stolen).
	exp := &records.Record{Kind: records.KindTrackingEvent, ID: "DPD-EVT-2026-0004599", Version: 1,
		Label: records.Label{Classification: "UNCLASSIFIED", ReleasableTo: []string{"ALB", "HRV"}, Originator: "AL/GOV/DPD"}}
	exp.Doc = map[string]any{"kind": exp.Kind, "id": exp.ID, "version": json.Number("1"),
		"label": map[string]any{"classification": "UNCLASSIFIED", "releasable_to": []any{"ALB", "HRV"}, "originator": "AL/GOV/DPD", "created": "2026-10-14T08:00:00Z"},
		"event": map[string]any{"type": "EXPORT_DECLARED", "at": "2026-10-14T07:40:00Z", "licence_id": "AIM-LIC-2026-000125", "from": "ALB", "to": "HRV",
			"customs_declaration": "EX-2026-004599", "item": map[string]any{"ml_category": "ML1",
				"marking": map[string]any{"manufacturer": "KAYO", "country": "ALB", "serial": "K26-GR-000104", "year": json.Number("2026")}}}}
	snap, err := registers.Read(ctx, []*records.Record{exp}, s.st.Registers)
	if err != nil {
		t.Fatal(err)
	}
	d := s.engine.Decide(ctx, policy.Input{Caller: s.members["AL/GOV/DPD"], Action: policy.Push, Record: exp,
		Registers: registers.NewOverlay(snap).For(exp)})
	if d.Allow || len(d.Reasons) != 1 || d.Reasons[0].Code != "item_stolen" {
		t.Errorf("export of the stolen rifle: allow %v %+v, want refused item_stolen", d.Allow, d.Reasons)
	}

	// Pulls the demo shows: MoD sees the licences; the Italian partner
	// sees what is released to Italy or to NATO, and nothing released only
	// to others.
	pulled := func(member string, kind string) []string {
		m := s.members[member]
		var ids []string
		_ = s.st.Query(ctx, store.Query{Kind: kind}, func(r *records.Record, _ string) error {
			if d := s.engine.Decide(ctx, policy.Input{Caller: m, Action: policy.Pull, Record: r}); d.Allow {
				ids = append(ids, r.ID)
			}
			return nil
		})
		return ids
	}
	licences := 0
	for _, rec := range s.all {
		if rec.Kind == records.KindLicence {
			licences++
		}
	}
	if got := pulled("AL/GOV/MOD", records.KindLicence); len(got) != licences {
		t.Errorf("MoD pulls licences %v, want all %d", got, licences)
	}
	itLicences := pulled("IT/GOV/MOD", records.KindLicence)
	for _, want := range []string{"AIM-LIC-2026-000123", "AIM-LIC-2026-000124", "AIM-LIC-2026-000125", "AIM-LIC-2026-000127", "AIM-LIC-2026-000200"} {
		if !slices.Contains(itLicences, want) {
			t.Errorf("Italy cannot pull %s (pulls %v)", want, itLicences)
		}
	}
	for _, not := range []string{
		"AIM-LIC-2026-000126", // REL ALB, XKX
		"AIM-LIC-2026-000128", // past its review date (2026-09-30)
	} {
		if slices.Contains(itLicences, not) {
			t.Errorf("Italy pulls %s, which is not released to it", not)
		}
	}
	// The licence marked in Albania's policy reaches Italy in Italy's.
	if lic, err := s.st.Get(ctx, "AIM-LIC-2026-000129"); err != nil {
		t.Error(err)
	} else {
		d := s.engine.Decide(ctx, policy.Input{Caller: s.members["IT/GOV/MOD"], Action: policy.Pull, Record: lic})
		if n := len(d.Translations); !d.Allow || n != 2 || d.Translations[n-1].To.PolicyID != "IT" || d.Translations[n-1].To.Classification != "RISERVATO" {
			t.Errorf("Italy's pull of AIM-LIC-2026-000129: allow %v, translations %+v", d.Allow, d.Translations)
		}
	}
	if events := pulled("IT/GOV/MOD", records.KindTrackingEvent); len(events) == 0 {
		t.Error("Italy pulls no tracking events; the TNT export and the pistol import concern it")
	}
}
