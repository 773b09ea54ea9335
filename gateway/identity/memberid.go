package identity

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// MemberURIPrefix starts the one SAN URI that carries a member's identity.
// Identity comes from this URI alone (never from the CN or a header), so the
// prefix is a constant shared by the issuing side and the verifying side.
const MemberURIPrefix = "urn:ura:member:"

// memberIDPattern is INSTANCE/CLASS/CODE. It is uppercase-only so that one
// member cannot appear under two spellings (AL/GOV/AIM vs al/gov/aim) in
// policy, audit and CA prefix checks.
var memberIDPattern = regexp.MustCompile(`^[A-Z0-9]{2,12}/[A-Z]{2,12}/[A-Z0-9][A-Z0-9_-]{0,63}$`)

// ValidMemberID reports whether id is a well-formed member ID. It is checked
// before a certificate is issued so a typo never becomes an identity that no
// registry entry or CA prefix will ever match.
func ValidMemberID(id string) error {
	if memberIDPattern.MatchString(id) {
		return nil
	}
	return fmt.Errorf("invalid member ID %q: want INSTANCE/CLASS/CODE in uppercase, e.g. AL/GOV/AIM "+
		"(INSTANCE 2-12 of A-Z 0-9, CLASS 2-12 of A-Z, CODE 1-64 of A-Z 0-9 _ - starting with A-Z or 0-9)", id)
}

// Instance is the first segment of a member ID: the instance, one nation's
// or organisation's ura gateway, its institution belongs to (IT of
// IT/GOV/MOD). It is "" for anything that is not three segments with a
// non-empty first one. The policy's instance_of (policies/relay.rego) is
// the same rule: a peer gateway relays only for its own instance.
func Instance(member string) string {
	parts := strings.Split(member, "/")
	if len(parts) != 3 || parts[0] == "" {
		return ""
	}
	return parts[0]
}

// MemberURI returns the SAN URI that names member id, so every caller builds
// it the same way the gateway parses it.
func MemberURI(id string) string {
	return MemberURIPrefix + id
}

// PrefixAllows reports whether a CA's member prefix covers member id: a
// prefix ending in "/" covers every ID under it (AL/GOV/ covers AL/GOV/AIM),
// any other prefix only the one ID it spells. The configuration check and the
// handshake both use it, so what validates is exactly what is let in.
func PrefixAllows(prefix, id string) bool {
	return id == prefix || strings.HasSuffix(prefix, "/") && strings.HasPrefix(id, prefix)
}

// MemberID reads the member ID from an already verified leaf certificate.
func MemberID(leaf *x509.Certificate) (string, error) { return memberFromLeaf(leaf) }

func memberFromLeaf(leaf *x509.Certificate) (string, error) {
	if n := len(leaf.URIs); n != 1 {
		return "", refused(ReasonSANCount, "the certificate carries %d SAN URIs; exactly one %s<ID> is required", n, MemberURIPrefix)
	}
	return memberFromURI(leaf.URIs[0])
}

func memberFromURI(u *url.URL) (string, error) {
	s := u.String()
	id, ok := strings.CutPrefix(s, MemberURIPrefix)
	if !ok {
		return "", refused(ReasonSANInvalid, "the SAN URI is not a %s<ID> URI", MemberURIPrefix)
	}
	if err := ValidMemberID(id); err != nil {
		return "", refused(ReasonSANInvalid, "the SAN URI names no valid member ID")
	}
	return id, nil
}
