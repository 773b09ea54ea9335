// Package exchange is the records API: what institutions push and pull.
// Every route runs the chain gateway/ARCHITECTURE.md draws ("Request
// chain"), in this order and nowhere else:
//
//	push  identity → body under limits → rate limit (cost = records)
//	      → schema validation → originator = caller → the batch's
//	      registers (one store read) → policy per record → audit the
//	      decisions (durable) → store (lifecycle check and export balance
//	      inside the store's transaction) → queue in the outbox (what is sent is
//	      decided there, at delivery, as a pull by the destination's
//	      member: gateway/release) → sign every result (with the record's
//	      digest and the seq of its decision event) → audit the outcome
//	      → response
//	pull  identity → query → per chunk of records: rate limit → policy
//	      (allow, redact, withhold) → redact → sign → audit (durable)
//	      → write and flush                                  (pipeline.go)
//
// Nothing unsigned or unaudited is ever written: a signer or audit failure
// before the first byte is a 503; after it (a stream), the stream ends with
// its trailer carrying the error instead of more records. Every stream
// ends with a signed trailer (one more signer call) that counts its records
// and digests their lines (stream.go).
package exchange

import (
	"errors"
	"log/slog"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/upstream"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/cursor"
	"github.com/ura-gateway/ura/gateway/federation"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sanctions"
	"github.com/ura-gateway/ura/gateway/sign"
)

// NDJSON is the streaming media type of pulls and pushes.
const NDJSON = "application/x-ndjson"

// Chunk is how many records a pull decides, signs and audits together:
// one signer call and one audit commit per chunk keeps Vault and fsync off
// the per-record path, and bounds the memory a stream holds.
const Chunk = 256

// Deps are the parts of the chain the exchange runs.
type Deps struct {
	Store  store.Store
	Policy policy.Engine
	Signer sign.Signer
	Audit  audit.Log
	// Forwarder is optional: without destinations, records are only stored.
	Forwarder upstream.Forwarder
	// Peers verifies records signed by peer gateways; nil: none.
	Peers sign.PeerVerifier
	// Cursors seals the cursors pulls hand out.
	Cursors *cursor.Sealer
	// Stopping is closed when the gateway stops taking requests: a stream
	// then ends at its next chunk with its trailer. Nil: never.
	Stopping <-chan struct{}
	// Sanctions is the consolidated sanctions list licences are screened
	// against (screening.sanctions_file); nil: none.
	Sanctions *sanctions.List
}

// Handlers serve the exchange routes.
type Handlers struct {
	kit     *chain.Kit
	cfg     *config.Config
	deps    Deps
	relay   *federation.Relay
	log     *slog.Logger
	metrics *metrics
}

type metrics struct {
	pushed    *prometheus.CounterVec
	delivered *prometheus.CounterVec
}

// New builds the exchange handlers and registers their metrics on reg.
func New(kit *chain.Kit, cfg *config.Config, deps Deps, reg prometheus.Registerer) (*Handlers, error) {
	m := &metrics{
		pushed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_records_pushed_total",
			Help: "Pushed records by result status (accepted, unchanged, denied, invalid, conflict).",
		}, []string{"status"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_records_pulled_total",
			Help: "Records a pull, get or trace decided on, by route class and decision (allow, redact, withhold).",
		}, []string{"class", "decision"}),
	}
	for _, c := range []prometheus.Collector{m.pushed, m.delivered} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	lim := cfg.Limits
	limits := records.Limits{MaxRecords: lim.MaxRecords, MaxDepth: lim.MaxDepth, MaxStringLength: lim.MaxStringLength}
	return &Handlers{kit: kit, cfg: cfg, deps: deps, log: kit.Log.With("component", "exchange"), metrics: m,
		relay: &federation.Relay{Peers: deps.Peers, Self: cfg.Sign.Member, Limits: limits, MaxBodyBytes: lim.MaxBodyBytes}}, nil
}

// Ready refuses every data route until the whole chain is configured: a
// gateway without a store, policy, signer or audit log must not half-work.
func (h *Handlers) Ready(*gin.Context) error {
	d := h.deps
	var missing string
	switch {
	case d.Store == nil:
		missing = "store"
	case d.Policy == nil:
		missing = "policy"
	case d.Signer == nil:
		missing = "signer"
	case d.Audit == nil:
		missing = "audit log"
	default:
		return nil
	}
	return problem.Unavailable("the record exchange is not available on this gateway", errors.New("exchange: no "+missing+" configured"))
}
