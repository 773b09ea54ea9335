package sanctions

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const devList = "../../deploy/dev/sanctions.xml"

// TestSanctionsLoad reads the development list: individuals and entities,
// names joined, aliases and the name in its original script, countries as
// alpha-3 codes.
func TestSanctionsLoad(t *testing.T) {
	s, err := Load(devList)
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
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming the file and %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.xml")); err == nil {
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
	l, err := Open(path, slog.New(slog.DiscardHandler))
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

// TestScreenCountry: a hit says whether the name's country is one of the
// listing's, read from the English country names the list writes.
func TestScreenCountry(t *testing.T) {
	s, err := Load(devList)
	if err != nil {
		t.Fatal(err)
	}
	hits := s.Screen("Zvezda Oružje d.o.o.", "srb", 0.75)
	if len(hits) != 1 || hits[0].Listing.DataID != "9900102" || !hits[0].Country || hits[0].Score != 1 {
		t.Fatalf("hits %+v", hits)
	}
	if hits := s.Screen("Northwind Munitions", "ALB", 0.75); len(hits) != 1 || hits[0].Country {
		t.Fatalf("hits %+v", hits)
	}
}

// FuzzParse: the list reader never panics, and a list it accepts has a
// DATAID and a name for every listing, each DATAID once.
func FuzzParse(f *testing.F) {
	good, err := os.ReadFile(devList)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`<CONSOLIDATED_LIST><ENTITIES><ENTITY><DATAID>1</DATAID><FIRST_NAME>A</FIRST_NAME></ENTITY></ENTITIES></CONSOLIDATED_LIST>`))
	f.Add([]byte(`<CONSOLIDATED_LIST><INDIVIDUALS><INDIVIDUAL><DATAID>2</DATAID><FIRST_NAME>B</FIRST_NAME><NATIONALITY><VALUE>Serbia</VALUE></NATIONALITY></INDIVIDUAL></INDIVIDUALS></CONSOLIDATED_LIST>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, l := range s.Listings {
			if l.DataID == "" || l.Name == "" || seen[l.DataID] {
				t.Fatalf("accepted listing %+v", l)
			}
			seen[l.DataID] = true
		}
		_ = s.Screen("Northwind Munitions", "CYP", 0.75)
	})
}
