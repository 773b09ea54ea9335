package audit

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/verdict"
)

// The one-pass encoder must write exactly what the two-pass reference
// (encoding/json, then the jcs library) writes: the hashes of every log
// depend on it. These tests compare the two over random events and under
// the fuzzer.

var encStrings = []string{"", "a", "deny", "AL/GOV/AIM", `"`, `\`, `\"`, "\x00", "\x01\x1f", "\x7f", "\b\f\n\r\t", "\v",
	"<&>", "\u2028\u2029", "ë", "€", "😀", "日本語", "\ufffd", "\xff", "\xfe\xff", "\xed\xa0\x80", "\xc3", "\xe2\x82",
	"\xf0\x9f\x98", `,"member":"x`, `","hash":"`, "/licence/end_user", "sha256:4f2a9c", "\u00a0", "\U0010ffff"}

var encInts = []int64{0, 1, -1, 42, 200, 403, 1 << 31, -(1 << 31), MaxInt, -MaxInt, MaxInt + 1, -MaxInt - 1,
	1 << 60, math.MaxInt64, math.MinInt64}

func randString(r *rand.Rand) string {
	var b []byte
	for range r.IntN(4) {
		b = append(b, encStrings[r.IntN(len(encStrings))]...)
	}
	return string(b)
}

func randInt(r *rand.Rand) int64 {
	if r.IntN(3) == 0 {
		return r.Int64N(1<<20) - 1<<19
	}
	return encInts[r.IntN(len(encInts))]
}

func randReasons(r *rand.Rand) []verdict.Reason {
	switch r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []verdict.Reason{}
	}
	out := make([]verdict.Reason, 1+r.IntN(3))
	for i := range out {
		out[i] = verdict.Reason{Code: randString(r), Message: randString(r)}
	}
	return out
}

func randTime(r *rand.Rand) time.Time {
	switch r.IntN(6) {
	case 0:
		return time.Time{}
	case 1:
		// Years JSON cannot carry, offsets it refuses.
		return time.Date([]int{-1, 0, 10000, 9999}[r.IntN(4)], 12, 31, 23, 59, 59, r.IntN(1e9), time.UTC)
	case 2:
		return time.Unix(r.Int64N(4e9), r.Int64N(1e9)).In(time.FixedZone("x", []int{3600, -5 * 3600, 19800, 45, -86400, 86400, 23*3600 + 59*60}[r.IntN(7)]))
	}
	return time.Unix(r.Int64N(4e9), r.Int64N(1e9)*[]int64{0, 1, 1000}[r.IntN(3)]).UTC()
}

func randEvent(r *rand.Rand) Event {
	e := Event{
		Seq: randInt(r), Prev: randString(r), Time: randTime(r), RequestID: randString(r), Member: randString(r),
		Action: randString(r), Route: randString(r), RecordKind: randString(r), RecordID: randString(r),
		RecordVersion: int(randInt(r)), Decision: randString(r), Reasons: randReasons(r),
		PolicyRevision: randString(r), DecisionID: randString(r), SigningKID: randString(r),
		RequestDigest: randString(r), Status: int(randInt(r)), Records: int(randInt(r)), Collapsed: int(randInt(r)),
	}
	if r.IntN(2) == 0 {
		e.Hash = randString(r)
	}
	if n := r.IntN(4); n > 0 {
		e.Redactions = make([]verdict.Redaction, n-1)
		for i := range e.Redactions {
			e.Redactions[i] = verdict.Redaction{Pointer: randString(r)}
			if r.IntN(2) == 0 {
				e.Redactions[i].Rule = randString(r)
			}
		}
	}
	if n := r.IntN(4); n > 0 {
		e.Translations = make([]verdict.Translation, n-1)
		for i := range e.Translations {
			e.Translations[i] = verdict.Translation{Rule: randString(r),
				From: verdict.Marking{PolicyID: randString(r), Classification: randString(r)},
				To:   verdict.Marking{PolicyID: randString(r), Classification: randString(r)}}
		}
	}
	if r.IntN(3) == 0 {
		e.Shadow = &Shadow{Decision: randString(r), Reasons: randReasons(r), Revision: randString(r)}
	}
	return e
}

