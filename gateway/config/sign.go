package config

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ura-gateway/ura/gateway/identity"
)

// Sign configures how delivered records and push results are signed, and how
// signatures from peer gateways are verified.
type Sign struct {
	// Mode is transit (default: the private key never leaves Vault) or kv
	// (the key is read from Vault KV v2 and used in memory).
	Mode string `yaml:"mode"`
	// Key names the key: the Transit key name, and in kv mode the name in
	// every kid. A kid is "<key>:<version>".
	Key string `yaml:"key"`
	// Algorithm is ed25519 (EdDSA, default) or ecdsa-p256 (ES256). It must
	// match the key's type in Vault; a mismatch fails readiness and signing.
	Algorithm    string `yaml:"algorithm"`
	TransitMount string `yaml:"transit_mount"`
	KVMount      string `yaml:"kv_mount"`
	// KVPath is the secret under KVMount holding field private_key (PKCS#8
	// PEM or a private JWK).
	KVPath string `yaml:"kv_path"`
	// BatchSize is how many signatures one Transit call asks for.
	BatchSize int `yaml:"batch_size"`
	// Issuer is the gateway's name in every signed payload (iss).
	Issuer string `yaml:"issuer"`
	// Member is this gateway's own member ID as peer gateways know it (the
	// SAN of the certificate it presents to them). A record a peer forwards
	// must be signed for this recipient; one signed for another gateway is
	// a replay. Required when peers are configured.
	Member string `yaml:"member"`
	// JWKSCacheTTL is how long key versions read from Vault are reused before
	// they are read again: it bounds how late a rotation is noticed.
	JWKSCacheTTL time.Duration `yaml:"jwks_cache_ttl"`
	// VerificationWindow is how long a superseded key version stays in the
	// JWKS after its successor was created. 0 keeps every version Vault still
	// allows to verify (min_decryption_version / undeleted KV versions).
	VerificationWindow time.Duration `yaml:"verification_window"`
	// Peers are other ura gateways whose signed records this gateway accepts,
	// by member ID.
	Peers map[string]SignPeer `yaml:"peers"`
	// Proof is how a pull's, get's or trace's records, and a push's results,
	// are signed when the client's Accept names no profile: chunk (default:
	// one signature per chunk over the Merkle root of its deliveries or
	// results, each with its inclusion path) or jws (one JWS per record or
	// result). Forwarded records, and a peer gateway's push results, are
	// always one JWS each (gateway/ARCHITECTURE.md, Signing).
	Proof string `yaml:"proof"`
}

// SignPeer is where a peer gateway's public keys are found: a JWKS file or
// a URL fetched over mutual TLS.
type SignPeer struct {
	JWKSFile string `yaml:"jwks_file"`
	JWKSURL  string `yaml:"jwks_url"`
	// CAFile verifies the peer's server certificate; empty uses the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are this gateway's client certificate at the peer.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Refresh is how often the JWKS is read again; an unknown kid also
	// triggers a read, at most once per 10s.
	Refresh time.Duration `yaml:"refresh"`
}

// Signing modes and algorithms.
const (
	SignModeTransit = "transit"
	SignModeKV      = "kv"
	AlgEd25519      = "ed25519"
	AlgECDSAP256    = "ecdsa-p256"
	// ProofChunk and ProofJWS are the values of sign.proof.
	ProofChunk = "chunk"
	ProofJWS   = "jws"
)

func defaultSign() Sign {
	return Sign{
		Mode:         SignModeTransit,
		Key:          "ura-signing",
		Algorithm:    AlgEd25519,
		TransitMount: "transit",
		KVMount:      "kv",
		KVPath:       "ura/signing",
		BatchSize:    256,
		Issuer:       "ura",
		JWKSCacheTTL: 30 * time.Second,
		Proof:        ProofChunk,
	}
}

const defaultPeerRefresh = 5 * time.Minute

// PeerRefresh is the peer's JWKS refresh interval with its default applied.
func (p SignPeer) PeerRefresh() time.Duration {
	if p.Refresh > 0 {
		return p.Refresh
	}
	return defaultPeerRefresh
}

