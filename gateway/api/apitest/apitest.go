// Package apitest holds the one set of in-memory fakes of the chain's
// parts (store, policy, signer, audit log, limiter, outbox), for tests of
// one stage of the request chain, and the few test doubles around them: an
// audit store that fails on demand and a log sink. A fake that fails on
// demand does so through a field of the fake, not through a type of its
// own. A test that claims a mission behaviour (a view, a refusal, a relay)
// runs the real embedded policies instead (gateway/policy.New); the real
// store, signer, limiter and audit log have their own tests against
// PostgreSQL, Vault and Redis.
package apitest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// Store keeps records in memory with the version rules of the real
// stores: a new version moves the record behind every cursor handed out.
type Store struct {
	mu     sync.Mutex
	seq    uint64
	byID   map[string]*stored
	FailOn string // Put of this id fails as a storage error
	// Refuse maps ids whose Put the store refuses with the error given
	// (a *store.LicenceError, as a real store refuses an export).
	Refuse map[string]error
	GetErr error

	relOnce  sync.Once
	releases *releases
}

type stored struct {
	rec      *records.Record
	seq      uint64
	versions []*records.Record // every accepted version, oldest first
}

var _ store.Store = (*Store)(nil)

func NewStore() *Store { return &Store{byID: map[string]*stored{}} }

func (s *Store) Put(_ context.Context, rec *records.Record, check store.Check) (store.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.ID == s.FailOn {
		return "", errors.New("disk on fire")
	}
	if err := s.Refuse[rec.ID]; err != nil {
		return "", err
	}
	var prev *records.Record
	if st, ok := s.byID[rec.ID]; ok {
		prev = st.rec
		switch {
		case prev.Kind != rec.Kind:
			return "", fmt.Errorf("%w: kind", store.ErrConflict)
		case prev.Version == rec.Version && string(prev.Raw) == string(rec.Raw):
			return store.Unchanged, nil
		case prev.Version >= rec.Version:
			return "", fmt.Errorf("%w: version", store.ErrConflict)
		}
	}
	if check != nil {
		if err := check(prev); err != nil {
			return "", err
		}
	}
	s.seq++
	var versions []*records.Record
	if st, ok := s.byID[rec.ID]; ok {
		versions = st.versions
	}
	s.byID[rec.ID] = &stored{rec: rec, seq: s.seq, versions: append(versions, rec)}
	return store.Accepted, nil
}

func (s *Store) PutBatch(ctx context.Context, items []store.Item) []store.Result {
	results := make([]store.Result, len(items))
	for i, it := range items {
		results[i].Outcome, results[i].Err = s.Put(ctx, it.Record, it.Check)
	}
	return results
}

// Registers derives the registers from every stored record (registers.Of)
// and returns them whole, whatever refs name: a decision reads only what
// its record refers to anyway.
func (s *Store) Registers(context.Context, registers.Refs) (*registers.Snapshot, error) {
	s.mu.Lock()
	all := make([]*stored, 0, len(s.byID))
	for _, st := range s.byID {
		all = append(all, st)
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b *stored) int { return int(a.seq) - int(b.seq) })
	snap := registers.NewSnapshot()
	o := registers.NewOverlay(snap)
	for _, st := range all {
		o.Apply(st.rec)
	}
	return snap, nil
}

