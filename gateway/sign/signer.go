package sign

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// Signer signs payloads as compact JWS with a key held in Vault.
type Signer interface {
	// Sign returns one compact JWS per payload, in order, or an error and
	// nothing: nothing unsigned, nothing half-signed, ever leaves. It signs
	// delivered records: SignTyped with TypDelivery.
	Sign(ctx context.Context, payloads [][]byte) ([]string, error)
	// SignTyped is Sign with typ in the protected header, saying what the
	// JWS carries, so that a push result can never be passed off as a
	// delivered record.
	SignTyped(ctx context.Context, typ string, payloads [][]byte) ([]string, error)
	// Keys returns the public keys of every key version still in its
	// verification window, for /.well-known/jwks.json.
	Keys(ctx context.Context) (jwk.Set, error)
}

// Values of the typ header.
const (
	// TypDelivery marks a record delivered by a push, pull or get.
	TypDelivery = "ura-delivery+jws"
	// TypResult marks the result of one pushed record.
	TypResult = "ura-result+jws"
	// TypFederation marks a record one ura gateway forwards to a peer
	// gateway: a Delivery whose recipient is the peer. A peer accepts no
	// other typ in a push, so a delivery or result it once handed out
	// cannot be replayed to it as a forwarded record.
	TypFederation = "ura-federation+jws"
	// TypTrailer marks the last line of an NDJSON pull: how many records
	// the stream carried and a digest of their lines exactly as sent, so
	// that a saved stream with a line removed, added, moved or repeated no
	// longer verifies as a whole.
	TypTrailer = "ura-trailer+jws"
	// TypReport marks the attestation of a report (gateway/report): its
	// digest, what it reports on and for whom, so that a report's numbers
	// can be checked against the gateway's key.
	TypReport = "ura-report+jws"
)

// ErrUnavailable is wrapped by every error that means the signing keys
// cannot be used right now: Vault unreachable or sealed, the token expired or
// refused, the key missing. Whoever gets it answers 503 and sends nothing.
var ErrUnavailable = errors.New("signing unavailable")

// Delivery is the signed payload for one delivered record: the record as the
// recipient may see it, bound to the decision that released it.
type Delivery struct {
	Record         json.RawMessage `json:"record"`
	DecisionID     string          `json:"decision_id"`
	PolicyRevision string          `json:"policy_revision"`
	// Redactions are the fields removed from Record, each with the policy
	// rule that removed it (never its value): never null, so that a
	// recipient can tell "nothing removed" from "not said".
	Redactions []verdict.Redaction `json:"redactions"`
	Recipient  string              `json:"recipient"`
	Issuer     string              `json:"iss"`
	IssuedAt   int64               `json:"iat"`
}

// Trailer is the signed payload of an NDJSON pull's last line
// (gateway/ARCHITECTURE.md, Signing): what the stream carried, bound to the
// member it was made for and the request it answered.
type Trailer struct {
	// Request is the request target the stream answered: path and query,
	// as received.
	Request   string `json:"request"`
	RequestID string `json:"request_id"`
	// Cursor is the cursor the stream resumed from, as the request named
	// it; "" for a pull from the start.
	Cursor     string `json:"cursor"`
	NextCursor string `json:"next_cursor"`
	// Complete is false when the stream stopped early; Error says why.
	Complete bool `json:"complete"`
	// Records is how many record lines precede the trailer.
	Records int `json:"records"`
	// Digest is StreamDigest of those lines.
	Digest    string         `json:"digest"`
	Error     map[string]any `json:"error,omitempty"`
	Recipient string         `json:"recipient"`
	Issuer    string         `json:"iss"`
	IssuedAt  int64          `json:"iat"`
}

// StreamDigest is a trailer's digest of the record lines before it:
// "sha256:" and the lowercase hex SHA-256 of every byte of the stream before
// the trailer line, that is each record line exactly as sent with its
// newline, in order (for an empty stream, of nothing). sum is that
// SHA-256.
func StreamDigest(sum []byte) string {
	return "sha256:" + hex.EncodeToString(sum)
}

// KeyID returns the kid from a compact JWS's protected header, or "" when
// there is none or the JWS is malformed. It does not verify anything: it is
// for logs and the audit trail, never for a trust decision.
func KeyID(compact string) string {
	return peekHeader(compact).Kid
}

// Typ returns the typ from a compact JWS's protected header, or "". Like
// KeyID it verifies nothing; read it only from a JWS that has verified, whose
// protected header the signature therefore covers.
func Typ(compact string) string {
	return peekHeader(compact).Typ
}

// peekedHeader is what KeyID and Typ read from a protected header.
type peekedHeader struct {
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// peekHeader decodes a compact JWS's protected header without verifying
// anything; a malformed or oversized header reads as empty.
func peekHeader(compact string) peekedHeader {
	var hdr peekedHeader
	h, _, ok := strings.Cut(compact, ".")
	if !ok || len(h) > maxHeaderLen {
		return hdr
	}
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return hdr
	}
	if json.Unmarshal(raw, &hdr) != nil {
		return peekedHeader{}
	}
	return hdr
}

// maxHeaderLen bounds a protected header read from outside: ours are under
// 100 bytes, and nothing legitimate comes close to this.
const maxHeaderLen = 4096
