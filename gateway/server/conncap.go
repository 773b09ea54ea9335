package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/identity"
)

// memberSlots counts what each member holds (requests in progress, open
// connections) against one maximum.
type memberSlots struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newMemberSlots(max int) *memberSlots {
	return &memberSlots{max: max, n: map[string]int{}}
}

// acquire takes one of member's slots, or reports false when it holds max.
func (s *memberSlots) acquire(member string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[member] >= s.max {
		return false
	}
	s.n[member]++
	return true
}

func (s *memberSlots) release(member string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[member]--; s.n[member] <= 0 {
		delete(s.n, member)
	}
}

// held is how many slots member holds now.
func (s *memberSlots) held(member string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[member]
}

// unregisteredMember is the one count that every certificate naming no
// registered member shares. Such a certificate is only ever answered 403,
// and an anchor may vouch for a whole prefix: one count each would let a
// partner CA open any number of connections, and name any number of
// series, by minting IDs. A member ID is upper case, so this names none.
const unregisteredMember = "unregistered"

// connRefusalLogEvery is the least time between two log lines about one
// member's refused connections. A member at the cap that retries in a
// loop would otherwise write a line per attempt; the metric counts every
// refusal, and each line says how many went unlogged before it.
const connRefusalLogEvery = time.Minute

// connCap holds each member to http.max_connections_per_member open TLS
// connections. A connection is counted from the end of its handshake, when
// its certificate has been verified and names its member, until it closes
// (countedConn): by the client, by an idle or other timeout, by an HTTP/2
// GOAWAY, by the per-request identity check, or by shutdown.
type connCap struct {
	slots      *memberSlots
	registered func(id string) bool
	refused    *prometheus.CounterVec
	log        *slog.Logger
	now        func() time.Time

	mu     sync.Mutex
	logged map[string]*refusalLog
}

// refusalLog is when a member's refusals were last logged, and how many
// came since.
type refusalLog struct {
	at       time.Time
	unlogged int
}

func newConnCap(max int, registry *identity.Registry, reg prometheus.Registerer, log *slog.Logger) (*connCap, error) {
	c := &connCap{
		slots: newMemberSlots(max),
		registered: func(id string) bool {
			_, ok := registry.Lookup(id)
			return ok
		},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_tls_connections_refused_total",
			Help: "TLS connections closed right after their handshake because their member already held " +
				"http.max_connections_per_member open, by member (\"unregistered\": certificates naming no registered member, which share one count).",
		}, []string{"member"}),
		log:    log,
		now:    time.Now,
		logged: map[string]*refusalLog{},
	}
	if err := reg.Register(c.refused); err != nil {
		return nil, fmt.Errorf("connection metrics: %w", err)
	}
	return c, nil
}

// member is whose count a verified connection goes to.
func (c *connCap) member(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		// Not reached: the verifier refuses a handshake without one.
		return unregisteredMember
	}
	id, err := identity.MemberID(cs.PeerCertificates[0])
	if err != nil || !c.registered(id) {
		return unregisteredMember
	}
	return id
}

// admit is the listener's admission: it counts the connection for its
// member until conn closes, or refuses it when the member holds the
// maximum already.
func (c *connCap) admit(cs tls.ConnectionState, conn *countedConn) bool {
	m := c.member(cs)
	if !c.slots.acquire(m) {
		c.refused.WithLabelValues(m).Inc()
		c.logRefusal(m, conn)
		return false
	}
	if !conn.hold(func() { c.slots.release(m) }) {
		c.slots.release(m)
		return false
	}
	return true
}

func (c *connCap) logRefusal(m string, conn *countedConn) {
	now := c.now()
	c.mu.Lock()
	l := c.logged[m]
	if l == nil {
		l = &refusalLog{}
		c.logged[m] = l
	}
	if !l.at.IsZero() && now.Sub(l.at) < connRefusalLogEvery {
		l.unlogged++
		c.mu.Unlock()
		return
	}
	unlogged := l.unlogged
	l.at, l.unlogged = now, 0
	c.mu.Unlock()
	c.log.Warn("connection refused: its member already holds the most connections allowed",
		"member", m, "remote", conn.RemoteAddr().String(), "max_connections", c.slots.max,
		"refused_unlogged", unlogged)
}
