package audit

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// SummaryQuery selects the events summarized. From inclusive, To exclusive;
// Bucket is the width of the time series (default one hour); Top bounds the
// ranked lists (default 10).
type SummaryQuery struct {
	From   time.Time
	To     time.Time
	Bucket time.Duration
	Top    int
}

// MaxBuckets bounds the time series, so a tiny bucket over a long log
// cannot exhaust memory.
const MaxBuckets = 10000

// ErrTooManyBuckets is returned when a summary would need more than
// MaxBuckets buckets.
var ErrTooManyBuckets = errors.New("too many buckets")

// Summary is what a security officer looks at first: how many decisions of
// each kind, over time, and who was denied why.
type Summary struct {
	Events     int64            `json:"events"`
	First      *time.Time       `json:"first,omitempty"`
	Last       *time.Time       `json:"last,omitempty"`
	ByDecision map[string]int64 `json:"by_decision"`
	ByAction   map[string]int64 `json:"by_action"`
	// TopMembers ranks members by events; DenialsByMember and
	// DenialsByReason count denied and withheld decisions only.
	TopMembers      []Count  `json:"top_members"`
	DenialsByMember []Count  `json:"denials_by_member"`
	DenialsByReason []Count  `json:"denials_by_reason"`
	BucketSeconds   int64    `json:"bucket_seconds"`
	Buckets         []Bucket `json:"buckets"`
}

// Count is one entry of a ranked list.
type Count struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// Bucket counts decisions in [Start, Start+bucket).
type Bucket struct {
	Start      time.Time        `json:"start"`
	ByDecision map[string]int64 `json:"by_decision"`
}

// Summarizer accumulates a Summary one event at a time.
type Summarizer struct {
	q         SummaryQuery
	s         Summary
	members   map[string]int64
	dMembers  map[string]int64
	dReasons  map[string]int64
	buckets   map[int64]map[string]int64
	tooFine   bool
	first     time.Time
	last      time.Time
	anyEvents bool
}

// NewSummarizer starts a summary.
func NewSummarizer(q SummaryQuery) *Summarizer {
	if q.Bucket <= 0 {
		q.Bucket = time.Hour
	}
	if q.Bucket < time.Second {
		q.Bucket = time.Second
	}
	if q.Top <= 0 {
		q.Top = 10
	}
	return &Summarizer{
		q:        q,
		s:        Summary{ByDecision: map[string]int64{}, ByAction: map[string]int64{}},
		members:  map[string]int64{},
		dMembers: map[string]int64{},
		dReasons: map[string]int64{},
		buckets:  map[int64]map[string]int64{},
	}
}

// Add counts e if it falls in the query's time range.
func (z *Summarizer) Add(e *Event) {
	if !z.q.From.IsZero() && e.Time.Before(z.q.From) {
		return
	}
	if !z.q.To.IsZero() && !e.Time.Before(z.q.To) {
		return
	}
	z.s.Events++
	if !z.anyEvents || e.Time.Before(z.first) {
		z.first = e.Time
	}
	if !z.anyEvents || e.Time.After(z.last) {
		z.last = e.Time
	}
	z.anyEvents = true
	z.s.ByDecision[e.Decision]++
	z.s.ByAction[e.Action]++
	z.members[e.Member]++
	if Denied(e.Decision) {
		z.dMembers[e.Member]++
		for _, r := range e.Reasons {
			z.dReasons[r.Code]++
		}
	}
	k := e.Time.UnixNano() / int64(z.q.Bucket)
	if e.Time.UnixNano() < 0 && e.Time.UnixNano()%int64(z.q.Bucket) != 0 {
		k--
	}
	b, ok := z.buckets[k]
	if !ok {
		if len(z.buckets) >= MaxBuckets {
			z.tooFine = true
			return
		}
		b = map[string]int64{}
		z.buckets[k] = b
	}
	b[e.Decision]++
}

// Result returns the summary.
func (z *Summarizer) Result() (*Summary, error) {
	if z.tooFine {
		return nil, fmt.Errorf("%w: more than %d buckets of %s; choose a wider bucket or a shorter range", ErrTooManyBuckets, MaxBuckets, z.q.Bucket)
	}
	s := z.s
	if z.anyEvents {
		f, l := z.first, z.last
		s.First, s.Last = &f, &l
	}
	s.TopMembers = top(z.members, z.q.Top)
	s.DenialsByMember = top(z.dMembers, z.q.Top)
	s.DenialsByReason = top(z.dReasons, z.q.Top)
	s.BucketSeconds = int64(z.q.Bucket / time.Second)
	keys := make([]int64, 0, len(z.buckets))
	for k := range z.buckets {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	s.Buckets = make([]Bucket, len(keys))
	for i, k := range keys {
		s.Buckets[i] = Bucket{Start: time.Unix(0, k*int64(z.q.Bucket)).UTC(), ByDecision: z.buckets[k]}
	}
	return &s, nil
}

func top(m map[string]int64, n int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{Key: k, Count: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// Summarizing is an optional Store capability: a store that can aggregate
// itself (PostgreSQL) instead of being scanned.
type Summarizing interface {
	Summary(ctx context.Context, q SummaryQuery) (*Summary, error)
}

// Summarize summarizes a store, scanning it unless it can aggregate itself.
func Summarize(ctx context.Context, st Store, q SummaryQuery) (*Summary, error) {
	if s, ok := st.(Summarizing); ok {
		return s.Summary(ctx, q)
	}
	z := NewSummarizer(q)
	err := st.Scan(ctx, 1, func(line []byte) error {
		e, err := decodeLine(line)
		if err != nil {
			return err
		}
		z.Add(&e)
		if z.tooFine {
			return ErrTooManyBuckets
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrTooManyBuckets) {
		return nil, err
	}
	return z.Result()
}
