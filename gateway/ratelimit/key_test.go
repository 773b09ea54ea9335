package ratelimit

import (
	"regexp"
	"strings"
	"testing"
)

func TestKey(t *testing.T) {
	cases := []struct {
		name   string
		member string
		class  Class
		want   string // "" = refused
	}{
		{"agency push", "AL/GOV/AIM", ClassPush, "ura:rl:AL/GOV/AIM:push"},
		{"partner pull", "IT/GOV/MOD", ClassPull, "ura:rl:IT/GOV/MOD:pull"},
		{"liaison trace", "NATO/ORG/LIAISON", ClassTrace, "ura:rl:NATO/ORG/LIAISON:trace"},
		{"code with dash and underscore", "AL/GOV/DPD_EX-1", ClassAudit, "ura:rl:AL/GOV/DPD_EX-1:audit"},
		// Attacks: a member ID that tries to name another key, a pattern or a second command.
		{"colon names another member's class", "AL/GOV/AIM:pull", ClassPush, ""},
		{"glob", "AL/GOV/*", ClassPush, ""},
		{"cluster hash tag", "AL/GOV/{AIM}", ClassPush, ""},
		{"CRLF injection", "AL/GOV/AIM\r\nFLUSHALL", ClassPush, ""},
		{"space", "AL/GOV/A M", ClassPush, ""},
		{"lower case twin", "al/gov/aim", ClassPush, ""},
		{"extra segment", "AL/GOV/AIM/X", ClassPush, ""},
		{"empty", "", ClassPush, ""},
		{"unicode look-alike", "AL/GOV/AІM", ClassPush, ""},
		{"unknown class", "AL/GOV/AIM", Class("push:x"), ""},
		{"empty class", "AL/GOV/AIM", Class(""), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Key(tc.member, tc.class)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("Key(%q, %q) = %q, want refusal", tc.member, tc.class, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Key(%q, %q) = %q, %v; want %q", tc.member, tc.class, got, err, tc.want)
			}
		})
	}
}

var keyShape = regexp.MustCompile(`^ura:rl:[A-Z0-9]+/[A-Z]+/[A-Z0-9_-]+:(push|pull|trace|audit)$`)

// FuzzKey: whatever a certificate claims, a key is either refused or has the
// one shape, and two different members never share a key.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"AL/GOV/AIM", "IT/GOV/MOD:push", "AL/GOV/*", "a\r\nb", "NATO/ORG/LIAISON", "{x}/Y/Z"} {
		f.Add(s, "push")
	}
	f.Fuzz(func(t *testing.T, member, class string) {
		k, err := Key(member, Class(class))
		if err != nil {
			return
		}
		if !keyShape.MatchString(k) {
			t.Fatalf("key %q has the wrong shape", k)
		}
		// The key determines the member and class: no two inputs collide.
		rest := strings.TrimPrefix(k, KeyPrefix)
		i := strings.LastIndexByte(rest, ':')
		if rest[:i] != member || rest[i+1:] != class {
			t.Fatalf("key %q does not round-trip to (%q, %q)", k, member, class)
		}
	})
}

func TestStripKeys(t *testing.T) {
	got := stripKeys([]string{"rate:ura:rl:AL/GOV/AIM:push", "ura:rl:X/Y/Z:pull"})
	if got[0] != "ura:rl:AL/GOV/AIM:push" || got[1] != "ura:rl:X/Y/Z:pull" {
		t.Fatalf("stripKeys = %q", got)
	}
}
