package sign

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/ura-gateway/ura/gateway/config"
)

// PeerVerifier checks a record that a peer ura gateway signed.
//
// The push handler calls it for each record pushed by a member configured
// under sign.peers, with that member's ID (from its certificate, never from
// the record) and the record's compact JWS:
//
//	payload, kid, err := deps.Peers.VerifyPeer(ctx, member.ID, rec.JWS)
//	switch {
//	case errors.Is(err, sign.ErrUnavailable): // the peer's keys cannot be read: 503, store nothing
//	case err != nil:                          // the record is "invalid" (err says why); never stored
//	default:                                  // store payload; audit kid
//	}
//
// IsPeer tells the handler whether a member's pushes must carry signatures.
type PeerVerifier interface {
	IsPeer(member string) bool
	VerifyPeer(ctx context.Context, member, compact string) (payload []byte, kid string, err error)
}

var _ PeerVerifier = (*Peers)(nil)

// Peers holds one Verifier per peer gateway.
type Peers struct {
	byMember map[string]*Verifier
	m        *Metrics
}

// NewPeers builds the verifiers from sign.peers. A jwks_file must parse now;
// a jwks_url is fetched on first use, so a peer that is down does not stop
// this gateway from starting.
func NewPeers(cfg config.Sign, resolve func(string) string, logger *slog.Logger, m *Metrics) (*Peers, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Peers{
		byMember: make(map[string]*Verifier, len(cfg.Peers)),
		m:        orNew(m),
	}
	for _, id := range slices.Sorted(maps.Keys(cfg.Peers)) {
		pc := cfg.Peers[id]
		var src KeySource
		if pc.JWKSFile != "" {
			f, err := NewFileKeys(resolve(pc.JWKSFile))
			if err != nil {
				return nil, fmt.Errorf("sign.peers.%s: %w", id, err)
			}
			src = f
		} else {
			src = NewURLKeys(pc.JWKSURL, TLSFiles{CAFile: resolve(pc.CAFile), CertFile: resolve(pc.CertFile), KeyFile: resolve(pc.KeyFile)}, pc.PeerRefresh())
		}
		p.byMember[id] = NewVerifier(src)
		logger.Info("peer gateway signatures accepted", "component", "sign", "peer", id)
	}
	return p, nil
}

// IsPeer reports whether member is a configured peer gateway.
func (p *Peers) IsPeer(member string) bool {
	_, ok := p.byMember[member]
	return ok
}

// VerifyPeer checks compact against member's JWKS. It fails with
// ErrUnknownPeer for a member that is not a peer.
func (p *Peers) VerifyPeer(ctx context.Context, member, compact string) ([]byte, string, error) {
	v, ok := p.byMember[member]
	if !ok {
		return nil, "", fmt.Errorf("%w: %s", ErrUnknownPeer, member)
	}
	payload, kid, err := v.VerifyContext(ctx, compact)
	p.m.peerResults.WithLabelValues(member, Reason(err)).Inc()
	if err != nil {
		return nil, kid, fmt.Errorf("signature from peer %s: %w", member, err)
	}
	return payload, kid, nil
}

// Reason names why a JWS was refused, for metrics, audit and `ura verify`:
// valid, malformed, alg_not_allowed, header_not_allowed, unknown_kid,
// bad_signature, keys_unavailable or unknown_peer.
func Reason(err error) string {
	switch {
	case err == nil:
		return "valid"
	case errors.Is(err, ErrUnavailable):
		return "keys_unavailable"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrAlgNotAllowed):
		return "alg_not_allowed"
	case errors.Is(err, ErrHeaderNotAllowed):
		return "header_not_allowed"
	case errors.Is(err, ErrUnknownKey):
		return "unknown_kid"
	case errors.Is(err, ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, ErrUnknownPeer):
		return "unknown_peer"
	case errors.Is(err, ErrLabelMismatch):
		return "label_mismatch"
	}
	return "error"
}
