// Package store keeps records: the register store behind push and pull.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/ura-gateway/ura/gateway/authority"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
)

// Outcome of a Put.
type Outcome string

// Outcomes.
const (
	Accepted  Outcome = "accepted"
	Unchanged Outcome = "unchanged"
)

// Errors a Store returns.
var (
	ErrNotFound = errors.New("record not found")
	// ErrConflict: the same id+version with other content, or an older version.
	ErrConflict = errors.New("version conflict")
	// ErrLicenceNotInForce: an export declaration against a licence the
	// store does not hold, or one suspended, revoked or expired.
	ErrLicenceNotInForce = errors.New("licence not in force")
	// ErrLicenceExceeded: an export declaration that would take more of an
	// ML category than its licence allows (or one it does not cover).
	ErrLicenceExceeded = errors.New("licence quantity exceeded")
	// ErrNoFollow: an Item carries Follow writes and the store keeps no
	// queues in its transaction (PostgreSQL: the outbox keeps its own
	// file there).
	ErrNoFollow = errors.New("this store does not write outbox entries in its transaction")
)

// LicenceError is a store's refusal of an export declaration, found inside
// the transaction that would have stored it with the licence locked: the
// balance and status every replica sees. Code is the policy's reason code
// for the same refusal (licence_unknown, licence_suspended,
// licence_revoked, licence_expired, licence_category_not_covered,
// licence_quantity_exceeded); it wraps ErrLicenceNotInForce or
// ErrLicenceExceeded.
type LicenceError struct {
	Code    string
	Message string
	Err     error
}

func (e *LicenceError) Error() string { return e.Message }
func (e *LicenceError) Unwrap() error { return e.Err }

// Check runs inside Put's transaction with the currently stored version
// (nil if none); an error aborts the Put. It is how lifecycle rules
// (licence transitions) are enforced without a race between two pushes.
type Check func(prev *records.Record) error

// Marking identifies an item (ITI: country, manufacturer, serial).
type Marking struct {
	Country, Manufacturer, Serial string
}

// Query selects records for a pull. Results come in the order they were
// stored; After resumes behind a cursor. Each record appears once, as its
// latest version, at the position where that version was stored: a new
// version moves the record behind every cursor already handed out, so a
// caller that resumes from its last cursor sees the update. Filters combine
// with AND.
type Query struct {
	Kind       string
	Originator string
	// LicenceID matches records that refer to a licence (a tracking event's
	// event.licence_id).
	LicenceID string
	// Marking matches records about one item (event.item.marking), exactly.
	Marking *Marking
	// Since matches records whose label.created is at or after it.
	Since time.Time
	// After is a cursor from an earlier Query; a malformed one is
	// ErrBadCursor.
	After string
	Limit int // 0 = no limit (streaming)
}

// Store is where records are kept: the records, and the registers the
// policy reads, derived from them in the same transaction. Every accepted
// export declaration (EXPORT_DECLARED) is checked there against its
// licence's status and balance (a *LicenceError refuses it). Implementations: the embedded default and
// PostgreSQL; one contract test suite runs against both.
type Store interface {
	Put(ctx context.Context, rec *records.Record, check Check) (Outcome, error)
	Get(ctx context.Context, id string) (*records.Record, error)
	// GetMany returns the latest version of each of ids in one read
	// transaction (one query): out[i] answers ids[i], nil when that id was
	// never stored (what Get answers with ErrNotFound). An id may appear
	// more than once. An error is the read's failure and answers none of
	// them: a push decides its records on their previous versions, and an
	// outbox batch on its records' current ones, with one read each rather
	// than one per record.
	GetMany(ctx context.Context, ids []string) ([]*records.Record, error)
	// Query calls fn for each match in order with its cursor; returning an
	// error from fn stops the scan and is returned.
	Query(ctx context.Context, q Query, fn func(rec *records.Record, cursor string) error) error
	// PutBatch stores items in order, each decided exactly as Put would
	// decide it after the ones before it: one item's conflict or failed
	// Check does not affect the others. Results[i] answers items[i]; every
	// accepted record is durable when PutBatch returns. A pushed batch
	// costs one durable commit instead of one per record.
	PutBatch(ctx context.Context, items []Item) []Result
	// Versions returns every stored version of id, oldest first, or
	// ErrNotFound when the id was never stored: every version is kept, as
	// the UN Firearms Protocol (art. 7) and the ATT (art. 12) ask registers
	// to do for at least ten years.
	Versions(ctx context.Context, id string) ([]*records.Record, error)
	// Registers reads the register entries refs name, in one query or one
	// read transaction (see registers.Refs for what comes back). The
	// entries are indexes the store keeps in the transaction that stores
	// each record, derived by registers.Of.
	Registers(ctx context.Context, refs registers.Refs) (*registers.Snapshot, error)
	// ScanKeyed calls fn for every entry of one keyed register
	// (registers.Keyed), in key and record id order: what a listing
	// outside a push reads (exports awaiting confirmation, …). Returning
	// an error from fn stops the scan and is returned.
	ScanKeyed(ctx context.Context, register string, fn func(key, recordID string, value json.RawMessage) error) error
	Releases
	// Customs usage batches and each licence's remaining quantity.
	UsageStore
	Ping(ctx context.Context) error
	Close() error
}

// Releases keeps the requests of two-person release authority
// (gateway/authority) where the records are, so that they survive a restart
// and every replica on one store sees the same approvals. A request's
// changes are made one at a time: UpdateRelease reads, changes and writes a
// request in one transaction, so two officers approving at once both count,
// and one officer approving twice counts once.
type Releases interface {
	// CreateRelease stores a new request; its id must be new.
	CreateRelease(ctx context.Context, r authority.Request) error
	// Release reads one request, or authority.ErrNotFound.
	Release(ctx context.Context, id string) (authority.Request, error)
	// UpdateRelease applies fn to the stored request id and stores the
	// result, in one transaction; an error from fn changes nothing and is
	// returned. authority.ErrNotFound when there is no such request.
	UpdateRelease(ctx context.Context, id string, fn func(*authority.Request) error) (authority.Request, error)
	// ListReleases calls fn for every request, newest first (ids are
	// UUIDv7, so in id order, descending); an error from fn stops the scan.
	ListReleases(ctx context.Context, fn func(authority.Request) error) error
	// ReleasesFor lists the requests naming this record version and
	// recipient, oldest first.
	ReleasesFor(ctx context.Context, recordID string, version int, recipient string) ([]authority.Request, error)
}
