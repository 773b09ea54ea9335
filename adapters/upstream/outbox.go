package upstream

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/groupcommit"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/release"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/tracing"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// Defaults for destination settings left at zero.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultBackoffInitial = time.Second
	DefaultBackoffMax     = 5 * time.Minute
)

// Outbox is the durable outbox: Enqueue writes one entry per destination
// that takes the record's kind and returns once the file is synced; one
// worker per destination delivers its entries in order, a batch at a time
// (deliverBatch). Nothing is decided at enqueue: just before each attempt
// the worker reads the record's current version from the store, has the
// policy decide it as a pull by the destination's member (gateway/release),
// appends that decision to the audit log, and only then sends what the
// decision releases (gateway/ARCHITECTURE.md, "Outbound"). An entry leaves the queue when the
// destination has it (2xx, or 409 for one it already had; from a peer
// gateway, a signed receipt that verifies and matches), when the policy
// withholds it, or when a newer version is stored. An entry the destination
// refuses for good is parked in a dead-letter bucket, counted and logged,
// never dropped.
//
// With the embedded store the queues are buckets of the store's own file
// (Options.DB), and a push's entries are written by the store in the
// transaction that stores its records (Follows): one durable commit makes
// both. File layout (bbolt): buckets "q/<destination>", "dead/<destination>" and
// "sent/<destination>" (a peer's delivered entries with their receipts, the
// newest KeptReceipts); keys are the bucket's sequence (8 bytes,
// big-endian), values are entries.
type Outbox struct {
	db *bbolt.DB
	// shared: db is the embedded store's file (Options.DB), which the
	// store closes.
	shared bool
	dests  []*destination
	log    *slog.Logger
	m      *metrics

	store  Records
	policy policy.Engine
	audit  audit.Log
	peers  sign.PeerVerifier
	self   string
	tracer *tracing.Tracer

	// batch is how many entries a worker takes at once (deliverBatch).
	batch int

	// writes carries enqueues to the one writer goroutine, which commits all
	// that are waiting in one transaction.
	writes *groupcommit.Queue[*enqueueReq]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // workers
	wwg    sync.WaitGroup // writer
}

// Records is where the worker reads the current versions of a batch's
// queued records, in one read (store.Store's GetMany: nil for a record not
// stored): what is sent is decided on what is stored now, never on what was
// stored when the entry was queued; and the releases of two-person release
// authority, which release a record to its named recipient only.
type Records interface {
	GetMany(ctx context.Context, ids []string) ([]*records.Record, error)
	release.Authority
}

// KeptReceipts is how many delivered entries, each with the receipt its
// peer signed, the outbox keeps per peer destination; older ones are
// dropped as newer ones arrive. The audit log keeps the decisions for good.
const KeptReceipts = 10000

var _ Forwarder = (*Outbox)(nil)

// ErrUnavailable is returned (wrapped) when records cannot be queued: the
// outbox is closed or its database refused the write.
var ErrUnavailable = errors.New("outbox unavailable")

// entry is one record waiting for one destination.
type entry struct {
	ID       string    `json:"id"`
	Version  int       `json:"version"`
	Kind     string    `json:"kind"`
	Enqueued time.Time `json:"enqueued"`
	Attempts int       `json:"attempts,omitempty"`
	// DecisionID and PolicyRevision are the push decision that accepted
	// the record, for the log. What is sent is decided again, as a pull by
	// the destination's member, at every attempt (Forward).
	DecisionID     string `json:"decision_id,omitempty"`
	PolicyRevision string `json:"policy_revision,omitempty"`
	// LastError is the entry's status: why its last attempt did not
	// deliver it, as logged (no response bodies).
	LastError string `json:"last_error,omitempty"`
	// Forward is the decision of the last attempt, as audited.
	Forward *Forwarded `json:"forward,omitempty"`
	// Receipt is what a peer gateway signed for the record (kept once it
	// verified and matched what was sent).
	Receipt *Receipt `json:"receipt,omitempty"`
	// Parked and Status are set when the entry is moved to dead letters.
	Parked *time.Time `json:"parked,omitempty"`
	Status int        `json:"status,omitempty"`
	// Sent is set when a peer's entry is kept with its receipt.
	Sent *time.Time `json:"sent,omitempty"`
}

