// Package server composes the gateway: the mutual-TLS listener, the member
// identity, and the request chain in front of every route.
package server

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/upstream"
	"github.com/ura-gateway/ura/certs/reload"
	"github.com/ura-gateway/ura/gateway/api/auditapi"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/api/consoleapi"
	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/api/ops"
	"github.com/ura-gateway/ura/gateway/api/releaseapi"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/console"
	"github.com/ura-gateway/ura/gateway/cursor"
	"github.com/ura-gateway/ura/gateway/deliveries"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/reviews"
	"github.com/ura-gateway/ura/gateway/sanctions"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/tracing"
)

// Checker is one dependency that /readyz asks.
type Checker = ops.Checker

// Deps are the parts the request chain is composed of.
type Deps struct {
	// Checks are the dependencies /readyz asks.
	Checks  []Checker
	Store   store.Store
	Policy  policy.Engine
	Signer  sign.Signer
	Limiter ratelimit.Limiter
	Audit   audit.Log
	// Forwarder is optional: without destinations, records are only stored.
	Forwarder upstream.Forwarder
	// Peers verifies records signed by peer gateways (sign.peers); nil: none.
	Peers sign.PeerVerifier
	// Cursors seals the cursors pulls hand out; nil: a key of this
	// process's own (cursors.key_file unset).
	Cursors *cursor.Sealer
	// Tracer spans the request chain (tracing.*); nil: tracing is off.
	Tracer *tracing.Tracer
	// Sanctions is the sanctions list licences are screened against; nil:
	// New loads screening.sanctions_file, if one is configured.
	Sanctions *sanctions.List
}

// Server is one gateway process.
type Server struct {
	cfg      *config.Config
	deps     Deps
	log      *slog.Logger
	metrics  *metrics
	tls      *tlsManager
	registry *identity.Registry
	kit      *chain.Kit
	engine   *gin.Engine
	ops      *ops.Handlers
	// inFlight caps each member's requests in progress (http.max_in_flight_per_member).
	inFlight *inFlight
	// conns caps each member's open TLS connections (http.max_connections_per_member).
	conns *connCap
	// csrfKey signs the console's form tokens (console.csrf_key_file); nil:
	// a random key per process.
	csrfKey []byte

	// draining is set when a stop begins: /readyz answers 503 from then on.
	draining atomic.Bool
	// stopping is closed when the listeners close at the end of the drain
	// delay: NDJSON streams end at their next chunk, with their trailer.
	stopping chan struct{}

	mu      sync.Mutex
	addr    net.Addr
	started chan struct{}
}

// New builds a server from a validated config. It loads the TLS state once,
// so a broken certificate fails start-up instead of the first handshake.
func New(cfg *config.Config, deps Deps, logger *slog.Logger) (*Server, error) {
	m := newMetrics()
	s := &Server{
		cfg:      cfg,
		deps:     deps,
		log:      logger,
		metrics:  m,
		tls:      newTLSManager(cfg, m, logger.With("component", "tls")),
		started:  make(chan struct{}),
		stopping: make(chan struct{}),
	}
	var err error
	if s.inFlight, err = newInFlight(cfg.HTTP.MaxInFlightPerMember, m.registry); err != nil {
		return nil, err
	}
	if s.csrfKey, err = cfg.Console.CSRFKey(cfg.Path); err != nil {
		return nil, fmt.Errorf("console.csrf_key_file: %w", err)
	}
	s.registry = cfg.Registry()
	if s.conns, err = newConnCap(cfg.HTTP.MaxConnectionsPerMember, s.registry, m.registry, logger.With("component", "tls")); err != nil {
		return nil, err
	}
	if s.deps.Cursors == nil {
		s.deps.Cursors = cursor.Random()
		logger.Warn("cursors are sealed with a key of this process: they stop working when it restarts and other replicas refuse them; set cursors.key_file",
			"component", "exchange")
	}
	if s.deps.Sanctions == nil && cfg.Screening.SanctionsFile != "" {
		if s.deps.Sanctions, err = sanctions.Open(cfg.Path(cfg.Screening.SanctionsFile), logger.With("component", "sanctions")); err != nil {
			return nil, fmt.Errorf("screening.sanctions_file: %w", err)
		}
	}
	if err := registerDepMetrics(m.registry, deps); err != nil {
		return nil, err
	}
	if s.tls.fetcher != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		// A CRL that cannot be fetched now is not fatal: the certificates it
		// covers are refused (crl_missing) until a fetch succeeds.
		_ = s.tls.fetcher.FetchAll(ctx)
		cancel()
	}
	if err := s.tls.openCRLNumbers(); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	if err := s.tls.load(); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	// The record schemas are compiled once, here, so a broken one stops
	// start-up instead of failing pushes.
	if err := records.LoadSchemas(); err != nil {
		return nil, fmt.Errorf("record schemas: %w", err)
	}
	a, err := s.apis()
	if err != nil {
		return nil, err
	}
	s.ops = a.ops
	s.engine = s.routes(a)
	return s, nil
}

