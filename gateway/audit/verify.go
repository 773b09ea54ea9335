package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// VerifyOptions configure a verification.
type VerifyOptions struct {
	// Keys verify checkpoint signatures. Without keys the checkpoints are
	// still matched against the chain, but an attacker who rewrote the log
	// could have rewritten them too: the report says so.
	Keys jwk.Set
	// Checkpoints are trusted checkpoints obtained elsewhere (the published
	// /v1/audit/checkpoints, a SIEM), checked in addition to the log's own.
	Checkpoints []SignedCheckpoint
	// Progress, if set, is called every few thousand events.
	Progress func(events int64)
}

// Report is the outcome of a verification that reached the end.
type Report struct {
	Events int64 `json:"events"`
	Head   Head  `json:"head"`
	// Checkpoints is how many distinct checkpoints matched the chain.
	Checkpoints int `json:"checkpoints"`
	// Latest is the newest checkpoint that matched, if any.
	Latest *Checkpoint `json:"latest_checkpoint,omitempty"`
	// Signed reports whether checkpoint signatures were checked.
	Signed bool `json:"signatures_checked"`
}

// VerifyError names the first bad position in a log.
type VerifyError struct {
	// Seq is the position (1-based) where the log first differs from a valid
	// chain; for a truncation it is the first missing seq.
	Seq    int64
	Reason string
}

func (e *VerifyError) Error() string { return fmt.Sprintf("seq %d: %s", e.Seq, e.Reason) }

// Verifier checks a chain streamed through it one line at a time.
type Verifier struct {
	opts VerifyOptions
	next int64  // the seq expected next
	prev string // hash of the last good event
	// pending are checkpoints not yet reached, by count.
	pending map[int64]SignedCheckpoint
	matched map[int64]bool
	latest  *Checkpoint
	maxCP   *SignedCheckpoint
	err     error
}