// checkEncoder compares the one-pass encoder with the reference for e.
func checkEncoder(t *testing.T, e Event) {
	t.Helper()
	want, wantErr := libraryCanonical(e)
	got, _, ok := appendEvent(nil, &e)
	if ok {
		if wantErr != nil {
			t.Fatalf("encoder wrote what the reference refuses (%v): %s", wantErr, got)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("encoder differs from the reference for %#v:\n got %s\nwant %s", e, got, want)
		}
	} else if tok := func() bool { _, ok := appendTime(nil, e.Time); return ok }(); safeInts(&e) && tok {
		t.Fatalf("encoder declined an event with safe integers and a valid time: %#v", e)
	}
	// canonicalJSON, which every reader and writer uses, agrees in all cases.
	c, err := canonicalJSON(e)
	if (err != nil) != (wantErr != nil) || !bytes.Equal(c, want) {
		t.Fatalf("canonicalJSON = %s, %v; reference %s, %v", c, err, want, wantErr)
	}
}

// checkDraft compares the appender's draft, sealed by the writer (with
// and without the entries a store or forwarder takes), with sealing
// through the reference.
func checkDraft(t *testing.T, e Event, seq int64, prev string) {
	t.Helper()
	ds, err := newDrafts([]Event{e}, true)
	if err != nil {
		if e.check() == nil && func() error { n := e; n.Time = normTime(n.Time); return n.check() }() == nil {
			t.Fatalf("draft refused a valid event: %v", err)
		}
		return
	}
	ref := ds.events[0]
	ref.Seq, ref.Prev, ref.Hash = seq, prev, ""
	for _, keep := range []bool{false, true} {
		errs := make([]error, 1)
		got := newSealer().sealBatch([]*appendReq{{drafts: ds}}, errs, Head{Count: seq - 1, Hash: prev}, keep)
		if errs[0] != nil {
			if ref.check() == nil {
				t.Fatalf("seal refused seq %d: %v", seq, errs[0])
			}
			if got.n != 0 || len(got.lines) != 0 || got.head != (Head{Count: seq - 1, Hash: prev}) {
				t.Fatalf("a refused request left %d events, %q, head %v", got.n, got.lines, got.head)
			}
			return
		}
		want := referenceEntry(t, ref)
		if got.n != 1 || got.head != (Head{Count: seq, Hash: want.Event.Hash}) || !bytes.Equal(got.lines, append(want.Line, '\n')) {
			t.Fatalf("sealed draft differs from the reference:\n got %s (head %v)\nwant %s", got.lines, got.head, want.Line)
		}
		if keep && (len(got.entries) != 1 || !reflect.DeepEqual(got.entries[0], want)) {
			t.Fatalf("sealed entry differs from the reference:\n got %#v\nwant %#v", got.entries, want)
		}
	}
}

// referenceEntry is e (with seq and prev set) sealed through the library.
func referenceEntry(t *testing.T, e Event) Entry {
	t.Helper()
	e.Hash = ""
	c, err := libraryCanonical(e)
	if err != nil {
		t.Fatal(err)
	}
	e.Hash = HashBytes(c)
	line, err := libraryCanonical(e)
	if err != nil {
		t.Fatal(err)
	}
	return Entry{Event: e, Line: line}
}

// relatedEvents are n events such as one request appends: each shares
// some of its members with the one before, sometimes the very same slice,
// sometimes an equal one, and its time falls in the same second or the next.
func relatedEvents(r *rand.Rand, n int) []Event {
	out := make([]Event, n)
	out[0] = randEvent(r)
	for i := 1; i < n; i++ {
		e, o := out[i-1], randEvent(r)
		keep := func() bool { return r.IntN(3) > 0 }
		if !keep() {
			e.Action = o.Action
		}
		if !keep() {
			e.Decision = o.Decision
		}
		if !keep() {
			e.Member = o.Member
		}
		if !keep() {
			e.PolicyRevision = o.PolicyRevision
		}
		if !keep() {
			e.RecordKind = o.RecordKind
		}
		if !keep() {
			e.RequestDigest = o.RequestDigest
		}
		if !keep() {
			e.RequestID = o.RequestID
		}
		if !keep() {
			e.Route = o.Route
		}
		if !keep() {
			e.SigningKID = o.SigningKID
		}
		switch r.IntN(3) {
		case 0:
			e.Reasons, e.Redactions, e.Translations = o.Reasons, o.Redactions, o.Translations
		case 1:
			e.Reasons, e.Redactions, e.Translations = slices.Clone(e.Reasons), slices.Clone(e.Redactions), slices.Clone(e.Translations)
		}
		if e.Shadow != nil && r.IntN(2) == 0 {
			e.Shadow = &Shadow{Decision: e.Shadow.Decision, Revision: e.Shadow.Revision, Reasons: o.Reasons}
		} else if r.IntN(2) == 0 {
			e.Shadow = o.Shadow
		}
		e.RecordID, e.RecordVersion, e.DecisionID, e.Status = o.RecordID, o.RecordVersion, o.DecisionID, o.Status
		switch r.IntN(5) {
		case 0:
			e.Time = o.Time
		case 1:
			e.Time = e.Time.Add(time.Second)
		default:
			e.Time = e.Time.Add(time.Duration(r.IntN(3)) * []time.Duration{time.Nanosecond, time.Microsecond, time.Millisecond}[r.IntN(3)])
		}
		out[i] = e
	}
	return out
}

