package groupcommit

import (
	"slices"
	"testing"
	"time"
)

func TestGather(t *testing.T) {
	queued := func(items ...[]int) chan []int {
		ch := make(chan []int, len(items))
		for _, it := range items {
			ch <- it
		}
		return ch
	}
	sizes := func(group [][]int) []int {
		var out []int
		for _, g := range group {
			out = append(out, len(g))
		}
		return out
	}
	count := func(r []int) int { return len(r) }
	cases := []struct {
		name string
		ch   chan []int
		max  int
		size func([]int) int
		want []int // sizes of the requests in the group, first included
	}{
		{name: "takes what is queued", ch: queued([]int{1}, []int{1, 2}), max: 10, size: count, want: []int{1, 1, 2}},
		{name: "stops at max size", ch: queued([]int{1, 2}, []int{1, 2, 3}, []int{1}), max: 3, size: count, want: []int{1, 2}},
		{name: "one each by default", ch: queued([]int{1, 2, 3}, []int{1, 2, 3}, []int{1}), max: 2, want: []int{1, 3}},
		{name: "nothing queued", ch: queued(), max: 10, size: count, want: []int{1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := sizes(Gather([]int{0}, tc.ch, tc.max, tc.size, 0))
			if !slices.Equal(got, tc.want) {
				t.Errorf("group sizes %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGatherClosedChannel(t *testing.T) {
	ch := make(chan int, 2)
	ch <- 2
	close(ch)
	if got := Gather(1, ch, 10, nil, time.Hour); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("group %v, want [1 2]", got)
	}
}

func TestGatherLingers(t *testing.T) {
	ch := make(chan int)
	go func() { ch <- 2 }()
	if got := Gather(1, ch, 2, nil, time.Minute); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("group %v, want [1 2]: a late request within linger joins", got)
	}
	if got := Gather(1, ch, 2, nil, time.Millisecond); !slices.Equal(got, []int{1}) {
		t.Errorf("group %v, want [1]: nothing came within linger", got)
	}
}
