package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strconv"
	"time"

	"github.com/ura-gateway/ura/gateway/jsonstr"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// The event encoder below writes an Event's RFC 8785 canonical JSON in one
// pass, with its members in the order JCS sorts them, instead of encoding
// with encoding/json and canonicalising the result with gowebpki/jcs: the
// two-pass path cost about 25µs per event on the writer's critical path.
// Its output is byte for byte what the two-pass path gives (the library
// path stays as the reference; TestEventEncoderMatchesLibrary and
// FuzzEventEncoder compare them), so the canonical form, the hashes and
// every log written before are unchanged. It declines (ok false) the few
// events whose values the library would write differently from their Go
// form (an integer beyond ±2^53, written as a rounded double; a time that
// is not valid RFC 3339), and the caller falls back to the library.
//
// Members, sorted as RFC 8785 §3.2.3 orders them (all ASCII, so byte order):
// action collapsed decision decision_id hash member policy_revision prev
// reasons record_id record_kind record_version records redactions
// request_digest request_id route seq shadow signing_kid status time
// translations.

// eventMarks are the offsets, in an event's canonical JSON without "hash",
// where the writer splices in what only it knows.
type eventMarks struct {
	// hash is where the "hash" member goes: the comma before "member".
	hash int
	// prev is where the prev value starts (after its opening quote).
	prev int
	// seq is where the seq value starts.
	seq int
}

// appendEvent appends e's canonical JSON. ok is false when e holds a value
// only the library path writes as RFC 8785 does (see above); dst is then
// returned unchanged.
func appendEvent(dst []byte, e *Event) (out []byte, m eventMarks, ok bool) {
	if !safeInts(e) {
		return dst, m, false
	}
	n0 := len(dst)
	b := append(dst, `{"action":`...)
	b = appendString(b, e.Action)
	if e.Collapsed != 0 {
		b = append(b, `,"collapsed":`...)
		b = strconv.AppendInt(b, int64(e.Collapsed), 10)
	}
	b = append(b, `,"decision":`...)
	b = appendString(b, e.Decision)
	b = appendOptString(b, `,"decision_id":`, e.DecisionID)
	b = appendOptString(b, `,"hash":`, e.Hash)
	m.hash = len(b) - n0
	b = append(b, `,"member":`...)
	b = appendString(b, e.Member)
	b = appendOptString(b, `,"policy_revision":`, e.PolicyRevision)
	b = append(b, `,"prev":`...)
	m.prev = len(b) - n0 + 1
	b = appendString(b, e.Prev)
	if len(e.Reasons) > 0 {
		b = append(b, `,"reasons":`...)
		b = appendReasons(b, e.Reasons)
	}
	b = appendOptString(b, `,"record_id":`, e.RecordID)
	b = appendOptString(b, `,"record_kind":`, e.RecordKind)
	if e.RecordVersion != 0 {
		b = append(b, `,"record_version":`...)
		b = strconv.AppendInt(b, int64(e.RecordVersion), 10)
	}
	if e.Records != 0 {
		b = append(b, `,"records":`...)
		b = strconv.AppendInt(b, int64(e.Records), 10)
	}
	if len(e.Redactions) > 0 {
		b = append(b, `,"redactions":`...)
		b = appendRedactions(b, e.Redactions)
	}
	b = appendOptString(b, `,"request_digest":`, e.RequestDigest)
	b = append(b, `,"request_id":`...)
	b = appendString(b, e.RequestID)
	b = appendOptString(b, `,"route":`, e.Route)
	b = append(b, `,"seq":`...)
	m.seq = len(b) - n0
	b = strconv.AppendInt(b, e.Seq, 10)
	if s := e.Shadow; s != nil {
		b = append(b, `,"shadow":{"decision":`...)
		b = appendString(b, s.Decision)
		if len(s.Reasons) > 0 {
			b = append(b, `,"reasons":`...)
			b = appendReasons(b, s.Reasons)
		}
		b = appendOptString(b, `,"revision":`, s.Revision)
		b = append(b, '}')
	}
	b = appendOptString(b, `,"signing_kid":`, e.SigningKID)
	if e.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(e.Status), 10)
	}
	b = append(b, `,"time":"`...)
	var tok bool
	if b, tok = appendTime(b, e.Time); !tok {
		return dst[:n0], eventMarks{}, false
	}
	b = append(b, '"')
	if len(e.Translations) > 0 {
		b = append(b, `,"translations":`...)
		b = appendTranslations(b, e.Translations)
	}
	return append(b, '}'), m, true
}

