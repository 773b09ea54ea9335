package registers

import (
	"slices"
	"testing"
)

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

// TestFirstTwoRunes: the prefix is what converting to runes and back gives,
// for valid and invalid UTF-8 alike.
func TestFirstTwoRunes(t *testing.T) {
	for _, s := range []string{"", "a", "ab", "abc", "ђо", "ђорђе", "é", "\xff", "a\xffb", "\xff\xfe", "名字x", "\U0001F600\U0001F600a"} {
		r := []rune(s)
		if got, want := firstTwoRunes(s), string(r[:min(len(r), 2)]); got != want {
			t.Errorf("firstTwoRunes(%q) = %q, want %q", s, got, want)
		}
	}
}
