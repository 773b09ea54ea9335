package audit_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// testdata/log-v1 is a log written by the two-pass encoder, in 7-event
// appends to 8 KiB segments, with checkpoints after the 1st, 4th and 7th
// append and on close, signed by the key in testdata/log-v1-jwks.json.

func logV1Keys(t *testing.T) jwk.Set {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "log-v1-jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := jwk.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestLogV1Verifies: a log written before the one-pass encoder verifies,
// signatures included.
func TestLogV1Verifies(t *testing.T) {
	st, err := audit.OpenFileStore(filepath.Join("testdata", "log-v1"), audit.FileOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rep, err := audit.VerifyStore(context.Background(), st, audit.VerifyOptions{Keys: logV1Keys(t)})
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(fixtureEvents())); rep.Events != want || rep.Checkpoints != 4 || !rep.Signed {
		t.Fatalf("report %+v, want %d events and 4 signed checkpoints", rep, want)
	}
}

// TestLogV1WrittenAgain: the same events appended the same way today give
// the same segment files byte for byte, so the canonical form, the hashes
// and the on-disk format are unchanged.
func TestLogV1WrittenAgain(t *testing.T) {
	dir := t.TempDir()
	st, err := audit.OpenFileStore(dir, audit.FileOptions{SegmentBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.Open(context.Background(), audit.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	evs := fixtureEvents()
	for i := 0; i < len(evs); i += 7 {
		if err := c.Append(context.Background(), evs[i:min(i+7, len(evs))]...); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	old, err := filepath.Glob(filepath.Join("testdata", "log-v1", "*.log"))
	if err != nil || len(old) < 2 {
		t.Fatalf("fixture segments %v %v", old, err)
	}
	for _, p := range old {
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, filepath.Base(p)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s differs from the log written before", filepath.Base(p))
		}
	}
}

// TestLogV1Continues: a log written before opens for writing, takes new
// events and checkpoints, and verifies as one chain.
func TestLogV1Continues(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "log-v1"))); err != nil {
		t.Fatal(err)
	}
	st, err := audit.OpenFileStore(dir, audit.FileOptions{SegmentBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, 32)
	copy(seed, "ura audit log-v1 fixture seed...")
	c, err := audit.Open(context.Background(), audit.Options{Store: st, Signer: audittest.NewSignerFromSeed(t, "ura-audit-fixture/1", seed),
		CheckpointEvery: 1 << 40, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Append(context.Background(), fixtureEvents()...); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := audit.OpenFileStore(dir, audit.FileOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	rep, err := audit.VerifyStore(context.Background(), ro, audit.VerifyOptions{Keys: logV1Keys(t)})
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(2 * len(fixtureEvents())); rep.Events != want || rep.Checkpoints != 5 {
		t.Fatalf("report %+v, want %d events and 5 checkpoints", rep, want)
	}
}

// fixtureEvents are the events of testdata/log-v1, written by the two-pass
// encoder (encoding/json, then jcs) before the one-pass encoder replaced it.
// They exercise every member and the strings and numbers a canonicaliser
// can get wrong.
func fixtureEvents() []audit.Event {
	t0 := time.Date(2026, 6, 2, 8, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	strs := []string{"", "deny", "ë€😀", "\u2028\u2029", "<&>", "a\"b\\c", "\x00\x01\x1f\x7f", "\b\f\n\r\t",
		string([]byte{0xff, 0xfe, 'x'}), "\xed\xa0\x80", "\ufffd", `,"member":"forged`, "日本語", "/", "AL\\/GOV"}
	evs := audittest.Events(40, t0)
	for i, s := range strs {
		e := audit.Event{
			Time:           t0.Add(time.Duration(i) * time.Millisecond),
			RequestID:      "req-" + s,
			Member:         "AL/GOV/" + s,
			Action:         s,
			Route:          s,
			RecordKind:     s,
			RecordID:       s,
			RecordVersion:  []int{0, 1, -1, audit.MaxInt, -audit.MaxInt, 42}[i%6],
			Decision:       s,
			Reasons:        []verdict.Reason{{Code: s, Message: s + " message"}, {Code: "", Message: ""}},
			Redactions:     []verdict.Redaction{{Pointer: "/licence/" + s}, {Pointer: "/x", Rule: s}},
			Translations:   []verdict.Translation{{From: verdict.Marking{PolicyID: s, Classification: "NATO SECRET"}, To: verdict.Marking{PolicyID: "AL", Classification: s}, Rule: s}},
			PolicyRevision: s,
			DecisionID:     s,
			SigningKID:     s,
			RequestDigest:  s,
			Status:         []int{0, 200, 403, 503}[i%4],
			Records:        i,
			Collapsed:      i % 3,
		}
		if i%2 == 0 {
			e.Shadow = &audit.Shadow{Decision: s, Reasons: []verdict.Reason{{Code: s, Message: s}}, Revision: s}
		}
		if i%3 == 0 {
			e.Reasons, e.Redactions, e.Translations = nil, []verdict.Redaction{}, nil
		}
		evs = append(evs, e)
	}
	return evs
}
