package audit

import (
	"bytes"
	"math"
	"math/rand/v2"
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

// checkDraft compares the appender's draft, sealed by the writer, with
// sealing through the reference.
func checkDraft(t *testing.T, e Event, seq int64, prev string) {
	t.Helper()
	d, err := newDraft(e)
	if err != nil {
		if e.check() == nil && func() error { n := e; n.Time = normTime(n.Time); return n.check() }() == nil {
			t.Fatalf("draft refused a valid event: %v", err)
		}
		return
	}
	_, got, err := newSealer().seal([]byte("earlier lines\n"), &d, seq, prev)
	ref := d.ev
	ref.Seq, ref.Prev, ref.Hash = seq, prev, ""
	if err != nil {
		if ref.check() == nil {
			t.Fatalf("seal refused seq %d: %v", seq, err)
		}
		return
	}
	c, err := libraryCanonical(ref)
	if err != nil {
		t.Fatal(err)
	}
	ref.Hash = HashBytes(c)
	line, err := libraryCanonical(ref)
	if err != nil {
		t.Fatal(err)
	}
	if got.Event.Hash != ref.Hash || !bytes.Equal(got.Line, line) {
		t.Fatalf("sealed draft differs from the reference:\n got %s\nwant %s", got.Line, line)
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
		prev := ZeroHash
		if bit(8) {
			prev = a
		}
		checkDraft(t, e, max(1, n), prev)
	})
}
