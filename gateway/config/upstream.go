package config

import (
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/ura-gateway/ura/gateway/identity"
)

// Upstream forwards accepted records to where institutions keep them, through
// a durable outbox. No destinations: records are only stored.
type Upstream struct {
	Destinations []Destination `yaml:"destinations"`
	Outbox       Outbox        `yaml:"outbox"`
}

// Destination is one place accepted records are forwarded to.
type Destination struct {
	// Name identifies the destination in metrics, logs and the outbox file;
	// renaming one orphans the records still queued under the old name.
	Name string `yaml:"name"`
	// Kind is http (an institution's back office: the record's JSON) or peer
	// (another ura gateway's /v1/records, as NDJSON).
	Kind string `yaml:"kind"`
	// URL is an https URL: for peer, the gateway's base URL.
	URL string `yaml:"url"`
	// Kinds are the record kinds sent there.
	Kinds []string `yaml:"kinds"`
	// Member is the registry member (members:) the destination is: an
	// institution's back office, a partner, or a peer ura gateway (its own
	// member ID, the recipient every record is signed for). Every record
	// is sent only as a pull by this member would receive it: the policy
	// decides, with the member's nation, kind, clearance and roles, at
	// delivery time, and what it withholds is never sent.
	Member string `yaml:"member"`
	// Nation is no longer read: releasability follows from Member's
	// registry entry. A file that still sets it is refused, so that no one
	// believes a bare nation still filters what leaves.
	Nation string `yaml:"nation"`
	// CAFile verifies the destination's server certificate; empty uses the
	// system roots.
	CAFile string `yaml:"ca_file"`
	// ClientCertFile and ClientKeyFile are the certificate the gateway
	// presents (mutual TLS). For peer, a member certificate the peer trusts.
	ClientCertFile string `yaml:"client_cert_file"`
	ClientKeyFile  string `yaml:"client_key_file"`
	// Timeout bounds one delivery attempt; 0 = 10s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts parks a record after this many failed attempts; 0 = retry
	// until it is delivered (a back office that is down for a day still gets
	// every record).
	MaxAttempts int `yaml:"max_attempts"`
	// BackoffInitial and BackoffMax bound the exponential backoff between
	// attempts (with jitter); 0 = 1s and 5m.
	BackoffInitial time.Duration `yaml:"backoff_initial"`
	BackoffMax     time.Duration `yaml:"backoff_max"`
}

// Outbox is the file records wait in until every destination has them.
type Outbox struct {
	Path string `yaml:"path"`
}

func defaultUpstream() Upstream {
	return Upstream{Outbox: Outbox{Path: "var/data/outbox.db"}}
}

// Configured reports whether any destination is set up.
func (u *Upstream) Configured() bool { return len(u.Destinations) > 0 }

// recordKinds mirrors records.Kinds; config does not import the record
// model, and a test in adapters/upstream keeps the two lists equal.
var recordKinds = []string{"licence", "tracking_event", "entity", "excluded_entity", "end_user_certificate", "denial", "consultation",
	"import_authorisation", "transit_authorisation", "broker_registration", "brokering_licence"}

// RecordKinds lists the record kinds a destination may name.
func RecordKinds() []string { return slices.Clone(recordKinds) }

var destinationName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (u *Upstream) validate(v *validator, c *Config) {
	names := map[string]bool{}
	for i := range u.Destinations {
		d := &u.Destinations[i]
		dv := v.index("destinations", i)
		switch {
		case !destinationName.MatchString(d.Name):
			dv.add("name", "must be lower-case letters, digits, - or _ (at most 63); got %q", d.Name)
		case names[d.Name]:
			dv.add("name", "%q is used twice", d.Name)
		}
		names[d.Name] = true
		if d.Kind != "http" && d.Kind != "peer" {
			dv.add("kind", "must be http or peer; got %q", d.Kind)
		}
		if pu, err := url.Parse(d.URL); err != nil || pu.Scheme != "https" || pu.Host == "" || pu.User != nil {
			dv.add("url", "must be an https URL without credentials")
		}
		if len(d.Kinds) == 0 {
			dv.add("kinds", "must name the record kinds sent there")
		}
		for j, k := range d.Kinds {
			if !slices.Contains(recordKinds, k) {
				dv.add(indexPath("kinds", j), "unknown record kind %q", k)
			}
		}
		if d.Nation != "" {
			dv.add("nation", "is no longer read: name the destination's registry member with member (e.g. IT/GOV/URA); its nation, kind and clearance decide what is sent")
		}
		switch {
		case d.Member == "":
			dv.add("member", "must name the registry member the destination is (members:); every record is sent only as a pull by that member would receive it")
		case identity.ValidMemberID(d.Member) != nil:
			dv.add("member", "%v", identity.ValidMemberID(d.Member))
		case !slices.ContainsFunc(c.Members, func(m Member) bool { return m.ID == d.Member }):
			dv.add("member", "%s is not in members: a destination must be a registered member", d.Member)
		case d.Kind == "peer" && !hasPeer(c.Sign.Peers, d.Member):
			dv.add("member", "%s must also be under sign.peers: its JWKS verifies the signed receipts the peer answers with", d.Member)
		}
		dv.file("ca_file", c.Path(d.CAFile), false)
		dv.file("client_cert_file", c.Path(d.ClientCertFile), true)
		dv.file("client_key_file", c.Path(d.ClientKeyFile), true)
		if d.Timeout < 0 {
			dv.add("timeout", "must not be negative")
		}
		if d.MaxAttempts < 0 {
			dv.add("max_attempts", "must not be negative")
		}
		if d.BackoffInitial < 0 {
			dv.add("backoff_initial", "must not be negative")
		}
		if d.BackoffMax < 0 || (d.BackoffMax > 0 && d.BackoffMax < d.BackoffInitial) {
			dv.add("backoff_max", "must not be below backoff_initial")
		}
	}
	if u.Configured() && u.Outbox.Path == "" {
		v.add("outbox.path", "must be set when destinations are configured")
	}
}

func hasPeer(peers map[string]SignPeer, id string) bool {
	_, ok := peers[id]
	return ok
}