// safeInts reports whether every integer of e is one a double holds
// exactly, so that RFC 8785's number form is its plain decimal form.
func safeInts(e *Event) bool {
	for _, v := range [...]int64{e.Seq, int64(e.RecordVersion), int64(e.Status), int64(e.Records), int64(e.Collapsed)} {
		if v > MaxInt || v < -MaxInt {
			return false
		}
	}
	return true
}

// appendTime writes t as encoding/json does (RFC 3339 with nanoseconds,
// trailing zeros dropped), and declines the times it refuses.
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	if _, off := t.Zone(); off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		return b, false
	}
	return t.AppendFormat(b, time.RFC3339Nano), true
}

func appendOptString(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, key...)
	return appendString(b, v)
}

func appendReasons(b []byte, rs []verdict.Reason) []byte {
	b = append(b, '[')
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"code":`...)
		b = appendString(b, r.Code)
		b = append(b, `,"message":`...)
		b = appendString(b, r.Message)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendRedactions mirrors verdict.Redaction's MarshalJSON: a redaction
// without a rule is its bare pointer.
func appendRedactions(b []byte, rs []verdict.Redaction) []byte {
	b = append(b, '[')
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		if r.Rule == "" {
			b = appendString(b, r.Pointer)
			continue
		}
		b = append(b, `{"pointer":`...)
		b = appendString(b, r.Pointer)
		b = append(b, `,"rule":`...)
		b = appendString(b, r.Rule)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendTranslations(b []byte, ts []verdict.Translation) []byte {
	b = append(b, '[')
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"from":`...)
		b = appendMarking(b, t.From)
		b = append(b, `,"rule":`...)
		b = appendString(b, t.Rule)
		b = append(b, `,"to":`...)
		b = appendMarking(b, t.To)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendMarking(b []byte, m verdict.Marking) []byte {
	b = append(b, `{"classification":`...)
	b = appendString(b, m.Classification)
	b = append(b, `,"policy_id":`...)
	b = appendString(b, m.PolicyID)
	return append(b, '}')
}

// appendString writes s as a JSON string the way the two-pass path ends up
// writing it: encoding/json first replaces each byte that is not valid
// UTF-8 with U+FFFD; RFC 8785 §3.2.2.2 then escapes only '"', '\\' and the
// control characters and leaves every other character, U+2028 and '<'
// included, as is.
func appendString(b []byte, s string) []byte {
	b, _ = jsonstr.Append(b, s, true)
	return b
}

// eventSizeHint is a capacity for e's canonical JSON that is rarely
// outgrown: the member names and punctuation, plus its strings.
func eventSizeHint(e *Event) int {
	n := 360 + len(e.Action) + len(e.Decision) + len(e.DecisionID) + len(e.Hash) + len(e.Member) +
		len(e.PolicyRevision) + len(e.Prev) + len(e.RecordID) + len(e.RecordKind) + len(e.RequestDigest) +
		len(e.RequestID) + len(e.Route) + len(e.SigningKID)
	for _, r := range e.Reasons {
		n += 24 + len(r.Code) + len(r.Message)
	}
	for _, r := range e.Redactions {
		n += 24 + len(r.Pointer) + len(r.Rule)
	}
	for _, t := range e.Translations {
		n += 120 + len(t.From.PolicyID) + len(t.From.Classification) + len(t.To.PolicyID) + len(t.To.Classification) + len(t.Rule)
	}
	if s := e.Shadow; s != nil {
		n += 48 + len(s.Decision) + len(s.Revision)
		for _, r := range s.Reasons {
			n += 24 + len(r.Code) + len(r.Message)
		}
	}
	return n
}

// draft is an event encoded by its appender, before it has a place in the
// chain: its canonical JSON with seq 0 and a zero prev, and where those and
// the hash go. Encoding in the appenders' goroutines, in parallel, leaves
// the single writer only the splice and the SHA-256 of each event.
type draft struct {
	ev    Event
	json  []byte
	marks eventMarks
}

// newDraft checks and encodes e as Append received it.
func newDraft(e Event) (draft, error) {
	e.Seq, e.Prev, e.Hash = 0, ZeroHash, ""
	e.Time = normTime(e.Time)
	if err := e.check(); err != nil {
		return draft{}, err
	}
	b, m, ok := appendEvent(make([]byte, 0, eventSizeHint(&e)), &e)
	if !ok {
		// check admits only what the encoder writes; this is a bug.
		return draft{}, fmt.Errorf("%w: the encoder declined it", ErrInvalidEvent)
	}
	return draft{ev: e, json: b, marks: m}, nil
}

// lineSize bounds the length of d's line once sealed.
func (d *draft) lineSize() int { return len(d.json) + len(`,"hash":""`) + 64 + 20 }

// sealer seals drafts into the chain; one per writer, for its digest.
type sealer struct {
	h hash.Hash
}

func newSealer() *sealer { return &sealer{h: sha256.New()} }

// seal places d at seq after prev: it appends d's line to dst and returns
// the entry, whose Line is the appended bytes. The result is exactly what
// seal(d.ev, seq, prev) gives (TestDraftSealMatches).
func (s *sealer) seal(dst []byte, d *draft, seq int64, prev string) ([]byte, Entry, error) {
	if seq > MaxInt || !isHex64(prev) {
		// Not a head this log writes; the general path judges it.
		ent, err := seal(d.ev, seq, prev)
		if err != nil {
			return dst, Entry{}, err
		}
		start := len(dst)
		dst = append(dst, ent.Line...)
		ent.Line = dst[start:len(dst):len(dst)]
		return dst, ent, nil
	}
	var seqBuf [20]byte
	sq := strconv.AppendInt(seqBuf[:0], seq, 10)
	j, m := d.json, d.marks
	// j holds a 64-byte zero prev at m.prev and a 1-byte "0" seq at m.seq.
	// A hash.Hash never returns an error from Write.
	s.h.Reset()
	s.h.Write(j[:m.prev])
	_, _ = io.WriteString(s.h, prev)
	s.h.Write(j[m.prev+64 : m.seq])
	s.h.Write(sq)
	s.h.Write(j[m.seq+1:])
	var sum [sha256.Size]byte
	var hx [2 * sha256.Size]byte
	hex.Encode(hx[:], s.h.Sum(sum[:0]))
	start := len(dst)
	dst = append(dst, j[:m.hash]...)
	dst = append(dst, `,"hash":"`...)
	dst = append(dst, hx[:]...)
	dst = append(dst, '"')
	dst = append(dst, j[m.hash:m.prev]...)
	dst = append(dst, prev...)
	dst = append(dst, j[m.prev+64:m.seq]...)
	dst = append(dst, sq...)
	dst = append(dst, j[m.seq+1:]...)
	line := dst[start:len(dst):len(dst)]
	if len(line) > MaxLineBytes {
		return dst[:start], Entry{}, fmt.Errorf("audit: event of %d bytes exceeds %d", len(line), MaxLineBytes)
	}
	ev := d.ev
	ev.Seq, ev.Prev, ev.Hash = seq, prev, string(hx[:])
	return dst, Entry{Event: ev, Line: line}, nil
}

// isHex64 reports whether s is a hash as this log writes it: 64 lower-case
// hex digits, which the encoder copies as they are.
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