// apis builds the handler packages from the server's parts: the one place
// the APIs get their dependencies.
func (s *Server) apis() (apis, error) {
	d := s.deps
	s.kit = &chain.Kit{Log: s.log, Audit: d.Audit, Limiter: d.Limiter, Tracer: d.Tracer}
	if d.Audit != nil {
		// The limits' 429s, collapsed per member and limit; Run appends
		// them and flushes what is counted when it stops.
		ref, err := chain.NewRefusals(d.Audit, chain.RefusalOptions{Window: s.cfg.Audit.RefusalWindow,
			Logger: s.log.With("component", "audit"), Registerer: s.metrics.registry})
		if err != nil {
			return apis{}, fmt.Errorf("audit.refusal_window: %w", err)
		}
		s.kit.Refusals = ref
	}
	ex, err := exchange.New(s.kit, s.cfg, exchange.Deps{Store: d.Store, Policy: d.Policy,
		Signer: d.Signer, Audit: d.Audit, Forwarder: d.Forwarder, Peers: d.Peers, Cursors: d.Cursors,
		Stopping: s.stopping, Sanctions: d.Sanctions}, s.metrics.registry)
	if err != nil {
		return apis{}, fmt.Errorf("exchange metrics: %w", err)
	}
	rel := releaseapi.New(s.kit, releaseapi.Deps{Store: d.Store, Policy: d.Policy, Registry: s.registry,
		Forwarder: d.Forwarder, TTL: s.cfg.Release.TTL})
	a := apis{
		exchange: ex,
		releases: rel,
		audit:    auditapi.New(s.kit, d.Audit),
		// The drain comes first: a stopping process is not ready whatever
		// its dependencies say.
		ops: ops.New(s.kit, ops.Options{Checks: append([]Checker{drainCheck{&s.draining}}, d.Checks...), Signer: d.Signer, Policy: d.Policy,
			JWKSTTL: s.cfg.Sign.JWKSCacheTTL, OpenAPI: openapiDoc}),
	}
	if s.cfg.Console.Enabled {
		opts := console.Options{Policy: d.Policy, VerifyTimeout: s.cfg.Console.VerifyTimeout, CSRFKey: s.csrfKey,
			Logger: s.log, Registerer: s.metrics.registry, ConfirmWithinDays: s.cfg.Deliveries.ConfirmWithinDays}
		if st := d.Store; st != nil {
			within := deliveries.Within(s.cfg.Deliveries.ConfirmWithinDays)
			opts.Deliveries = func(ctx context.Context) ([]deliveries.Unconfirmed, error) {
				return deliveries.List(ctx, st.ScanKeyed, time.Now().UTC(), within)
			}
		}
		if r, ok := d.Audit.(audit.Reader); ok {
			opts.Audit = r
		}
		if d.Signer != nil {
			opts.Keys = d.Signer.Keys
		}
		if d.Store != nil {
			st := d.Store
			opts.Reviews = func(ctx context.Context, dueBefore, now time.Time) ([]reviews.Item, error) {
				return reviews.Due(ctx, st, "", dueBefore, now)
			}
		}
		a.console = consoleapi.New(s.kit, opts, rel)
	}
	return a, nil
}

// Handler is the whole HTTP chain, for tests that serve it themselves.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An HTTP/1.1 connection reaches net/http as a framingConn, which
		// net/http does not know for TLS: the state comes from the
		// connection itself.
		if fc, ok := framingConnFrom(r.Context()); ok && r.TLS == nil {
			st := fc.ConnectionState()
			r.TLS = &st
		}
		s.engine.ServeHTTP(w, r)
	})
}

