package exchange

import (
	"errors"
	"slices"
	"testing"
)

// TestScanMeter: a metered scan pays Chunk before the store is read and
// each next Chunk before the first entry beyond what is paid is used; a
// refused charge ends it there, that entry unused and uncounted.
func TestScanMeter(t *testing.T) {
	errRefused := errors.New("refused")
	for _, c := range []struct {
		name          string
		entries, most int // entries stored, most entries the caller can pay for
		want          []int
		used          int
		err           error
	}{
		{"empty", 0, 10 * Chunk, []int{Chunk}, 0, nil},
		{"one scan", Chunk, 10 * Chunk, []int{Chunk}, Chunk, nil},
		{"two scans", Chunk + 1, 10 * Chunk, []int{Chunk, 2 * Chunk}, Chunk + 1, nil},
		{"refused the second", 300, Chunk, []int{Chunk, 2 * Chunk}, Chunk, errRefused},
		{"refused the first", 300, 0, []int{Chunk}, 0, errRefused},
	} {
		t.Run(c.name, func(t *testing.T) {
			var asked []int
			m := &scanMeter{pay: func(total int) error {
				asked = append(asked, total)
				if total > c.most {
					return errRefused
				}
				return nil
			}}
			used := 0
			err := m.start()
			for i := 0; err == nil && i < c.entries; i++ {
				if err = m.next(); err == nil {
					used++
				}
			}
			if !errors.Is(err, c.err) || used != c.used || !slices.Equal(asked, c.want) {
				t.Errorf("err %v, used %d, paid for %v; want %v, %d, %v", err, used, asked, c.err, c.used, c.want)
			}
		})
	}
}
