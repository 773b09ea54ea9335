package exchange

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/records"
)

// fakeRegister is a report.Source of n records of each kind, counting
// what it hands out.
// fakeRegister holds n[kind] records of each kind and counts those it hands
// out in read.
type fakeRegister struct {
	n    map[string]int
	read *int
}

func (f fakeRegister) Query(_ context.Context, q store.Query, fn func(*records.Record, string) error) error {
	for i := range f.n[q.Kind] {
		*f.read++
		if err := fn(&records.Record{Kind: q.Kind, ID: fmt.Sprintf("%s-%d", q.Kind, i)}, ""); err != nil {
			return err
		}
	}
	return nil
}

// TestReportPaidSource: a report pays a scan of Chunk before each Chunk records
// it counts, across kinds, and a refused charge stops the scan before the
// record that asked for it is counted.
func TestReportPaidSource(t *testing.T) {
	errRefused := errors.New("refused")
	cases := []struct {
		name     string
		licences int
		events   int
		budget   int // the most the caller can pay in total
		want     []int
		counted  int
		err      error
	}{
		{"empty register: the first scan only", 0, 0, 1 << 20, nil, 0, nil},
		{"one scan across both kinds", 100, Chunk - 100, 1 << 20, nil, Chunk, nil},
		{"the next scan is paid before its first record", 200, Chunk - 199, 1 << 20, []int{2 * Chunk}, Chunk + 1, nil},
		{"three scans", 2 * Chunk, Chunk / 2, 1 << 20, []int{2 * Chunk, 3 * Chunk}, 2*Chunk + Chunk/2, nil},
		{"refused in the licences", 2 * Chunk, 10, Chunk, []int{2 * Chunk}, Chunk, errRefused},
		{"refused in the events", Chunk, 10, Chunk, []int{2 * Chunk}, Chunk, errRefused},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var (
				read, counted int
				asked         []int
			)
			pay := func(total int) error {
				asked = append(asked, total)
				if total > c.budget {
					return errRefused
				}
				return nil
			}
			// The first scan is paid before the source is read (start).
			meter := &scanMeter{pay: pay, paid: Chunk}
			reg := fakeRegister{map[string]int{records.KindLicence: c.licences, records.KindTrackingEvent: c.events}, &read}
			src := ReportSource(meteredQuerier{reg, meter})
			var err error
			for _, kind := range []string{records.KindLicence, records.KindTrackingEvent} {
				if err = src(context.Background(), kind, func(*records.Record) error { counted++; return nil }); err != nil {
					break
				}
			}
			if !errors.Is(err, c.err) || !slices.Equal(asked, c.want) || counted != c.counted {
				t.Fatalf("err %v, asked %v, counted %d; want %v, %v, %d", err, asked, counted, c.err, c.want, c.counted)
			}
			// At most the record that asked for a refused scan was read
			// unpaid.
			if paidFor := Chunk * (1 + len(asked)); c.err != nil && read > paidFor-Chunk+1 {
				t.Errorf("read %d records with %d paid", read, paidFor-Chunk)
			}
		})
	}
}