// ScanKeyed derives one keyed register from every stored record.
func (s *Store) ScanKeyed(ctx context.Context, register string, fn func(key, recordID string, value json.RawMessage) error) error {
	snap, err := s.Registers(ctx, registers.Refs{})
	if err != nil {
		return err
	}
	keys := slices.Sorted(maps.Keys(snap.Keyed[register]))
	for _, k := range keys {
		list := snap.Keyed[register][k]
		for _, id := range slices.Sorted(maps.Keys(list)) {
			if err := fn(k, id, list[id].Value); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) Versions(_ context.Context, id string) ([]*records.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.byID[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return slices.Clone(st.versions), nil
}

func (s *Store) Get(_ context.Context, id string) (*records.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.GetErr != nil {
		return nil, s.GetErr
	}
	st, ok := s.byID[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return st.rec, nil
}

// GetMany answers as Get would for each id, GetErr failing them all.
func (s *Store) GetMany(_ context.Context, ids []string) ([]*records.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.GetErr != nil {
		return nil, s.GetErr
	}
	out := make([]*records.Record, len(ids))
	for i, id := range ids {
		if st, ok := s.byID[id]; ok {
			out[i] = st.rec
		}
	}
	return out, nil
}

func (s *Store) Query(ctx context.Context, q store.Query, fn func(*records.Record, string) error) error {
	after, err := store.DecodeCursor(q.After)
	if err != nil {
		return err
	}
	s.mu.Lock()
	var all []*stored
	for _, st := range s.byID {
		if st.seq > after && matches(st.rec, q) {
			all = append(all, st)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b *stored) int { return int(a.seq) - int(b.seq) })
	for i, st := range all {
		if q.Limit > 0 && i == q.Limit {
			break
		}
		if err := fn(st.rec, store.EncodeCursor(st.seq)); err != nil {
			return err
		}
	}
	return nil
}

func matches(r *records.Record, q store.Query) bool {
	if q.Kind != "" && r.Kind != q.Kind || q.Originator != "" && r.Label.Originator != q.Originator {
		return false
	}
	if !q.Since.IsZero() && r.Label.Created.Before(q.Since) {
		return false
	}
	if q.LicenceID != "" {
		if id, _ := r.Body()["licence_id"].(string); id != q.LicenceID {
			return false
		}
	}
	if q.Marking != nil {
		m, ok := r.ItemMarking()
		if !ok || m.Country != q.Marking.Country || m.Manufacturer != q.Marking.Manufacturer || m.Serial != q.Marking.Serial {
			return false
		}
	}
	return true
}

// ApplyUsage and Usage: usage batches are not kept in memory; the stores'
// contract suite and the gateway's tests exercise them on the real stores.
func (s *Store) ApplyUsage(context.Context, store.UsageBatch) (store.UsageOutcome, error) {
	return store.UsageOutcome{}, errors.New("apitest: usage batches are not kept")
}

func (s *Store) Usage(context.Context, string) (store.LicenceUsage, error) {
	return store.LicenceUsage{}, store.ErrNotFound
}

func (s *Store) Ping(context.Context) error { return nil }
func (s *Store) Close() error               { return nil }

func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// GenStore makes up n records as a scan asks for them, so that a stream
// of any length costs the test no memory of its own.
type GenStore struct {
	Store
	N int
	// PauseEvery and Pause make the scan slow, as a busy disk would: it
	// sleeps Pause after every PauseEvery records (never when zero).
	PauseEvery int
	Pause      time.Duration
}

func (g *GenStore) Query(ctx context.Context, q store.Query, fn func(*records.Record, string) error) error {
	after, err := store.DecodeCursor(q.After)
	if err != nil {
		return err
	}
	label := records.Label{Classification: "RESTRICTED", ReleasableTo: []string{"ALB", "NATO"}, Originator: "AL/GOV/AIM",
		Created: time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC)}
	sent := 0
	for i := after + 1; i <= uint64(g.N); i++ {
		if q.Limit > 0 && sent == q.Limit {
			break
		}
		id := fmt.Sprintf("AIM-EVT-2026-%07d", i)
		rec := &records.Record{Kind: records.KindTrackingEvent, ID: id, Version: 1, Label: label,
			Raw: []byte(fmt.Sprintf(genTemplate, i%1000, id, i))}
		if err := fn(rec, store.EncodeCursor(i)); err != nil {
			return err
		}
		sent++
		if g.PauseEvery > 0 && sent%g.PauseEvery == 0 {
			time.Sleep(g.Pause)
		}
	}
	return nil
}

const genTemplate = `{"event":{"at":"2026-06-02T07:55:00Z","customs_declaration":"EX-2026-%06d","from":"ALB","item":{"att_category":"small_arms",` +
	`"marking":{"country":"ALB","manufacturer":"KAYO","serial":"K26-X","year":2026},"ml_category":"ML1"},"licence_id":"AIM-LIC-2026-000123",` +
	`"location":"Durrës port","to":"CZE","type":"EXPORT_DECLARED"},"id":"%s","kind":"tracking_event","label":{"classification":"RESTRICTED",` +
	`"created":"2026-06-02T08:00:00Z","originator":"AL/GOV/AIM","releasable_to":["ALB","NATO"]},"version":1,"n":%d}`

// PolicyRevision is the revision every decision of Policy carries.
const PolicyRevision = "rev-test"

// Policy is a small stand-in for the OPA engine: records whose id
// starts with DENY- are refused on push; a pull releases a record to members
// of a nation in its releasable_to (auditors see everything), and customs
// members get contract values and personal contacts redacted.
type Policy struct {
	n      atomic.Int64
	Redact []string // overrides the customs redactions when set
}

var _ policy.Engine = (*Policy)(nil)

// DecideChunk decides each question by itself.
func (p *Policy) DecideChunk(ctx context.Context, in []policy.Input) []policy.Decision {
	return policy.DecideEach(ctx, p, in)
}

func (p *Policy) Decide(_ context.Context, in policy.Input) policy.Decision {
	d := policy.Decision{ID: fmt.Sprintf("dec-%d", p.n.Add(1)), Revision: PolicyRevision}
	if in.Action == policy.Push {
		if strings.HasPrefix(in.Record.ID, "DENY-") {
			d.Reasons = []verdict.Reason{{Code: "test_deny", Message: "refused by the test policy"}}
			return d
		}
		d.Allow = true
		return d
	}
	if in.Caller.Kind != identity.KindAuditor && !slices.Contains(in.Record.Label.ReleasableTo, in.Caller.Nation) {
		d.Reasons = []verdict.Reason{{Code: "not_releasable", Message: "not releasable to " + in.Caller.Nation}}
		return d
	}
	d.Allow = true
	if in.Caller.Kind == identity.KindCustoms {
		d.Redact = []string{"/licence/contract_value", "/licence/end_user/contact"}
		if p.Redact != nil {
			d.Redact = p.Redact
		}
		// Each pointer names the rule that removed it, as the embedded
		// policy's decisions do.
		for _, ptr := range d.Redact {
			d.Redactions = append(d.Redactions, verdict.Redaction{Pointer: ptr, Rule: "redactions.customs." + in.Record.Kind})
		}
	}
	return d
}

// Signer makes real compact JWS with HMAC-SHA256, so tests can verify
// what was signed. Its published key set is KeySet (empty when nil), or
// KeysErr when that is set, as a Vault that cannot be read.
type Signer struct {
	Fail    atomic.Bool
	Calls   atomic.Int64
	KeySet  jwk.Set
	KeysErr error
}

var signerKey = []byte("exchange test key")

var _ sign.Signer = (*Signer)(nil)

func (s *Signer) Sign(ctx context.Context, payloads [][]byte) ([]string, error) {
	return s.SignTyped(ctx, sign.TypDelivery, payloads)
}

func (s *Signer) SignTyped(ctx context.Context, typ string, payloads [][]byte) ([]string, error) {
	return s.SignLabelled(ctx, typ, payloads, nil)
}

func (s *Signer) SignLabelled(_ context.Context, typ string, payloads [][]byte, labels []json.RawMessage) ([]string, error) {
	s.Calls.Add(1)
	if s.Fail.Load() {
		return nil, fmt.Errorf("%w: vault sealed", sign.ErrUnavailable)
	}
	out := make([]string, len(payloads))
	for i, p := range payloads {
		h := `{"alg":"HS256","kid":"test:1","typ":"` + typ + `"}`
		if i < len(labels) && labels[i] != nil {
			h = `{"alg":"HS256","kid":"test:1","typ":"` + typ + `","label":` + string(labels[i]) + `}`
		}
		input := base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + base64.RawURLEncoding.EncodeToString(p)
		mac := hmac.New(sha256.New, signerKey)
		mac.Write([]byte(input))
		out[i] = input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	return out, nil
}

func (s *Signer) Keys(context.Context) (jwk.Set, error) {
	switch {
	case s.KeysErr != nil:
		return nil, s.KeysErr
	case s.KeySet != nil:
		return s.KeySet, nil
	}
	return jwk.NewSet(), nil
}

// Verify checks a fake JWS and returns its typ and payload.
func Verify(t *testing.T, jws string) (string, map[string]any) {
	t.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %.40q", jws)
	}
	mac := hmac.New(sha256.New, signerKey)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if !hmac.Equal(sig, mac.Sum(nil)) {
		t.Fatal("JWS signature does not verify")
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h struct{ Typ string }
	_ = json.Unmarshal(hdr, &h)
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var payload map[string]any
	if err := json.Unmarshal(raw, &payload); err != nil {
		t.Fatal(err)
	}
	return h.Typ, payload
}

// Audit keeps events (or only counts them when Discard is set).
type Audit struct {
	mu      sync.Mutex
	events  []audit.Event
	count   int
	Fail    atomic.Bool
	Discard bool
}

var (
	_ audit.Log       = (*Audit)(nil)
	_ audit.Sequencer = (*Audit)(nil)
)

func (a *Audit) Append(ctx context.Context, events ...audit.Event) error {
	_, err := a.AppendSeq(ctx, events...)
	return err
}

// AppendSeq numbers events from 1 in the order they are appended, like
// the real log, and keeps them with their seq.
func (a *Audit) AppendSeq(_ context.Context, events ...audit.Event) (int64, error) {
	if a.Fail.Load() {
		return 0, fmt.Errorf("%w: disk full", audit.ErrUnavailable)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	first := int64(a.count) + 1
	a.count += len(events)
	if !a.Discard {
		for i, e := range events {
			e.Seq = first + int64(i)
			a.events = append(a.events, e)
		}
	}
	return first, nil
}

func (a *Audit) All() []audit.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.events)
}

// Limiter allows up to budget records per class (unlimited when a
// class has no budget) and records what was taken. Set Result to answer
// every Take with it as it is, or Err to fail every Take: for tests of how
// an answer is rendered. The zero Limiter allows everything.
type Limiter struct {
	mu     sync.Mutex
	budget map[ratelimit.Class]int
	taken  map[ratelimit.Class]int
	Result *ratelimit.Result
	Err    error
}

var _ ratelimit.Limiter = (*Limiter)(nil)

func NewLimiter(budget map[ratelimit.Class]int) *Limiter {
	return &Limiter{budget: budget, taken: map[ratelimit.Class]int{}}
}

func (l *Limiter) Take(_ context.Context, _ identity.Member, class ratelimit.Class, cost int) (ratelimit.Result, error) {
	if l.Err != nil {
		return ratelimit.Result{}, l.Err
	}
	if l.Result != nil {
		return *l.Result, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.taken == nil {
		l.taken = map[ratelimit.Class]int{}
	}
	res := ratelimit.Result{Limit: 1 << 30, Burst: 1 << 30, Window: time.Minute, Remaining: 1 << 30, Policy: `"test";q=1000000;w=60`}
	if b, ok := l.budget[class]; ok {
		res.Limit, res.Remaining = b, b-l.taken[class]
		if l.taken[class]+cost > b {
			res.RetryAfter, res.Remaining = 7*time.Second, max(0, b-l.taken[class])
			return res, nil
		}
	}
	l.taken[class] += cost
	res.Allowed = true
	return res, nil
}

// SetBudget replaces the budgets; nil: every class is unlimited.
func (l *Limiter) SetBudget(budget map[ratelimit.Class]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.budget = budget
}

func (l *Limiter) Counts(class ratelimit.Class) (taken int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.taken[class]
}

// AuditStore is a real audit store (a file store, say) under the real
// audit chain whose writes can be made to fail with Fail, as a full or
// vanished disk would.
type AuditStore struct {
	audit.Store
	Fail atomic.Bool
}

func (s *AuditStore) Write(ctx context.Context, entries []audit.Entry) error {
	if s.Fail.Load() {
		return errors.New("write: no space left on device")
	}
	return s.Store.Write(ctx, entries)
}

// LogBuffer holds everything a logger wrote, safe for the goroutines that
// write to it, for tests of what a log must say or must never hold.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
