package identity

import "slices"

// Kinds of member. A member's kind comes from the registry, never from its
// certificate; policy, rate limits and the routes for security officers are
// keyed by it.
const (
	KindAgency   = "agency"
	KindMinistry = "ministry"
	KindCustoms  = "customs"
	KindPartner  = "partner"
	KindLiaison  = "liaison"
	KindAuditor  = "auditor"
	// KindGateway is a peer ura gateway: it relays, signed, the records of
	// its own instance's institutions (gateway/federation) and pulls
	// nothing. It must be listed in sign.peers, and the trust anchors that
	// vouch for it may vouch for its own instance only.
	KindGateway = "gateway"
)

var kinds = []string{KindAgency, KindMinistry, KindCustoms, KindPartner, KindLiaison, KindAuditor, KindGateway}

// Kinds returns every member kind, in the order they are documented.
func Kinds() []string { return slices.Clone(kinds) }

// ValidKind reports whether kind is one of Kinds.
func ValidKind(kind string) bool { return slices.Contains(kinds, kind) }