// Addr is the listener's address once Run has started listening.
func (s *Server) Addr() net.Addr {
	<-s.started
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run serves until ctx ends, then drains in-flight requests and appends
// the refusals still counted (chain.Refusals) before it returns.
func (s *Server) Run(ctx context.Context) error {
	// The certificate files are taken as loaded before anyone can know the
	// gateway is up: a change made once it is (s.started) is a change the
	// watcher sees, never one it takes for the state already loaded.
	watcher := &reload.Watcher{
		Files:    s.tls.watchedFiles(),
		Interval: s.cfg.TLS.ReloadInterval,
		Reload:   s.tls.load,
		Result:   func(err error) { s.metrics.reloads.WithLabelValues(result(err)).Inc() },
		Logger:   s.log.With("component", "tls"),
	}
	if s.tls.fetcher != nil {
		watcher.Extra = s.tls.fetcher.Version
	}
	watcher.Prime()
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
	}
	s.mu.Lock()
	s.addr = ln.Addr()
	s.mu.Unlock()
	close(s.started)

	// Per-request read and write deadlines are set by the chain
	// (deadlines, middleware.go): a stream needs another bound than a page.
	hc := s.cfg.HTTP
	errorLog := log.New(handshakeLog{metrics: s.metrics, log: s.log.With("component", "tls")}, "", 0)
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: hc.ReadHeaderTimeout,
		IdleTimeout:       hc.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errorLog,
		ConnContext:       connContext,
	}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	tl := newTLSListener(ln, s.tls.baseConfig(), hc.ReadHeaderTimeout, errorLog.Printf, s.conns.admit)
	go func() { errc <- srv.Serve(tl) }()

	if s.cfg.OpsListen != "" {
		ops := &http.Server{Addr: s.cfg.OpsListen, Handler: s.opsRoutes(s.ops),
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: hc.IdleTimeout}
		servers = append(servers, ops)
		go func() { errc <- ops.ListenAndServe() }()
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if s.tls.fetcher != nil {
		go s.tls.fetcher.Run(runCtx)
	}
	go watcher.Run(runCtx)
	if l := s.deps.Sanctions; l != nil {
		go l.Watcher(s.cfg.Screening.ReloadInterval, func(err error) {
			s.metrics.screeningReloads.WithLabelValues(result(err)).Inc()
		}).Run(runCtx)
	}
	if ref := s.kit.Refusals; ref != nil {
		go ref.Run(runCtx)
	}

	s.log.Info("ura listening", "addr", ln.Addr().String(), "members", s.registry.Len(), "ops", s.cfg.OpsListen, "ops_metrics", s.cfg.OpsMetrics, "ops_profiling", s.cfg.OpsProfiling)
	select {
	case err := <-errc:
		s.flushRefusals()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	errs := s.stop(srv, servers, errc)
	// The listeners have drained. Only if the drain timed out can a refusal
	// still come; it is then logged and counted as not audited.
	s.flushRefusals()
	s.log.Info("ura stopped")
	return errors.Join(errs...)
}

// stop is the graceful stop (ARCHITECTURE.md, Replicas): not ready at once,
// listeners open for shutdown.drain_delay while load balancers notice,
// then closed; in-flight requests finish and streams end with their
// trailers, all within shutdown.timeout of the signal. What is still open
// then is cut.
func (s *Server) stop(api *http.Server, servers []*http.Server, errc <-chan error) []error {
	sc := s.cfg.Shutdown
	deadline := time.Now().Add(sc.Timeout)
	s.draining.Store(true)
	// Every answer from now on closes its connection, and idle ones are
	// closed, so that a client's next request opens a new connection,
	// which a load balancer sends to another replica.
	api.SetKeepAlivesEnabled(false)
	s.log.Info("ura stopping: not ready; draining", "drain_delay", sc.DrainDelay, "timeout", sc.Timeout)
	if sc.DrainDelay > 0 {
		t := time.NewTimer(sc.DrainDelay)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			s.log.Error("a listener failed while draining", "error", err)
		}
	}
	close(s.stopping)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var errs []error
	// The API first, the ops listener last: probes see 503 until the end.
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			s.log.Warn("shutdown.timeout passed with requests in progress; closing their connections", "error", err)
			errs = append(errs, err, srv.Close())
		}
	}
	return errs
}

// drainCheck makes /readyz fail once a stop has begun.
type drainCheck struct{ draining *atomic.Bool }

func (drainCheck) Name() string { return "shutdown" }

func (d drainCheck) Check(context.Context) error {
	if d.draining.Load() {
		return errors.New("stopping")
	}
	return nil
}

// flushRefusals appends the refusals counted but not yet written, closing
// every window; a failure is logged and counted by chain.Refusals.
func (s *Server) flushRefusals() {
	if ref := s.kit.Refusals; ref != nil {
		_ = ref.Close(context.Background())
	}
}