// Forwarded is one delivery-time decision of an entry, as its audit event
// (action forward) records it.
type Forwarded struct {
	DecisionID     string `json:"decision_id"`
	PolicyRevision string `json:"policy_revision"`
	// Decision is allow, redact or withhold.
	Decision   string              `json:"decision"`
	Redactions []verdict.Redaction `json:"redactions,omitempty"`
	// AuditSeq is the seq of the forward event (0: the log does not say).
	AuditSeq int64 `json:"audit_seq,omitempty"`
	// Digest is records.Digest of the record bytes sent (after redaction).
	Digest string    `json:"digest,omitempty"`
	At     time.Time `json:"at"`
}

// IdempotencyKey is what the destination deduplicates on: a record version
// is delivered once however often it is sent.
func (e *entry) IdempotencyKey() string { return fmt.Sprintf("%s@%d", e.ID, e.Version) }

func queueBucket(name string) []byte { return []byte("q/" + name) }
func deadBucket(name string) []byte  { return []byte("dead/" + name) }
func sentBucket(name string) []byte  { return []byte("sent/" + name) }

// Options are what Open needs besides the config. With destinations
// configured, Registry, Store, Policy and Audit are required: nothing is
// sent that was not decided and audited.
type Options struct {
	Logger *slog.Logger
	// Registry names the destinations' members: the caller of every
	// delivery-time decision.
	Registry *identity.Registry
	// Store is read for each queued record's current version.
	Store Records
	// Policy decides every record sent, as a pull by the destination's
	// member.
	Policy policy.Engine
	// Audit gets one event per delivery-time decision (action forward),
	// durable before the record is sent.
	Audit audit.Log
	// Signer signs every record sent to a peer gateway (typ
	// ura-federation+jws), at delivery time: while it fails, delivery is
	// retried, and nothing is ever sent unsigned. Required when a peer
	// destination is configured.
	Signer sign.Signer
	// Issuer is this gateway's name in every signed delivery (sign.issuer).
	Issuer string
	// Peers verifies the receipts peer gateways sign (sign.peers); Self is
	// this gateway's member ID (sign.member), the recipient a receipt must
	// name. Required when a peer destination is configured.
	Peers sign.PeerVerifier
	Self  string
	// Tracer gives every delivery attempt a trace of its own, whose
	// requests carry its traceparent to the destination; nil: off.
	Tracer *tracing.Tracer
	// DB is the embedded store's file (bolt.Store.DB): the queues are kept
	// there, beside the records, and the outbox file (upstream.outbox.path)
	// is only read, once, to move what an earlier version left in it
	// (moveFile). Nil: the outbox keeps its own file (a PostgreSQL store).
	DB *bbolt.DB
}

// Open opens (or creates) the outbox file and starts one worker per
// destination; entries left from before a restart are delivered first.
// resolve turns config-relative paths into usable ones (config.Config.Path).
func Open(cfg config.Upstream, resolve func(string) string, opts Options) (*Outbox, error) {
	return open(cfg, resolve, opts, deliverBatch)
}

