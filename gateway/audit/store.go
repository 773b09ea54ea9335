package audit

import (
	"context"
	"errors"
	"time"
)

// Errors callers switch on.
var (
	// ErrUnavailable wraps every failure to make events durable. The gateway
	// answers 503 and serves nothing unaudited.
	ErrUnavailable = errors.New("audit log unavailable")
	// ErrNotFound is returned for a sequence number the log does not hold.
	ErrNotFound = errors.New("audit event not found")
	// ErrInUse is returned when another process holds the log for writing.
	ErrInUse = errors.New("audit log is in use by another process")
)

// Head is the state of the chain: how many events it holds and the hash of
// the last one (ZeroHash when empty).
type Head struct {
	Count int64  `json:"count"`
	Hash  string `json:"head_hash"`
}

// Store keeps entries and checkpoints. Implementations need not be safe
// for concurrent Write calls (the chain has one writer) but must allow
// reads concurrent with a write, and must never show a reader an entry
// beyond the last one whose Write returned (by any writer, for a Shared
// store). A store that is not Shared has one writing process: it holds the
// log exclusively (ErrInUse for a second).
type Store interface {
	// Head is the last durable entry, as found on open or left by Write.
	Head() Head
	// Write makes entries durable (all or, on error, an unknown prefix),
	// in order, continuing from Head.
	Write(ctx context.Context, entries []Entry) error
	// Scan calls fn with the stored line of each durable entry from the
	// one at position from (1-based) on, in order, up to the head at the
	// time of the call. Lines are passed as stored, unchecked, so that a
	// verifier sees exactly what is there; fn must not keep the slice.
	Scan(ctx context.Context, from int64, fn func(line []byte) error) error
	// Get returns the entry with this seq, or ErrNotFound.
	Get(ctx context.Context, seq int64) (Entry, error)
	// Search returns matching events, newest first.
	Search(ctx context.Context, q Query) (Page, error)
	// AddCheckpoint makes a signed checkpoint durable.
	AddCheckpoint(ctx context.Context, cp SignedCheckpoint) error
	// Checkpoints returns every stored checkpoint, oldest first.
	Checkpoints(ctx context.Context) ([]SignedCheckpoint, error)
	Close() error
}

// pipelinedStore is a store whose Write comes apart into a write, an
// fsync and the publication of what the fsync made durable, so that the
// chain writes the next group while earlier groups' fsyncs are under way,
// and several fsyncs in flight overlap on the device
// (gateway/ARCHITECTURE.md, Audit). Write is WriteNext, Sync and Publish.
type pipelinedStore interface {
	Store
	// WriteNext writes lines, each an entry's followed by a newline, as
	// the writer sealed them into one buffer, after the last ones written
	// (not Head: those may not be durable yet), without making them
	// durable or visible. after is the head they continue, which must be
	// the last written; head is the head after them. The lines are written
	// as they are and not kept.
	WriteNext(after, head Head, lines []byte) error
	// Sync makes every entry written before the call durable and returns
	// the last of them. Several may be under way at once.
	Sync() (Head, error)
	// PrepareNext readies the store for the next writes, ahead of need;
	// the writer calls it when it would otherwise wait. An error is left
	// for the next WriteNext to meet.
	PrepareNext()
	// Publish moves Head, and what readers see, up to h, which a Sync
	// returned.
	Publish(h Head)
}

// Shared is a store that several gateway processes (replicas) write at
// once, each with its own Chain: one hash chain whatever process appends.
// A write is serialised against every other writer's and continues the
// head it finds inside its own transaction, so no process's in-memory head
// is trusted to be the chain's (gateway/ARCHITECTURE.md, Audit). Write still
// refuses entries that do not continue the durable head.
type Shared interface {
	Store
	// WriteSealed takes the chain's write lock, reads the durable head,
	// calls seal with it and makes the entries seal returns durable before
	// the lock is released; it returns the head after the write. seal may
	// return no entries, and is called once.
	WriteSealed(ctx context.Context, seal func(head Head) ([]Entry, error)) (Head, error)
	// CurrentHead is the durable head as every writer has left it.
	CurrentHead(ctx context.Context) (Head, error)
	// LatestCheckpoint is the newest stored checkpoint, whoever signed it;
	// nil when there is none.
	LatestCheckpoint(ctx context.Context) (*SignedCheckpoint, error)
}

// Query selects events. Empty fields match everything. From is inclusive,
// To exclusive; Before, when set, returns only events with seq < Before (the
// cursor of the previous page).
type Query struct {
	Member   string
	RecordID string
	Decision string
	Reason   string
	From     time.Time
	To       time.Time
	Before   int64
	Limit    int
}

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// normalize applies the default and maximum page size.
func (q Query) normalize() Query {
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit > MaxLimit {
		q.Limit = MaxLimit
	}
	return q
}

// Match reports whether e satisfies q's filters (not its cursor or limit).
func (q Query) Match(e *Event) bool {
	if q.Member != "" && e.Member != q.Member {
		return false
	}
	if q.RecordID != "" && e.RecordID != q.RecordID {
		return false
	}
	if q.Decision != "" && e.Decision != q.Decision {
		return false
	}
	if q.Reason != "" && !hasReason(e, q.Reason) {
		return false
	}
	if !q.From.IsZero() && e.Time.Before(q.From) {
		return false
	}
	if !q.To.IsZero() && !e.Time.Before(q.To) {
		return false
	}
	return true
}

func hasReason(e *Event, code string) bool {
	for _, r := range e.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}

// Page is one page of search results, newest first. Next, when non-zero, is
// the Before of the following (older) page.
type Page struct {
	Events []Event `json:"events"`
	Next   int64   `json:"next_cursor,omitempty"`
}
