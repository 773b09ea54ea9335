package identity

import (
	"strings"
	"testing"
)

func TestValidMemberID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"AL/GOV/AIM", true},
		{"AL/GOV/MOD", true},
		{"IT/GOV/MOD", true},
		{"NATO/ORG/LIAISON", true},
		{"XKX/GOV/MOD-2", true},
		{"AL/GOV/DPD_EXPORT", true},
		{"AL/GOV/1", true},
		{"AB12CD34EF56/ABCDEFGHIJKL/" + strings.Repeat("A", 64), true},

		{"", false},
		{"AL/GOV", false},
		{"AL/GOV/AIM/EXTRA", false},
		{"al/gov/aim", false},
		{"AL/gov/AIM", false},
		{"A/GOV/AIM", false},                         // instance too short
		{"ABCDEFGHIJKLM/GOV/AIM", false},             // instance too long
		{"AL/G0V/AIM", false},                        // digits not allowed in class
		{"AL/G/AIM", false},                          // class too short
		{"AL/GOV/-AIM", false},                       // code must start alphanumeric
		{"AL/GOV/_AIM", false},                       // code must start alphanumeric
		{"AL/GOV/" + strings.Repeat("A", 65), false}, // code too long
		{"AL/GOV/AIM ", false},                       // trailing space
		{" AL/GOV/AIM", false},                       // leading space
		{"AL/GOV/AIM\n", false},                      // newline must not slip past $
		{"AL//GOV/AIM", false},                       // empty part
		{"AL/GOV/A.IM", false},                       // dot
		{"urn:ura:member:AL/GOV/AIM", false},         // a URI is not an ID
		{"AL/GOV/AİM", false},                        // non-ASCII look-alike
		{"AL/GOV/AIM%2F", false},                     // escaped slash
		{"AL/GOV/AIM/../../NATO/ORG/LIAISON", false}, // path games
		{"ÅL/GOV/AIM", false},                        // non-ASCII instance
		{"AL/GOV/AIM\x00", false},                    // NUL
		{"AL\\GOV\\AIM", false},                      // wrong separator
		{"AL/GOV/AIM/", false},                       // trailing slash
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			err := ValidMemberID(tt.id)
			if tt.ok && err != nil {
				t.Fatalf("ValidMemberID(%q) = %v, want nil", tt.id, err)
			}
			if !tt.ok {
				if err == nil {
					t.Fatalf("ValidMemberID(%q) = nil, want an error", tt.id)
				}
				if !strings.Contains(err.Error(), "INSTANCE/CLASS/CODE") {
					t.Errorf("error %q does not name the expected form", err)
				}
			}
		})
	}
}

func TestMemberURI(t *testing.T) {
	if got, want := MemberURI("AL/GOV/AIM"), "urn:ura:member:AL/GOV/AIM"; got != want {
		t.Errorf("MemberURI = %q, want %q", got, want)
	}
}

func TestPrefixAllows(t *testing.T) {
	for _, tc := range []struct {
		prefix, id string
		want       bool
	}{
		{"AL/GOV/", "AL/GOV/AIM", true},
		{"AL/", "AL/GOV/AIM", true},
		{"AL/GOV/AIM", "AL/GOV/AIM", true},
		{"AL/GOV/AIM", "AL/GOV/AIMX", false}, // a whole ID is not a prefix
		{"AL/GOV", "AL/GOV/AIM", false},      // nor is a prefix without "/"
		{"AL/GOV/", "IT/GOV/AIM", false},
		{"AL/GOV/", "AL/GOVX/AIM", false},
	} {
		if got := PrefixAllows(tc.prefix, tc.id); got != tc.want {
			t.Errorf("PrefixAllows(%q, %q) = %v, want %v", tc.prefix, tc.id, got, tc.want)
		}
	}
}

func TestInstance(t *testing.T) {
	for id, want := range map[string]string{
		"IT/GOV/MOD":       "IT",
		"AL/GOV/AIM":       "AL",
		"NATO/ORG/LIAISON": "NATO",
		"IT":               "",
		"IT/GOV":           "",
		"IT/GOV/MOD/X":     "",
		"/GOV/MOD":         "",
		"":                 "",
	} {
		if got := Instance(id); got != want {
			t.Errorf("Instance(%q) = %q, want %q", id, got, want)
		}
	}
}
