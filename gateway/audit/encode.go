package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"sync"
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
	var enc eventEncoder
	return enc.appendEvent(dst, e)
}

// eventEncoder writes the events of one Append one after another into one
// buffer. The events of one request share most of their strings (action,
// member, request_id, route, request_digest, policy_revision, signing_kid,
// record_kind, often the decision and its reasons) and, being made within
// microseconds of each other, the second of their time. Each is escaped
// once: a value equal to the previous event's is copied from where that
// event's bytes lie in the buffer, which are the same bytes, since the
// encoding of a value depends on the value only. (A draft's prev, always
// the zero hash, is one of them.) Its zero value is ready;
// one encoder serves one buffer, which may only grow.
type eventEncoder struct {
	action, decision, member, policyRevision, prev, recordKind strMemo
	requestDigest, requestID, route, signingKID, shadowRev     strMemo
	reasons                                                    sliceMemo[verdict.Reason]
	redactions                                                 sliceMemo[verdict.Redaction]
	translations                                               sliceMemo[verdict.Translation]
	// second is the Unix second of the last UTC time written, and where
	// its "2006-01-02T15:04:05" lies.
	second      int64
	secondStart int
	secondSet   bool
}

// strMemo is the last value written for one member and where its JSON
// string lies in the buffer.
type strMemo struct {
	v          string
	start, end int
	set        bool
}

func (m *strMemo) append(b []byte, s string) []byte {
	if m.set && m.v == s {
		return append(b, b[m.start:m.end]...)
	}
	start := len(b)
	b = appendString(b, s)
	*m = strMemo{v: s, start: start, end: len(b), set: true}
	return b
}

func (m *strMemo) appendOpt(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return m.append(append(b, key...), s)
}

// sliceMemo is strMemo for an array member.
type sliceMemo[T comparable] struct {
	v          []T
	start, end int
	set        bool
}

func (m *sliceMemo[T]) append(b []byte, v []T, write func([]byte, []T) []byte) []byte {
	if m.set && slices.Equal(m.v, v) {
		return append(b, b[m.start:m.end]...)
	}
	start := len(b)
	b = write(b, v)
	*m = sliceMemo[T]{v: v, start: start, end: len(b), set: true}
	return b
}

// appendEvent is the package's appendEvent, remembering what it wrote for
// the next event in the same buffer.
func (enc *eventEncoder) appendEvent(dst []byte, e *Event) (out []byte, m eventMarks, ok bool) {
	if !safeInts(e) {
		return dst, m, false
	}
	n0 := len(dst)
	b := append(dst, `{"action":`...)
	b = enc.action.append(b, e.Action)
	if e.Collapsed != 0 {
		b = append(b, `,"collapsed":`...)
		b = strconv.AppendInt(b, int64(e.Collapsed), 10)
	}
	b = append(b, `,"decision":`...)
	b = enc.decision.append(b, e.Decision)
	b = appendOptString(b, `,"decision_id":`, e.DecisionID)
	b = appendOptString(b, `,"hash":`, e.Hash)
	m.hash = len(b) - n0
	b = append(b, `,"member":`...)
	b = enc.member.append(b, e.Member)
	b = enc.policyRevision.appendOpt(b, `,"policy_revision":`, e.PolicyRevision)
	b = append(b, `,"prev":`...)
	m.prev = len(b) - n0 + 1
	b = enc.prev.append(b, e.Prev)
	if len(e.Reasons) > 0 {
		b = append(b, `,"reasons":`...)
		b = enc.reasons.append(b, e.Reasons, appendReasons)
	}
	b = appendOptString(b, `,"record_id":`, e.RecordID)
	b = enc.recordKind.appendOpt(b, `,"record_kind":`, e.RecordKind)
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
		b = enc.redactions.append(b, e.Redactions, appendRedactions)
	}
	b = enc.requestDigest.appendOpt(b, `,"request_digest":`, e.RequestDigest)
	b = append(b, `,"request_id":`...)
	b = enc.requestID.append(b, e.RequestID)
	b = enc.route.appendOpt(b, `,"route":`, e.Route)
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
		b = enc.shadowRev.appendOpt(b, `,"revision":`, s.Revision)
		b = append(b, '}')
	}
	b = enc.signingKID.appendOpt(b, `,"signing_kid":`, e.SigningKID)
	if e.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(e.Status), 10)
	}
	b = append(b, `,"time":"`...)
	var tok bool
	if b, tok = enc.appendTime(b, e.Time); !tok {
		// What the memos point at past n0 is about to be overwritten.
		*enc = eventEncoder{}
		return dst[:n0], eventMarks{}, false
	}
	b = append(b, '"')
	if len(e.Translations) > 0 {
		b = append(b, `,"translations":`...)
		b = enc.translations.append(b, e.Translations, appendTranslations)
	}
	return append(b, '}'), m, true
}