// open is Open with workers that take up to batch entries at once.
func open(cfg config.Upstream, resolve func(string) string, opts Options, batch int) (*Outbox, error) {
	if resolve == nil {
		resolve = func(p string) string { return p }
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "outbox")
	if len(cfg.Destinations) > 0 {
		switch {
		case opts.Registry == nil:
			return nil, errors.New("upstream: no member registry: a destination's member decides what it receives")
		case opts.Store == nil, opts.Policy == nil, opts.Audit == nil:
			return nil, errors.New("upstream: forwarding needs the store, the policy and the audit log: nothing is sent undecided or unaudited")
		}
	}
	var dests []*destination
	for _, dc := range cfg.Destinations {
		d, err := newDestination(dc, resolve)
		if err != nil {
			return nil, fmt.Errorf("upstream destination %s: %w", dc.Name, err)
		}
		who, ok := opts.Registry.Lookup(dc.Member)
		if !ok {
			return nil, fmt.Errorf("upstream destination %s: member %q is not in the registry", dc.Name, dc.Member)
		}
		d.who = who
		d.client.Transport = opts.Tracer.Transport(d.client.Transport)
		if d.kind == "peer" {
			switch {
			case opts.Signer == nil:
				return nil, fmt.Errorf("upstream destination %s: a peer gateway takes only signed records, and no signer is configured (vault)", dc.Name)
			case opts.Peers == nil || !opts.Peers.IsPeer(dc.Member) || opts.Self == "":
				return nil, fmt.Errorf("upstream destination %s: a peer's receipts are verified against its JWKS: %s must be under sign.peers, and sign.member set", dc.Name, dc.Member)
			}
			d.signer, d.issuer = opts.Signer, opts.Issuer
		}
		dests = append(dests, d)
	}
	path := resolve(cfg.Outbox.Path)
	db, err := openDB(path, opts.DB)
	if err != nil {
		return nil, err
	}
	closeDB := func() {
		if opts.DB == nil {
			_ = db.Close()
		}
	}
	o := &Outbox{db: db, shared: opts.DB != nil, dests: dests, log: logger, m: newMetrics(), batch: max(batch, 1), writes: groupcommit.NewQueue[*enqueueReq](256),
		store: opts.Store, policy: opts.Policy, audit: opts.Audit, peers: opts.Peers, self: opts.Self, tracer: opts.Tracer}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, d := range dests {
			if _, err := tx.CreateBucketIfNotExists(queueBucket(d.name)); err != nil {
				return err
			}
			if _, err := tx.CreateBucketIfNotExists(deadBucket(d.name)); err != nil {
				return err
			}
			if _, err := tx.CreateBucketIfNotExists(sentBucket(d.name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && o.shared {
		err = moveFile(db, path, logger)
	}
	if err != nil {
		closeDB()
		return nil, fmt.Errorf("outbox %s: %w", path, err)
	}
	o.initGauges()
	for _, d := range dests {
		// Zero series from the start, so a dashboard sees a destination
		// before its first delivery.
		o.m.delivered.WithLabelValues(d.name)
		o.m.parked.WithLabelValues(d.name)
		o.m.withheld.WithLabelValues(d.name)
		o.m.superseded.WithLabelValues(d.name)
	}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.wwg.Add(1)
	go o.writer()
	for _, d := range dests {
		o.wg.Add(1)
		go o.run(d)
	}
	return o, nil
}

// initGauges counts what a previous run left, and warns about entries for
// destinations no longer configured: they stay in the file until one of
// that name is configured again.
func (o *Outbox) initGauges() {
	_ = o.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			n := b.Stats().KeyN
			switch {
			case len(name) > 2 && string(name[:2]) == "q/":
				dest := string(name[2:])
				if o.dest(dest) == nil {
					if n > 0 {
						o.log.Warn("outbox holds records for a destination that is no longer configured",
							"destination", dest, "records", n)
					}
					return nil
				}
				o.m.pending.WithLabelValues(dest).Set(float64(n))
				if n > 0 {
					o.log.Info("outbox resumes", "destination", dest, "records", n)
				}
			case len(name) > 5 && string(name[:5]) == "dead/" && n > 0:
				o.log.Warn("outbox holds parked records", "destination", string(name[5:]), "records", n)
			}
			return nil
		})
	})
}

func (o *Outbox) dest(name string) *destination {
	for _, d := range o.dests {
		if d.name == name {
			return d
		}
	}
	return nil
}

