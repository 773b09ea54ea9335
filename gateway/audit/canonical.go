package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gowebpki/jcs"
)

// ZeroHash is the prev of the first event.
const ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// MaxLineBytes bounds one stored event. Events carry identifiers, codes and
// paths, never record bodies, so anything larger is a bug or an attack.
const MaxLineBytes = 256 << 10

// Entry is an event as stored: the event with seq, prev and hash set, and
// its line — the event's canonical JSON including "hash", without newline.
type Entry struct {
	Event Event
	Line  []byte
}

// Canonical returns the RFC 8785 canonical JSON of e without its hash: the
// bytes that e.Hash is the SHA-256 of.
func Canonical(e Event) ([]byte, error) {
	e.Hash = ""
	return canonicalJSON(e)
}

// canonicalJSON is the RFC 8785 form of v: an Event by the one-pass
// encoder (encode.go), anything else, and the few events that encoder
// declines, by encoding/json and the jcs library.
func canonicalJSON(v any) ([]byte, error) {
	if e, ok := v.(Event); ok {
		if b, _, ok := appendEvent(make([]byte, 0, eventSizeHint(&e)), &e); ok {
			return b, nil
		}
	}
	return libraryCanonical(v)
}

// libraryCanonical is the two-pass reference path: encoding/json, then the
// jcs library's canonicalisation.
func libraryCanonical(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("audit: encode event: %w", err)
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("audit: canonicalize event: %w", err)
	}
	return out, nil
}

// HashBytes is the hex SHA-256 of canonical bytes.
func HashBytes(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}

// MaxInt is the largest magnitude an integer member of an event may have.
// RFC 8785 writes numbers as IEEE 754 doubles, so a larger integer would be
// stored rounded (2^63 becomes 9223372036854776000) and the line could no
// longer be decoded into its event: the log would refuse to open. Such an
// event is refused at append instead.
const MaxInt = 1<<53 - 1

// ErrInvalidEvent marks an event that cannot be stored as it is: a caller
// bug, since every value copied from a request must be bounded before it
// reaches an event. Nothing is appended.
var ErrInvalidEvent = errors.New("audit: event cannot be stored")

// check refuses an event whose line would not decode back to it.
func (e *Event) check() error {
	for _, f := range [...]struct {
		name string
		v    int64
	}{{"seq", e.Seq}, {"record_version", int64(e.RecordVersion)}, {"status", int64(e.Status)}, {"records", int64(e.Records)}, {"collapsed", int64(e.Collapsed)}} {
		if f.v > MaxInt || f.v < -MaxInt {
			return fmt.Errorf("%w: %s %d is outside ±2^53", ErrInvalidEvent, f.name, f.v)
		}
	}
	if y := e.Time.Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%w: time %d is outside years 1-9999", ErrInvalidEvent, y)
	}
	return nil
}

// seal sets e's seq and prev, computes its hash and returns the stored entry.
func seal(e Event, seq int64, prev string) (Entry, error) {
	e.Seq, e.Prev, e.Hash = seq, prev, ""
	e.Time = normTime(e.Time)
	if err := e.check(); err != nil {
		return Entry{}, err
	}
	c, err := canonicalJSON(e)
	if err != nil {
		return Entry{}, err
	}
	e.Hash = HashBytes(c)
	line := withHash(c, e.Hash)
	if len(line) > MaxLineBytes {
		return Entry{}, fmt.Errorf("audit: event of %d bytes exceeds %d", len(line), MaxLineBytes)
	}
	return Entry{Event: e, Line: line}, nil
}

// memberKey marks where "hash" sits in an event's canonical JSON: JCS sorts
// members, "hash" sorts just before "member", and "member" is always present.
// Inside a JSON string every quote is escaped, so the first occurrence of
// this sequence is the member itself.
var memberKey = []byte(`,"member":`)

// withHash inserts the hash member into canonical bytes without it, giving
// exactly the canonical JSON of the event with its hash (one JCS pass, not two).
func withHash(canonical []byte, hash string) []byte {
	i := bytes.Index(canonical, memberKey)
	out := make([]byte, 0, len(canonical)+len(hash)+10)
	out = append(out, canonical[:i]...)
	out = append(out, `,"hash":"`...)
	out = append(out, hash...)
	out = append(out, '"')
	return append(out, canonical[i:]...)
}

// withoutHash removes the hash member from an event's canonical line.
func withoutHash(line []byte, hash string) ([]byte, bool) {
	m := []byte(`,"hash":"` + hash + `"`)
	i := bytes.Index(line, m)
	if i < 0 {
		return nil, false
	}
	out := make([]byte, 0, len(line)-len(m))
	out = append(out, line[:i]...)
	return append(out, line[i+len(m):]...), true
}

// normTime keeps times in UTC at microsecond precision, so that an event
// survives PostgreSQL's timestamptz and a JSON round trip byte for byte.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Line errors, for the verifier to name what is wrong with one line.
var (
	errNotCanonical = errors.New("line is not the canonical form of its event")
	errHashMismatch = errors.New("hash mismatch")
)

// ParseLine decodes one stored line and checks it against itself: the line
// must be exactly the canonical JSON of the event it decodes to (so no
// member can be added, dropped or re-encoded unnoticed) and the event's hash
// must be the SHA-256 of its canonical form without "hash". It does not
// check the link to the previous event.
func ParseLine(line []byte) (Entry, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	if len(line) > MaxLineBytes {
		return Entry{}, fmt.Errorf("line of %d bytes exceeds %d", len(line), MaxLineBytes)
	}
	var e Event
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("not an event: %w", err)
	}
	if dec.More() {
		return Entry{}, errors.New("not an event: trailing data")
	}
	again, err := canonicalJSON(e)
	if err != nil {
		return Entry{}, err
	}
	if !bytes.Equal(again, line) {
		return Entry{}, errNotCanonical
	}
	// The line is canonical, so dropping the hash member leaves exactly the
	// canonical bytes the hash covers.
	c, ok := withoutHash(line, e.Hash)
	if !ok || HashBytes(c) != e.Hash {
		return Entry{Event: e, Line: line}, errHashMismatch
	}
	return Entry{Event: e, Line: line}, nil
}

// decodeLine decodes a stored line without checking it: for search and
// summaries, which present what the log holds; Verify is what checks it.
func decodeLine(line []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		return Event{}, fmt.Errorf("audit: decode event: %w", err)
	}
	return e, nil
}
