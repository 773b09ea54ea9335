package bolt

import (
	"bytes"
	"strings"
	"testing"
)

// TestArenaKeepsValues holds the value arena to what bbolt needs of a
// value: once kept, it is never written again by later values, whether
// they fit in the room tail gives, outgrow it, or start a new block.
func TestArenaKeepsValues(t *testing.T) {
	w := &wtx{}
	var kept, want [][]byte
	add := func(room int, v string) {
		b := w.keep(append(w.tail(room), v...))
		if cap(b) != len(b) {
			t.Fatalf("kept value %q has room to grow: cap %d", v, cap(b))
		}
		kept, want = append(kept, b), append(want, []byte(v))
		// An append to a kept value must not reach the next one.
		_ = append(b, "overwrite"...)
	}
	add(8, "first")
	add(2, "outgrows its room")
	add(16, "")
	add(arenaChunk/2, strings.Repeat("a", arenaChunk/2))
	add(arenaChunk/2+1, strings.Repeat("b", arenaChunk/2+1)) // a new block
	add(2*arenaChunk, strings.Repeat("c", 2*arenaChunk))     // larger than a block
	add(4, "last")
	for i := range kept {
		if !bytes.Equal(kept[i], want[i]) {
			t.Errorf("value %d changed: %.20q, want %.20q", i, kept[i], want[i])
		}
	}
}
