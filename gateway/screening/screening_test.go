package screening

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/records"
)

const devList = "../../deploy/dev/sanctions.xml"

func licence(t *testing.T, parties map[string]any) *records.Record {
	t.Helper()
	body := map[string]any{"type": "export", "status": "issued"}
	for k, v := range parties {
		body[k] = v
	}
	return &records.Record{Kind: records.KindLicence, ID: "AIM-LIC-1", Version: 1, Doc: map[string]any{"licence": body}}
}

// TestSanctionsLoad reads the development list: individuals and entities,
// names joined, aliases and the name in its original script, countries as
// alpha-3 codes.
func TestSanctionsLoad(t *testing.T) {
	s, err := LoadSanctions(devList)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Listings) != 3 {
		t.Fatalf("%d listings, want 3", len(s.Listings))
	}
	v := s.byID["9900001"]
	if v == nil || v.Name != "VIKTOR ORLOVSKI" || !v.Individual || v.Reference != "DVi.001" || v.ListedOn != "2024-03-15" ||
		!slices.Equal(v.Aliases, []string{"Виктор Орловски", "Viktor Orlovsky"}) || !slices.Equal(v.Countries, []string{"MDA"}) {
		t.Errorf("individual: %+v", v)
	}
	e := s.byID["9900101"]
	if e == nil || e.Individual || e.Name != "NORTHWIND MUNITIONS TRADING LLC" || len(e.Aliases) != 2 || !slices.Equal(e.Countries, []string{"CYP"}) {
		t.Errorf("entity: %+v", e)
	}
}

