package config

import (
	"strings"
	"testing"
)

// TestMemberCategoriesValidate: a member's granted restrictive categories
// are held to the label schema's bounds, each error named by its path.
func TestMemberCategoriesValidate(t *testing.T) {
	raw := `
members:
  - id: IT/GOV/MOD
    name: Italy
    nation: ITA
    kind: partner
    clearance: CONFIDENTIAL
    categories:
      "Special Access": [ALTAY, "  "]
      "9lives": [X]
      Empty: []
`
	cfg, err := Parse([]byte(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	v := &validator{}
	validateMembers(v, cfg.Members, []ClientCA{{Prefixes: []string{"IT/"}}}, cfg.Sign)
	got := v.err()
	if got == nil {
		t.Fatal("invalid categories accepted")
	}
	for _, w := range []string{
		`members[0].categories.Special Access[1]: a value is a non-blank string`,
		`members[0].categories: "9lives": a category name is a letter`,
		`members[0].categories.Empty: must grant between 1 and 64 values; got 0`,
	} {
		if !strings.Contains(got.Error(), w) {
			t.Errorf("missing error %q in:\n%v", w, got)
		}
	}
	if strings.Contains(got.Error(), "ALTAY") {
		t.Errorf("a valid value reported: %v", got)
	}
	if m, ok := cfg.Registry().Lookup("IT/GOV/MOD"); !ok || len(m.Categories["Special Access"]) != 2 {
		t.Errorf("the registry's member lost its categories: %+v", m)
	}
}