// A kid is "<key>:<version>", so a key name holds no colon; Vault's own
// naming rules are narrower still.
var (
	keyName   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	mountName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$`)
)

func (s *Sign) validate(v *validator, c *Config) {
	switch s.Mode {
	case SignModeTransit, SignModeKV:
	default:
		v.add("mode", "must be transit or kv; got %q", s.Mode)
	}
	if !keyName.MatchString(s.Key) {
		v.add("key", "must be 1-128 letters, digits, '.', '_' or '-'; got %q", s.Key)
	}
	switch s.Algorithm {
	case AlgEd25519, AlgECDSAP256:
	default:
		v.add("algorithm", "must be ed25519 or ecdsa-p256; got %q", s.Algorithm)
	}
	for _, f := range [][2]string{{"transit_mount", s.TransitMount}, {"kv_mount", s.KVMount}, {"kv_path", s.KVPath}} {
		if !mountName.MatchString(f[1]) || strings.Contains(f[1], "..") || strings.HasSuffix(f[1], "/") {
			v.add(f[0], "must be a Vault path such as %q; got %q", map[string]string{
				"transit_mount": "transit", "kv_mount": "kv", "kv_path": "ura/signing"}[f[0]], f[1])
		}
	}
	if s.BatchSize < 1 || s.BatchSize > 10000 {
		v.add("batch_size", "must be between 1 and 10000")
	}
	switch s.Proof {
	case ProofChunk, ProofJWS:
	default:
		v.add("proof", "must be chunk (one signature per chunk, a Merkle proof per record) or jws (one signature per record); got %q", s.Proof)
	}
	if strings.TrimSpace(s.Issuer) == "" {
		v.add("issuer", "must be set")
	}
	v.positive("jwks_cache_ttl", s.JWKSCacheTTL)
	if s.VerificationWindow < 0 {
		v.add("verification_window", "must not be negative (0 keeps every version Vault allows)")
	}
	if s.Member != "" {
		if err := identity.ValidMemberID(s.Member); err != nil {
			v.add("member", "%v", err)
		}
	} else if len(s.Peers) > 0 {
		v.add("member", "must be set when peers are configured: records from a peer are accepted only when signed for this member ID")
	}
	peers := v.at("peers")
	for _, id := range slices.Sorted(maps.Keys(s.Peers)) {
		p := s.Peers[id]
		pv := peers.at(id)
		if err := identity.ValidMemberID(id); err != nil {
			peers.add(id, "%v", err)
		} else if i := slices.IndexFunc(c.Members, func(m Member) bool { return m.ID == id }); i < 0 {
			peers.add(id, "is not in members: a peer gateway must be a registered member")
		} else if k := c.Members[i].Kind; k != identity.KindGateway {
			peers.add(id, "is a member of kind %s; a peer gateway is a member of kind %s", k, identity.KindGateway)
		}
		switch {
		case p.JWKSFile == "" && p.JWKSURL == "":
			pv.add("jwks_file", "set jwks_file or jwks_url")
		case p.JWKSFile != "" && p.JWKSURL != "":
			pv.add("jwks_url", "set jwks_file or jwks_url, not both")
		case p.JWKSFile != "":
			pv.file("jwks_file", c.Path(p.JWKSFile), true)
		default:
			if u, err := url.Parse(p.JWKSURL); err != nil || u.Scheme != "https" || u.Host == "" {
				pv.add("jwks_url", "must be an https URL")
			}
		}
		if (p.CertFile == "") != (p.KeyFile == "") {
			pv.add("key_file", "set cert_file and key_file together")
		}
		for _, f := range [][2]string{{"ca_file", p.CAFile}, {"cert_file", p.CertFile}, {"key_file", p.KeyFile}} {
			if f[1] != "" {
				pv.file(f[0], c.Path(f[1]), true)
			}
		}
		if p.Refresh < 0 {
			pv.add("refresh", "must not be negative")
		}
	}
}
