package sign

import (
	"context"
	"encoding/json"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Signer signs payloads as compact JWS with a key held in Vault.
type Signer interface {
	// Sign returns one compact JWS per payload, in order, or an error and
	// nothing: nothing unsigned, nothing half-signed, ever leaves.
	Sign(ctx context.Context, payloads [][]byte) ([]string, error)
	// Keys returns the public keys of every key version still in its
	// verification window, for /.well-known/jwks.json.
	Keys(ctx context.Context) (jwk.Set, error)
}

// Delivery is the signed payload for one delivered record: the record as the
// recipient may see it, bound to the decision that released it.
type Delivery struct {
	Record         json.RawMessage `json:"record"`
	DecisionID     string          `json:"decision_id"`
	PolicyRevision string          `json:"policy_revision"`
	Redactions     []string        `json:"redactions"`
	Recipient      string          `json:"recipient"`
	Issuer         string          `json:"iss"`
	IssuedAt       int64           `json:"iat"`
}