// NewVerifier starts a verification; opts.Checkpoints are checked first.
func NewVerifier(opts VerifyOptions) (*Verifier, error) {
	v := &Verifier{opts: opts, next: 1, prev: ZeroHash, pending: map[int64]SignedCheckpoint{}, matched: map[int64]bool{}}
	for _, cp := range opts.Checkpoints {
		if err := v.Checkpoint(cp); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (v *Verifier) fail(seq int64, format string, args ...any) error {
	v.err = &VerifyError{Seq: seq, Reason: fmt.Sprintf(format, args...)}
	return v.err
}

// Checkpoint registers a checkpoint. One for a count already passed can only
// be checked if it is the event just verified; one for a later count is
// checked when the chain gets there.
func (v *Verifier) Checkpoint(cp SignedCheckpoint) error {
	if v.err != nil {
		return v.err
	}
	if v.opts.Keys != nil {
		signed, err := VerifyCheckpoint(cp, v.opts.Keys)
		if err != nil {
			return v.fail(cp.Count, "%v", err)
		}
		cp.Checkpoint = signed
	}
	if cp.Count < 1 {
		return v.fail(1, "checkpoint with count %d", cp.Count)
	}
	if v.maxCP == nil || cp.Count > v.maxCP.Count {
		c := cp
		v.maxCP = &c
	}
	switch last := v.next - 1; {
	case cp.Count > last:
		if other, ok := v.pending[cp.Count]; ok && other.HeadHash != cp.HeadHash {
			return v.fail(cp.Count, "two checkpoints for count %d name different head hashes", cp.Count)
		}
		v.pending[cp.Count] = cp
		return nil
	case cp.Count == last:
		return v.match(cp, v.prev)
	default:
		if v.matched[cp.Count] {
			return nil
		}
		return v.fail(cp.Count, "checkpoint for count %d appears after seq %d; the verifier cannot check it here", cp.Count, last)
	}
}

func (v *Verifier) match(cp SignedCheckpoint, hash string) error {
	if cp.HeadHash != hash {
		return v.fail(cp.Count, "chain does not match the checkpoint signed at %s: the log was altered at or before seq %d%s",
			cp.Time.Format(time.RFC3339), cp.Count, v.sinceLatest())
	}
	if !v.matched[cp.Count] {
		v.matched[cp.Count] = true
		c := cp.Checkpoint
		if v.latest == nil || c.Count >= v.latest.Count {
			v.latest = &c
		}
	}
	return nil
}

func (v *Verifier) sinceLatest() string {
	if v.latest == nil {
		return ""
	}
	return fmt.Sprintf(" and after seq %d (the last matching checkpoint)", v.latest.Count)
}

// Line verifies the next event line.
func (v *Verifier) Line(line []byte) error {
	if v.err != nil {
		return v.err
	}
	seq := v.next
	e, err := ParseLine(line)
	switch {
	case errors.Is(err, errHashMismatch):
		if e.Event.Seq != seq {
			return v.seqError(seq, e.Event.Seq)
		}
		return v.fail(seq, "hash mismatch (the event was modified)")
	case err != nil:
		return v.fail(seq, "%v", err)
	}
	if e.Event.Seq != seq {
		return v.seqError(seq, e.Event.Seq)
	}
	if e.Event.Prev != v.prev {
		return v.fail(seq, "prev does not match the hash of seq %d (an event before it was removed, inserted or changed)", seq-1)
	}
	v.prev = e.Event.Hash
	v.next++
	if cp, ok := v.pending[seq]; ok {
		delete(v.pending, seq)
		if err := v.match(cp, v.prev); err != nil {
			return err
		}
	}
	if v.opts.Progress != nil && seq%4096 == 0 {
		v.opts.Progress(seq)
	}
	return nil
}

func (v *Verifier) seqError(want, got int64) error {
	switch {
	case got > want:
		return v.fail(want, "missing: found seq %d in its place (events deleted or reordered)", got)
	default:
		return v.fail(want, "found seq %d again or out of order (an event was inserted or reordered)", got)
	}
}

// Finish ends the verification: the log must reach every checkpoint.
func (v *Verifier) Finish() (Report, error) {
	if v.err != nil {
		return Report{}, v.err
	}
	count := v.next - 1
	if v.maxCP != nil && v.maxCP.Count > count {
		return Report{}, v.fail(count+1, "log ends at seq %d but the checkpoint signed at %s covers %d events (the log was truncated)",
			count, v.maxCP.Time.Format(time.RFC3339), v.maxCP.Count)
	}
	return Report{
		Events:      count,
		Head:        Head{Count: count, Hash: v.prev},
		Checkpoints: len(v.matched),
		Latest:      v.latest,
		Signed:      v.opts.Keys != nil,
	}, nil
}

// VerifyStore verifies everything a store holds, with its own checkpoints
// and opts.Checkpoints.
func VerifyStore(ctx context.Context, st Store, opts VerifyOptions) (Report, error) {
	cps, err := st.Checkpoints(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("read checkpoints: %w", err)
	}
	opts.Checkpoints = append(append([]SignedCheckpoint(nil), opts.Checkpoints...), cps...)
	v, err := NewVerifier(opts)
	if err != nil {
		return Report{}, err
	}
	err = st.Scan(ctx, 1, v.Line)
	var ve *VerifyError
	if errors.As(err, &ve) {
		return Report{}, err
	}
	if err != nil {
		return Report{}, fmt.Errorf("read log: %w", err)
	}
	return v.Finish()
}

// exportCheckpointPrefix starts a checkpoint line in an export; event lines
// start with {"action": since JCS sorts members.
var exportCheckpointPrefix = []byte(`{"checkpoint":`)

// VerifyExport verifies an NDJSON export (events, with checkpoints after the
// event they cover) read from r.
func VerifyExport(r io.Reader, opts VerifyOptions) (Report, error) {
	v, err := NewVerifier(opts)
	if err != nil {
		return Report{}, err
	}
	err = ReadExport(r, v.Line, v.Checkpoint)
	var ve *VerifyError
	if errors.As(err, &ve) {
		return Report{}, err
	}
	if err != nil {
		return Report{}, v.fail(v.next, "%v", err)
	}
	return v.Finish()
}

// ReadExport splits an export into event lines and checkpoints.
func ReadExport(r io.Reader, event func([]byte) error, checkpoint func(SignedCheckpoint) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLineBytes+1)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if bytes.HasPrefix(line, exportCheckpointPrefix) {
			cp, err := parseExportCheckpoint(line)
			if err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			if err := checkpoint(cp); err != nil {
				return err
			}
			continue
		}
		if err := event(line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", n+1, err)
	}
	return nil
}

type exportCheckpoint struct {
	Checkpoint SignedCheckpoint `json:"checkpoint"`
}

func parseExportCheckpoint(line []byte) (SignedCheckpoint, error) {
	inner := bytes.TrimSuffix(bytes.TrimPrefix(line, exportCheckpointPrefix), []byte("}"))
	return parseCheckpoint(inner)
}

// ExportCheckpointLine is the export line for one checkpoint.
func ExportCheckpointLine(cp SignedCheckpoint) ([]byte, error) {
	return canonicalJSON(exportCheckpoint{Checkpoint: cp})
}

// Export writes every event from seq from on, with each checkpoint right
// after the event it covers. Memory stays flat: events are streamed.
func Export(ctx context.Context, st Store, w io.Writer, from int64) error {
	cps, err := st.Checkpoints(ctx)
	if err != nil {
		return fmt.Errorf("read checkpoints: %w", err)
	}
	sort.Slice(cps, func(i, j int) bool { return cps[i].Count < cps[j].Count })
	i := 0
	for i < len(cps) && cps[i].Count < from {
		i++
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	seq := from - 1
	if seq < 0 {
		seq = 0
	}
	err = st.Scan(ctx, from, func(line []byte) error {
		seq++
		if _, err := bw.Write(line); err != nil {
			return err
		}
		if err := bw.WriteByte('\n'); err != nil {
			return err
		}
		for i < len(cps) && cps[i].Count == seq {
			line, err := ExportCheckpointLine(cps[i])
			if err != nil {
				return err
			}
			if _, err := bw.Write(append(line, '\n')); err != nil {
				return err
			}
			i++
		}
		return nil
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}
