package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/verdict"
	"github.com/ura-gateway/ura/policies"
)

// Reason codes of the relay rules (policies/relay.rego). RelayOriginator
// gives the two about the originator; the policy gives all three.
const (
	ReasonRelayKindNotPermitted      = "relay_kind_not_permitted"
	ReasonRelayOriginatorOutsidePeer = "relay_originator_outside_peer"
	ReasonRelayOriginatorOwnInstance = "relay_originator_own_instance"
)

// tablesUnreadable explains a refusal when the embedded tables cannot be
// read, which a test rules out.
const tablesUnreadable = "the policy bundle's tables cannot be read"

// Tables are the parts of a policy bundle's data (data.ura_data in
// data.json) that the gateway's Go code applies too, so that both sides
// answer from one definition: which nations a releasability group holds,
// and which instance is this gateway's own. The Rego reads the same
// members: data.ura_data.groups (pull.rego, releasable) and
// data.ura_data.own_instance (relay.rego).
type Tables struct {
	// OwnInstance is the first segment of this gateway's institutions'
	// member IDs (AL): no peer gateway relays in their names.
	OwnInstance string `json:"own_instance"`
	// OwnNation is the nation whose institutions this gateway serves (ALB).
	OwnNation string `json:"own_nation"`
	// Groups are the releasability groups by name (NATO, EU).
	Groups map[string]Group `json:"groups"`
}

// Group is one releasability group: its members (nations, ISO 3166-1
// alpha-3, and the group's own bodies under its name), where the list
// comes from and the date it is current at.
type Group struct {
	Source  string   `json:"source"`
	AsOf    string   `json:"as_of"`
	Members []string `json:"members"`
}

var (
	instancePattern = regexp.MustCompile(`^[A-Z0-9]{2,12}$`)
	nationPattern   = regexp.MustCompile(`^[A-Z]{3}$`)
)

// ParseTables reads the tables from a bundle's data.json. Every table it
// returns is complete: an own instance and nation, and groups that each
// name their source, date and members.
func ParseTables(dataJSON []byte) (*Tables, error) {
	var doc struct {
		Data *Tables `json:"ura_data"`
	}
	if err := json.Unmarshal(dataJSON, &doc); err != nil {
		return nil, fmt.Errorf("policy tables: %w", err)
	}
	t := doc.Data
	if t == nil {
		return nil, errors.New("policy tables: data.json has no ura_data")
	}
	if !instancePattern.MatchString(t.OwnInstance) {
		return nil, fmt.Errorf("policy tables: own_instance %q is not a member-ID instance such as AL", t.OwnInstance)
	}
	if !nationPattern.MatchString(t.OwnNation) {
		return nil, fmt.Errorf("policy tables: own_nation %q is not an ISO 3166-1 alpha-3 code", t.OwnNation)
	}
	for name, g := range t.Groups {
		if g.Source == "" || len(g.Members) == 0 {
			return nil, fmt.Errorf("policy tables: group %s must name its source and members", name)
		}
		if _, err := time.Parse(time.DateOnly, g.AsOf); err != nil {
			return nil, fmt.Errorf("policy tables: group %s: as_of %q is not a date", name, g.AsOf)
		}
	}
	return t, nil
}

// embeddedTables are the embedded bundle's, read once.
var embeddedTables = sync.OnceValues(func() (*Tables, error) {
	raw, err := fs.ReadFile(policies.FS, "data.json")
	if err != nil {
		return nil, fmt.Errorf("policy tables: %w", err)
	}
	return ParseTables(raw)
})

// EmbeddedTables are the tables of the policy bundle compiled into the
// binary. A test keeps them readable; should they not be, every helper
// below refuses.
func EmbeddedTables() (*Tables, error) { return embeddedTables() }

// Releasable reports whether a record labelled Releasable To releasableTo
// may go to nation: the nation is listed, or a listed group holds it. It is
// the policy's releasability rule, over the embedded bundle's groups, for
// code that decides without asking the policy (what is forwarded to a peer
// gateway). false when the tables cannot be read.
func Releasable(releasableTo []string, nation string) bool {
	t, err := EmbeddedTables()
	return err == nil && t.Releasable(releasableTo, nation)
}

// Releasable reports whether nation is in releasableTo, itself or through a
// group of t.
func (t *Tables) Releasable(releasableTo []string, nation string) bool {
	for _, s := range releasableTo {
		if s == nation {
			return true
		}
		if g, ok := t.Groups[s]; ok && slices.Contains(g.Members, nation) {
			return true
		}
	}
	return false
}

// RelayOriginator decides whose name a record relayed by peer gateway peer
// may carry, by the policy's relay rule over the embedded bundle's own
// instance: another member of the peer's own instance (IT/GOV/URA relays
// IT/GOV/MOD's records), never the peer itself, another instance's, or an
// institution of this gateway's own instance.
func RelayOriginator(peer, originator string) (verdict.Reason, bool) {
	t, err := EmbeddedTables()
	if err != nil {
		return verdict.Reason{Code: ReasonRelayOriginatorOutsidePeer, Message: tablesUnreadable}, false
	}
	return t.RelayOriginator(peer, originator)
}

// RelayOriginator is the relay rule over t's own instance.
func (t *Tables) RelayOriginator(peer, originator string) (verdict.Reason, bool) {
	inst := identity.Instance(originator)
	switch {
	case inst != "" && inst == t.OwnInstance:
		return verdict.Reason{Code: ReasonRelayOriginatorOwnInstance,
			Message: fmt.Sprintf("label.originator %s is an institution of this gateway's own instance %s; no peer gateway relays for it", originator, inst)}, false
	case inst == "" || inst != identity.Instance(peer) || originator == peer:
		return verdict.Reason{Code: ReasonRelayOriginatorOutsidePeer,
			Message: fmt.Sprintf("label.originator %s is not another member of %s/, the instance peer gateway %s relays for", originator, identity.Instance(peer), peer)}, false
	}
	return verdict.Reason{}, true
}
