package audit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
)

// gatedStore is a file store whose fsyncs each wait, once done, for the
// test to let them return, with the error the test chooses.
type gatedStore struct {
	*audit.FileStore
	entered chan chan error
}

func (g *gatedStore) Sync() (audit.Head, error) {
	h, err := g.FileStore.Sync()
	gate := make(chan error)
	g.entered <- gate
	if gerr := <-gate; gerr != nil {
		return audit.Head{}, gerr
	}
	return h, err
}

func appendAsync(c *audit.Chain, e audit.Event) <-chan error {
	done := make(chan error, 1)
	go func() { done <- c.Append(context.Background(), e) }()
	return done
}

// TestPipelineSettlesInOrder: a later fsync that returns first does not
// answer for an earlier write whose fsync is still under way, and an
// earlier fsync that fails fails the groups after it too, however their
// own fsyncs ended: a write-back error is reported to one fsync only.
func TestPipelineSettlesInOrder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		first   error
		wantErr bool
	}{
		{"both succeed", nil, false},
		{"earlier fails", errors.New("EIO"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := audit.OpenFileStore(t.TempDir(), audit.FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			st := &gatedStore{FileStore: fs, entered: make(chan chan error)}
			c, err := audit.Open(context.Background(), audit.Options{Store: st})
			if err != nil {
				t.Fatal(err)
			}
			evs := audittest.Events(2, time.Now())
			a := appendAsync(c, evs[0])
			gateA := <-st.entered
			b := appendAsync(c, evs[1])
			gateB := <-st.entered
			gateB <- nil
			// B's fsync returned, A's has not: neither may be answered.
			select {
			case err := <-b:
				t.Fatalf("the later group was answered (%v) before the earlier fsync returned", err)
			case <-time.After(50 * time.Millisecond):
			}
			if h := c.Head(); h.Count != 0 || fs.Head().Count != 0 {
				t.Fatalf("head %d (store %d) moved before the earlier fsync returned", h.Count, fs.Head().Count)
			}
			gateA <- tc.first
			for name, ch := range map[string]<-chan error{"earlier": a, "later": b} {
				err := <-ch
				if tc.wantErr != (err != nil) || (err != nil && !errors.Is(err, audit.ErrUnavailable)) {
					t.Errorf("%s append: %v, want error %v", name, err, tc.wantErr)
				}
			}
			want := int64(2)
			if tc.wantErr {
				want = 0
			}
			if h := c.Head(); h.Count != want {
				t.Errorf("head %d, want %d", h.Count, want)
			}
			if tc.wantErr {
				if err := c.Append(context.Background(), evs[0]); !errors.Is(err, audit.ErrUnavailable) {
					t.Errorf("append after a failed fsync: %v, want the log failed", err)
				}
			}
			// Close drains what is under way; no gate may hold it.
			go func() {
				for g := range st.entered {
					g <- nil
				}
			}()
			if err := c.Close(); err != nil && !tc.wantErr {
				t.Error(err)
			}
			close(st.entered)
		})
	}
}
