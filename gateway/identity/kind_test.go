package identity

import (
	"slices"
	"testing"
)

func TestKinds(t *testing.T) {
	want := []string{"agency", "ministry", "customs", "partner", "liaison", "auditor", "gateway"}
	if got := Kinds(); !slices.Equal(got, want) {
		t.Fatalf("Kinds() = %v, want %v", got, want)
	}
	Kinds()[0] = "changed" // a copy: callers cannot change the list
	for _, k := range want {
		if !ValidKind(k) {
			t.Errorf("ValidKind(%q) = false", k)
		}
	}
	for _, k := range []string{"", "Auditor", "changed", "admin"} {
		if ValidKind(k) {
			t.Errorf("ValidKind(%q) = true", k)
		}
	}
}