// Enqueue makes rec durable for every destination that takes its kind; what
// each is sent of it is decided at delivery. A record of a kind no
// destination takes is not written at all.
func (o *Outbox) Enqueue(ctx context.Context, rec *records.Record) error {
	return o.EnqueueBatch(ctx, []*records.Record{rec})
}

// EnqueueBatch makes recs durable with one commit.
func (o *Outbox) EnqueueBatch(ctx context.Context, recs []*records.Record) error {
	ds := make([]Decided, len(recs))
	for i, rec := range recs {
		ds[i].Record = rec
	}
	return o.EnqueueDecided(ctx, ds)
}

// EnqueueDecided makes recs durable with one commit, each with its decision.
func (o *Outbox) EnqueueDecided(ctx context.Context, recs []Decided) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &enqueueReq{done: make(chan struct{})}
	now := time.Now().UTC()
	for _, dr := range recs {
		if dr.Record == nil || dr.Record.ID == "" {
			return errors.New("outbox: record without id")
		}
		req.puts = append(req.puts, o.puts(dr, now)...)
	}
	if len(req.puts) == 0 {
		return nil
	}
	if !o.writes.Send(req) {
		return fmt.Errorf("%w: closed", ErrUnavailable)
	}
	<-req.done
	if req.err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, req.err)
	}
	for _, p := range req.puts {
		o.m.pending.WithLabelValues(p.dest.name).Inc()
		p.dest.wakeUp()
	}
	return nil
}

// InStore reports whether the queues are in the embedded store's file
// (Options.DB): a push then queues its records with Follows, in the
// store's transaction, and not with EnqueueDecided.
func (o *Outbox) InStore() bool { return o.shared }

// Follows are the store writes that queue d (store.Item.Follow), one per
// destination that takes it, for the transaction that stores the record;
// Queued is told once they are committed.
func (o *Outbox) Follows(d Decided) ([]store.Follow, error) {
	if d.Record == nil || d.Record.ID == "" {
		return nil, errors.New("outbox: record without id")
	}
	var fs []store.Follow
	for _, p := range o.puts(d, time.Now().UTC()) {
		v, err := json.Marshal(&p.e)
		if err != nil {
			return nil, fmt.Errorf("outbox entry: %w", err)
		}
		fs = append(fs, store.Follow{Queue: string(queueBucket(p.dest.name)), Value: v})
	}
	return fs, nil
}

// Queued wakes the workers of the queues fs were written to by a committed
// PutBatch.
func (o *Outbox) Queued(fs []store.Follow) {
	for _, f := range fs {
		name, ok := strings.CutPrefix(f.Queue, "q/")
		if d := o.dest(name); ok && d != nil {
			o.m.pending.WithLabelValues(d.name).Inc()
			d.wakeUp()
		}
	}
}

// puts are the entries of dr, one per destination that takes it.
func (o *Outbox) puts(dr Decided, now time.Time) []put {
	var out []put
	rec := dr.Record
	for _, d := range o.dests {
		if d.wants(rec) && (dr.Recipient == "" || d.who.ID == dr.Recipient) {
			out = append(out, put{dest: d, e: entry{ID: rec.ID, Version: rec.Version, Kind: rec.Kind,
				Enqueued: now, DecisionID: dr.DecisionID, PolicyRevision: dr.PolicyRevision}})
		}
	}
	return out
}

type put struct {
	dest *destination
	e    entry
}

type enqueueReq struct {
	puts []put
	err  error
	done chan struct{}
}