// appendTime is the package's appendTime. A UTC time, as every event a
// log appends has (normTime), is written as time.RFC3339Nano writes it,
// with the date and time of day copied from the previous event's when in
// the same second.
func (enc *eventEncoder) appendTime(b []byte, t time.Time) ([]byte, bool) {
	if t.Location() != time.UTC {
		return appendTime(b, t)
	}
	sec := t.Unix()
	if !enc.secondSet || sec != enc.second {
		start := len(b)
		b, ok := appendTime(b, t)
		if ok {
			enc.second, enc.secondStart, enc.secondSet = sec, start, true
		}
		return b, ok
	}
	b = append(b, b[enc.secondStart:enc.secondStart+len("2006-01-02T15:04:05")]...)
	if ns := t.Nanosecond(); ns != 0 {
		// RFC3339Nano: nine digits, trailing zeros dropped.
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i > 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z'), true
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

// appendRedactions is the redactions array in the event's string form.
func appendRedactions(b []byte, rs []verdict.Redaction) []byte {
	return verdict.AppendRedactions(b, rs, appendString)
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

// drafts are the events of one Append as their appender encoded them,
// before they have a place in the chain: their canonical JSON, back to
// back in one buffer, each with seq 0 and a zero prev, and where those and
// the hash go. Encoding in the appenders' goroutines, in parallel, leaves
// the single writer only the splice and the SHA-256 of each event.
type drafts struct {
	// buf holds the JSON; the writer returns it to bufs once sealed.
	buf *[]byte
	at  []draft
	// events are the events as encoded (time normalised), kept only when
	// the chain hands sealed events on: to a store that is written
	// entries, or to a forwarder.
	events []Event
}

// draft is one event's JSON in drafts.buf: buf[start:end], with marks
// counted from start.
type draft struct {
	start, end int
	marks      eventMarks
}

// newDrafts checks and encodes events as Append received them; keep keeps
// a copy of each as encoded (drafts.events).
func newDrafts(events []Event, keep bool) (*drafts, error) {
	size := 0
	for i := range events {
		size += eventSizeHint(&events[i])
	}
	ds := &drafts{buf: bufs.get(size), at: make([]draft, len(events))}
	if keep {
		ds.events = make([]Event, len(events))
	}
	var enc eventEncoder
	b := *ds.buf
	for i := range events {
		e := events[i]
		e.Seq, e.Prev, e.Hash = 0, ZeroHash, ""
		e.Time = normTime(e.Time)
		if err := e.check(); err != nil {
			bufs.put(ds.buf)
			return nil, err
		}
		start := len(b)
		var m eventMarks
		var ok bool
		if b, m, ok = enc.appendEvent(b, &e); !ok {
			// check admits only what the encoder writes; this is a bug.
			bufs.put(ds.buf)
			return nil, fmt.Errorf("%w: the encoder declined it", ErrInvalidEvent)
		}
		ds.at[i] = draft{start: start, end: len(b), marks: m}
		if keep {
			ds.events[i] = e
		}
	}
	*ds.buf = b
	return ds, nil
}

// json is event i's draft.
func (ds *drafts) json(i int) ([]byte, eventMarks) {
	d := ds.at[i]
	return (*ds.buf)[d.start:d.end], d.marks
}

// linesSize bounds the length of the drafts' lines once sealed, each
// followed by a newline (when prev is a hash, as this log writes them).
func (ds *drafts) linesSize() int {
	return len(*ds.buf) + len(ds.at)*(len(`,"hash":""`)+64+20+1)
}

// release gives the drafts' buffer back, once sealed into lines.
func (ds *drafts) release() {
	if ds.buf != nil {
		bufs.put(ds.buf)
		ds.buf = nil
	}
}

// bufPool recycles the buffers of drafts and of a group's lines, so that
// the JSON of each event, written twice (drafted, then sealed), costs no
// allocation and no garbage to collect: at a pull's rate of events, that
// garbage cost the process more than encoding them.
type bufPool struct{ p sync.Pool }

// maxPooled is the largest buffer kept for reuse: a full group of events.
const maxPooled = 4 << 20

var bufs bufPool

// get returns an empty buffer of capacity n or more.
func (bp *bufPool) get(n int) *[]byte {
	if b, _ := bp.p.Get().(*[]byte); b != nil {
		if cap(*b) >= n {
			*b = (*b)[:0]
			return b
		}
		bp.p.Put(b)
	}
	b := make([]byte, 0, n)
	return &b
}

func (bp *bufPool) put(b *[]byte) {
	if cap(*b) <= maxPooled {
		bp.p.Put(b)
	}
}

// sealer seals drafts into the chain; one per writer, for its digest.
type sealer struct {
	h hash.Hash
}

func newSealer() *sealer { return &sealer{h: sha256.New()} }

// seal places the draft j (marks m) at seq after the event whose hash is
// prev, written as in a JSON string (prevValue): it appends the event's
// line to dst and returns the line's hash, in hex. The line is exactly
// what seal(e, seq, prev) gives for the drafted event e
// (TestDraftSealMatches).
func (s *sealer) seal(dst, j []byte, m eventMarks, seq int64, prev []byte) ([]byte, [2 * sha256.Size]byte, error) {
	var hx [2 * sha256.Size]byte
	if seq > MaxInt || seq < -MaxInt {
		return dst, hx, fmt.Errorf("%w: seq %d is outside ±2^53", ErrInvalidEvent, seq)
	}
	var seqBuf [20]byte
	sq := strconv.AppendInt(seqBuf[:0], seq, 10)
	// j holds a 64-byte zero prev at m.prev and a 1-byte "0" seq at m.seq.
	// A hash.Hash never returns an error from Write.
	s.h.Reset()
	s.h.Write(j[:m.prev])
	s.h.Write(prev)
	s.h.Write(j[m.prev+64 : m.seq])
	s.h.Write(sq)
	s.h.Write(j[m.seq+1:])
	var sum [sha256.Size]byte
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
	if n := len(dst) - start; n > MaxLineBytes {
		return dst[:start], hx, fmt.Errorf("audit: event of %d bytes exceeds %d", n, MaxLineBytes)
	}
	return dst, hx, nil
}

// prevValue appends prev as it stands between the quotes of the "prev"
// member: as it is when it is a hash this log writes (64 lower-case hex
// digits), escaped otherwise (a head this log did not write; the
// verifier judges it).
func prevValue(dst []byte, prev string) []byte {
	if isHex64(prev) {
		return append(dst, prev...)
	}
	n := len(dst)
	dst = appendString(dst, prev)
	// Drop the quotes appendString put around it.
	copy(dst[n:], dst[n+1:len(dst)-1])
	return dst[:len(dst)-2]
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