// TestSanctionsMalformed: a file that is not a whole consolidated list is
// refused with an error saying what is wrong, never read in part.
func TestSanctionsMalformed(t *testing.T) {
	cases := []struct{ name, xml, want string }{
		{"truncated", `<CONSOLIDATED_LIST><ENTITIES><ENTITY><DATAID>1</DATAID><FIRST_NAME>X`, "malformed XML at line 1"},
		{"not xml", `{"entities": []}`, "not a consolidated list"},
		{"another root", `<SANCTIONS><ENTITY/></SANCTIONS>`, "not a consolidated list"},
		{"empty", `<CONSOLIDATED_LIST><INDIVIDUALS/><ENTITIES/></CONSOLIDATED_LIST>`, "holds no INDIVIDUAL and no ENTITY"},
		{"no dataid", `<CONSOLIDATED_LIST><ENTITIES><ENTITY><FIRST_NAME>X</FIRST_NAME></ENTITY></ENTITIES></CONSOLIDATED_LIST>`, "ENTITY 1: DATAID and FIRST_NAME are required"},
		{"no name", `<CONSOLIDATED_LIST><INDIVIDUALS><INDIVIDUAL><DATAID>7</DATAID></INDIVIDUAL></INDIVIDUALS></CONSOLIDATED_LIST>`, "INDIVIDUAL 1: DATAID and FIRST_NAME are required"},
		{"twice", `<CONSOLIDATED_LIST><ENTITIES><ENTITY><DATAID>1</DATAID><FIRST_NAME>A</FIRST_NAME></ENTITY><ENTITY><DATAID>1</DATAID><FIRST_NAME>B</FIRST_NAME></ENTITY></ENTITIES></CONSOLIDATED_LIST>`, "DATAID 1 listed twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "list.xml")
			if err := os.WriteFile(path, []byte(tc.xml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadSanctions(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming the file and %q", err, tc.want)
			}
		})
	}
	if _, err := LoadSanctions(filepath.Join(t.TempDir(), "missing.xml")); err == nil {
		t.Error("a missing file loaded")
	}
}

// TestListReloadKeepsLast: a reload of a broken file keeps the list in
// force; a good one replaces it.
func TestListReloadKeepsLast(t *testing.T) {
	good, err := os.ReadFile(devList)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "list.xml")
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := OpenList(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	before := l.Current()
	if err := os.WriteFile(path, good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(); err == nil || l.Current() != before {
		t.Fatalf("a broken file replaced the list (err %v)", err)
	}
	one := `<CONSOLIDATED_LIST><ENTITIES><ENTITY><DATAID>5</DATAID><FIRST_NAME>ONE</FIRST_NAME></ENTITY></ENTITIES></CONSOLIDATED_LIST>`
	if err := os.WriteFile(path, []byte(one), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(); err != nil || len(l.Current().Listings) != 1 {
		t.Fatalf("reload: %v", err)
	}
	var none *List
	if none.Current() != nil {
		t.Error("no list configured screens against a list")
	}
}

// TestLicenceScreen: every party of a licence against denials, excluded
// entities and the sanctions list; each candidate with its score and the
// fields that matched.
func TestLicenceScreen(t *testing.T) {
	s, err := LoadSanctions(devList)
	if err != nil {
		t.Fatal(err)
	}
	rec := licence(t, map[string]any{
		"holder":    map[string]any{"entity_id": "L61234567A", "name": "KAYO sh.a."},
		"end_user":  map[string]any{"name": "Djordjevic Trading", "country": "SRB"},
		"consignee": map[string]any{"name": "Zvezda Oružje d.o.o.", "country": "SRB"},
	})
	c := Candidates{
		Denials: map[string]map[string]Denial{"SRB|ML1": {
			"IT-DEN-1": {RecordID: "IT-DEN-1", EndUser: &DeniedParty{Name: "Ђорђевић Трејдинг", Country: "SRB"}},
			"IT-DEN-2": {RecordID: "IT-DEN-2", EndUser: &DeniedParty{Name: "Đorđević Trading", Country: "BIH"}},
			"IT-DEN-3": {RecordID: "IT-DEN-3", EndUser: &DeniedParty{Name: "Adriatic Shipping", Country: "SRB"}},
		}},
		Excluded: map[string]Excluded{
			"AIM-EXC-1": {RecordID: "AIM-EXC-1", Name: "K.A.Y.O. Sh.A", Country: "ALB", From: "2025-01-01"},
			"AIM-EXC-2": {RecordID: "AIM-EXC-2", Name: "Shadow Arms", Country: "ALB", From: "2025-01-01"},
		},
		Sanctions: s,
	}
	r := Licence(rec, c)
	if len(r.Denials) != 2 {
		t.Fatalf("denial matches %+v, want IT-DEN-1 and IT-DEN-2", r.Denials)
	}
	d1, d2 := r.Denials[0], r.Denials[1]
	if d1.Denial != "IT-DEN-1" || d1.Key != "SRB|ML1" || d1.Party != "end_user" || d1.DeniedParty != "end_user" ||
		d1.MatchedName != "Ђорђевић Трејдинг" || d1.Score < 0.9 || d1.Score > 1 || !slices.Equal(d1.Fields, []string{"name", "country"}) {
		t.Errorf("first denial match: %+v", d1)
	}
	if d2.Denial != "IT-DEN-2" || !slices.Equal(d2.Fields, []string{"name"}) {
		t.Errorf("a denied party in another country matches on the name only: %+v", d2)
	}
	if len(r.Excluded) != 1 || r.Excluded[0].RecordID != "AIM-EXC-1" || r.Excluded[0].Party != "holder" ||
		r.Excluded[0].Score < 0.75 || !slices.Equal(r.Excluded[0].Fields, []string{"name"}) {
		t.Errorf("excluded matches: %+v", r.Excluded)
	}
	if len(r.Sanctions) != 1 {
		t.Fatalf("sanctions matches: %+v", r.Sanctions)
	}
	sm := r.Sanctions[0]
	if sm.DataID != "9900102" || sm.Reference != "DVe.002" || sm.Party != "consignee" || sm.Score < 0.75 ||
		!slices.Equal(sm.Fields, []string{"name", "country"}) {
		t.Errorf("sanctions match: %+v", sm)
	}
	doc, err := json.Marshal(r.Doc())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"dataid":"9900102"`, `"denied_party":"end_user"`, `"fields":["name","country"]`} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("doc %s lacks %s", doc, want)
		}
	}
	// Nothing to screen: an entity, or a licence naming no one.
	if got := Licence(&records.Record{Kind: records.KindEntity, Doc: map[string]any{"entity": map[string]any{"name": "KAYO"}}}, c); !got.Empty() {
		t.Errorf("an entity was screened: %+v", got)
	}
	empty := Result{}.Doc()
	if len(empty["denials"].([]any)) != 0 || len(empty["sanctions"].([]any)) != 0 {
		t.Errorf("empty doc %v", empty)
	}
}

func TestBlockKeys(t *testing.T) {
	for _, tc := range []struct {
		a, b  string
		share bool
	}{
		{"Đorđević Trading d.o.o.", "Ђорђевић Трејдинг", true},
		{"KAYO sh.a.", "Kajo", true},
		{"Shadow Arms sh.p.k.", "SHADOW ARMS Sh. P. K.", true},
		{"Shkodra Arms", "Northwind Munitions", false},
	} {
		a, b := BlockKeys(tc.a), BlockKeys(tc.b)
		shared := slices.ContainsFunc(a, func(k string) bool { return slices.Contains(b, k) })
		if shared != tc.share {
			t.Errorf("%q %v and %q %v: share a key %v, want %v", tc.a, a, tc.b, b, shared, tc.share)
		}
	}
	if BlockKeys("") != nil {
		t.Error("no name has keys")
	}
}