func (o *Outbox) writer() {
	defer o.wwg.Done()
	for req := range o.writes.C() {
		group := groupcommit.Gather(req, o.writes.C(), 256, nil, 0)
		err := o.db.Update(func(tx *bbolt.Tx) error {
			for _, r := range group {
				for _, p := range r.puts {
					b := tx.Bucket(queueBucket(p.dest.name))
					seq, err := b.NextSequence()
					if err != nil {
						return err
					}
					v, err := json.Marshal(&p.e)
					if err != nil {
						return err
					}
					if err := b.Put(seqKey(seq), v); err != nil {
						return err
					}
				}
			}
			return nil
		})
		for _, r := range group {
			r.err = err
			close(r.done)
		}
	}
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// Close stops the workers (an attempt in flight is abandoned and made again
// after the next Open, under the same idempotency key) and closes the file.
func (o *Outbox) Close() error {
	if !o.writes.Close() {
		return nil
	}
	o.wwg.Wait()
	o.cancel()
	o.wg.Wait()
	for _, d := range o.dests {
		d.client.CloseIdleConnections()
	}
	if o.shared {
		return nil // the store's file: the store closes it
	}
	return o.db.Close()
}

// Pending is how many records wait for the named destination.
func (o *Outbox) Pending(name string) (int, error) {
	n := 0
	err := o.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(queueBucket(name)); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n, err
}

// Entry is one outbox entry as an operator sees it: queued (its status is
// Reason: why the last attempt did not deliver it), parked (refused for
// good) or sent (a peer's, kept with the receipt the peer signed).
type Entry struct {
	Seq      uint64
	ID       string
	Version  int
	Kind     string
	Attempts int
	Status   int
	Reason   string
	// At is when the entry was parked or sent; zero for a queued one.
	At time.Time
	// Forward is the last delivery-time decision; Receipt the peer's
	// verified receipt.
	Forward *Forwarded
	Receipt *Receipt
}

// Parked is one record a destination refused for good.
type Parked = Entry

// ParkedEntries lists what the named destination refused, oldest first.
func (o *Outbox) ParkedEntries(name string) ([]Parked, error) { return o.entries(deadBucket(name)) }

// QueuedEntries lists what waits for the named destination, oldest first,
// each with the reason its last attempt failed.
func (o *Outbox) QueuedEntries(name string) ([]Entry, error) { return o.entries(queueBucket(name)) }

// SentEntries lists the newest KeptReceipts entries a peer destination
// took, oldest first, each with its receipt.
func (o *Outbox) SentEntries(name string) ([]Entry, error) { return o.entries(sentBucket(name)) }

func (o *Outbox) entries(bucket []byte) ([]Entry, error) {
	var out []Entry
	err := o.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var e entry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			p := Entry{Seq: binary.BigEndian.Uint64(k), ID: e.ID, Version: e.Version, Kind: e.Kind,
				Attempts: e.Attempts, Status: e.Status, Reason: e.LastError, Forward: e.Forward, Receipt: e.Receipt}
			switch {
			case e.Parked != nil:
				p.At = *e.Parked
			case e.Sent != nil:
				p.At = *e.Sent
			}
			out = append(out, p)
			return nil
		})
	})
	return out, err
}

// Requeue moves every parked record of the named destination back to the end
// of its queue, once whatever made the destination refuse them is fixed.
func (o *Outbox) Requeue(name string) (int, error) {
	d := o.dest(name)
	if d == nil {
		return 0, fmt.Errorf("outbox: no destination %q", name)
	}
	n := 0
	err := o.db.Update(func(tx *bbolt.Tx) error {
		dead, q := tx.Bucket(deadBucket(name)), tx.Bucket(queueBucket(name))
		c := dead.Cursor()
		for k, v := c.First(); k != nil; k, v = c.First() {
			var e entry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			e.Parked, e.Status, e.Attempts, e.Receipt = nil, 0, 0, nil
			nv, err := json.Marshal(&e)
			if err != nil {
				return err
			}
			seq, err := q.NextSequence()
			if err != nil {
				return err
			}
			if err := q.Put(seqKey(seq), nv); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: requeue %s: %w", name, err)
	}
	o.m.pending.WithLabelValues(name).Add(float64(n))
	d.wakeUp()
	return n, nil
}