// checkEncoderRun encodes events one after another with one encoder into
// one buffer, as an Append's drafts are, and compares each with the
// reference, as written and as drafted.
func checkEncoderRun(t *testing.T, events []Event) {
	t.Helper()
	var enc eventEncoder
	b := []byte("earlier bytes")
	for i := range events {
		e := events[i]
		want, wantErr := libraryCanonical(e)
		n := len(b)
		var ok bool
		b, _, ok = enc.appendEvent(b, &e)
		switch {
		case ok && wantErr != nil:
			t.Fatalf("event %d: encoder wrote what the reference refuses (%v): %s", i, wantErr, b[n:])
		case ok && !bytes.Equal(b[n:], want):
			t.Fatalf("event %d differs from the reference for %#v:\n got %s\nwant %s", i, e, b[n:], want)
		case !ok && len(b) != n:
			t.Fatalf("event %d: declined, but wrote %q", i, b[n:])
		}
	}
	ds, err := newDrafts(events, true)
	if err != nil {
		return // an event the log refuses; checkDraft covers those
	}
	for i := range events {
		want, err := libraryCanonical(ds.events[i])
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := ds.json(i); !bytes.Equal(got, want) {
			t.Fatalf("draft %d differs from the reference:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestEventEncoderMatchesLibrary(t *testing.T) {
	r := rand.New(rand.NewPCG(8785, 1))
	for range 20000 {
		checkEncoder(t, randEvent(r))
	}
	checkEncoder(t, Event{})
	checkEncoder(t, Event{Shadow: &Shadow{}, Reasons: []verdict.Reason{{}}, Redactions: []verdict.Redaction{{}}, Translations: []verdict.Translation{{}}})
}

// TestEventEncoderRunMatchesLibrary: what an encoder copies from the
// events before, rather than escaping again, is what the reference writes.
func TestEventEncoderRunMatchesLibrary(t *testing.T) {
	r := rand.New(rand.NewPCG(8785, 3))
	for range 2000 {
		checkEncoderRun(t, relatedEvents(r, 1+r.IntN(12)))
	}
	// A pull's chunk: the request's members shared, one second crossed.
	t0 := time.Date(2026, 6, 1, 12, 0, 59, 999_998_000, time.UTC)
	evs := make([]Event, 256)
	for i := range evs {
		evs[i] = Event{Time: t0.Add(time.Duration(i) * time.Microsecond), RequestID: "req-1", Member: "AL/GOV/AIM", Action: "pull",
			Route: "/v1/records", RecordKind: "licence", RecordID: "AIM-LIC-" + string(rune('A'+i%26)), Decision: []string{"allow", "withhold"}[i%2],
			RequestDigest: "sha256:" + ZeroHash, PolicyRevision: "sha256:4f2a9c", SigningKID: "ura-signing/1"}
		if i%2 == 1 {
			evs[i].Reasons = []verdict.Reason{{Code: "clearance", Message: "classification above the caller's clearance"}}
		}
	}
	checkEncoderRun(t, evs)
}

// TestSealBatch seals several requests in one group, one of them with an
// event too large to store: it alone fails, and the others' lines chain
// on as the reference seals them, with and without entries.
func TestSealBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(8785, 4))
	var reqs []*appendReq
	var events [][]Event
	for i := range 4 {
		evs := relatedEvents(r, 1+r.IntN(5))
		for j := range evs {
			evs[j].Time = normTime(time.Unix(1780387200+int64(i), int64(j)*1000))
			evs[j].Seq, evs[j].RecordVersion, evs[j].Status, evs[j].Records, evs[j].Collapsed = 0, j, 200, 0, 0
		}
		if i == 2 {
			evs[len(evs)-1].RecordID = strings.Repeat("x", MaxLineBytes)
		}
		ds, err := newDrafts(evs, true)
		if err != nil {
			t.Fatal(err)
		}
		reqs, events = append(reqs, &appendReq{drafts: ds}), append(events, ds.events)
	}
	for _, keep := range []bool{false, true} {
		h0 := Head{Count: 41, Hash: HashBytes([]byte("h0"))}
		errs := make([]error, len(reqs))
		got := newSealer().sealBatch(reqs, errs, h0, keep)
		var want []byte
		var entries []Entry
		head := h0
		for i, evs := range events {
			if (errs[i] != nil) != (i == 2) {
				t.Fatalf("request %d: error %v", i, errs[i])
			}
			if i == 2 {
				continue
			}
			if reqs[i].first != head.Count+1 {
				t.Fatalf("request %d: first %d, want %d", i, reqs[i].first, head.Count+1)
			}
			for _, e := range evs {
				e.Seq, e.Prev = head.Count+1, head.Hash
				ent := referenceEntry(t, e)
				want = append(append(want, ent.Line...), '\n')
				entries = append(entries, ent)
				head = Head{Count: e.Seq, Hash: ent.Event.Hash}
			}
		}
		if !bytes.Equal(got.lines, want) || got.head != head || got.n != len(entries) {
			t.Fatalf("keep=%v: sealed\n%s(head %v, %d events)\nwant\n%s(head %v, %d)", keep, got.lines, got.head, got.n, want, head, len(entries))
		}
		if keep && !reflect.DeepEqual(got.entries, entries) {
			t.Fatalf("entries differ from the reference")
		}
		if !keep && got.entries != nil {
			t.Fatalf("entries built without keep")
		}
	}
}

func TestDraftSealMatches(t *testing.T) {
	r := rand.New(rand.NewPCG(8785, 2))
	prevs := []string{ZeroHash, HashBytes([]byte("x")), "", "not a hash", ZeroHash[:63] + "G"}
	for range 5000 {
		seq := []int64{1, 9, 10, 123456789, MaxInt, MaxInt + 1}[r.IntN(6)]
		checkDraft(t, randEvent(r), seq, prevs[r.IntN(len(prevs))])
	}
}

// FuzzEventEncoder drives both comparisons with fuzzed strings, integers
// and times.
func FuzzEventEncoder(f *testing.F) {
	f.Add("deny", "AL/GOV/AIM", "\u2028<&>\x00\xff", int64(3), int64(1780387200), int64(123456789), 0, uint16(0xffff))
	f.Add("", "", "", int64(MaxInt+1), int64(-62167219200), int64(0), 45, uint16(0))
	f.Fuzz(func(t *testing.T, a, b, c string, n, sec, nsec int64, off int, flags uint16) {
		bit := func(i int) bool { return flags&(1<<i) != 0 }
		e := Event{Seq: n, Prev: a, Time: time.Unix(sec, nsec), RequestID: b, Member: c, Action: a, Decision: b,
			RecordVersion: int(n), Status: int(n >> 3), Records: int(n % 1000), Collapsed: int(-n)}
		if off%86400 != 0 || bit(0) {
			e.Time = e.Time.In(time.FixedZone("z", off%(26*3600)))
		} else {
			e.Time = e.Time.UTC()
		}
		if bit(1) {
			e.Hash, e.Route, e.RecordKind, e.RecordID = c, a, b, c
		}
		if bit(2) {
			e.Reasons = []verdict.Reason{{Code: a, Message: b}, {Code: c}}
		}
		if bit(3) {
			e.Redactions = []verdict.Redaction{{Pointer: a}, {Pointer: b, Rule: c}}
		}
		if bit(4) {
			e.Translations = []verdict.Translation{{From: verdict.Marking{PolicyID: a, Classification: b}, To: verdict.Marking{PolicyID: c}, Rule: a}}
		}
		if bit(5) {
			e.Shadow = &Shadow{Decision: a, Revision: c}
			if bit(6) {
				e.Shadow.Reasons = []verdict.Reason{{Code: b, Message: c}}
			}
		}
		if bit(7) {
			e.PolicyRevision, e.DecisionID, e.SigningKID, e.RequestDigest = a, b, c, a
		}
		checkEncoder(t, e)
		// The same and a related event after it, in one buffer: the second
		// copies what it shares with the first.
		e2 := e
		e2.Time = e.Time.Add(time.Duration(n % 2e9))
		e2.RequestID, e2.Decision = c, a
		checkEncoderRun(t, []Event{e, e, e2, e})
		prev := ZeroHash
		if bit(8) {
			prev = a
		}
		checkDraft(t, e, max(1, n), prev)
	})
}
