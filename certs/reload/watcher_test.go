package reload

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// watcherFixture is a Watcher over two files in a fresh directory that
// counts its reloads and fails them while fail is set.
type watcherFixture struct {
	w       *Watcher
	files   []string
	reloads atomic.Int32
	results []error
	fail    atomic.Bool
	extra   atomic.Value // []byte
}

func newWatcherFixture(t *testing.T) *watcherFixture {
	t.Helper()
	dir := t.TempDir()
	fx := &watcherFixture{files: []string{filepath.Join(dir, "a.pem"), filepath.Join(dir, "b.pem")}}
	for _, f := range fx.files {
		writeFile(t, f, "one")
	}
	fx.extra.Store([]byte{})
	fx.w = &Watcher{
		Files:    fx.files,
		Interval: time.Millisecond,
		Extra:    func() []byte { return fx.extra.Load().([]byte) },
		Reload: func() error {
			fx.reloads.Add(1)
			if fx.fail.Load() {
				return errors.New("half-written file")
			}
			return nil
		},
		Result: func(err error) { fx.results = append(fx.results, err) },
		Logger: quiet,
	}
	fx.w.Prime()
	return fx
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (fx *watcherFixture) wantReloads(t *testing.T, n int32) {
	t.Helper()
	if got := fx.reloads.Load(); got != n {
		t.Fatalf("reloads = %d, want %d", got, n)
	}
}

func TestWatcherReloadsOnlyOnChange(t *testing.T) {
	fx := newWatcherFixture(t)
	fx.w.Check()
	fx.wantReloads(t, 0) // primed: the initial load is not repeated

	writeFile(t, fx.files[1], "two")
	fx.w.Check()
	fx.wantReloads(t, 1)
	fx.w.Check()
	fx.wantReloads(t, 1)

	fx.extra.Store([]byte{1}) // a fetched CRL changed
	fx.w.Check()
	fx.wantReloads(t, 2)
	if len(fx.results) != 2 || fx.results[0] != nil || fx.results[1] != nil {
		t.Fatalf("results = %v, want two successes", fx.results)
	}
}

func TestWatcherFailedReloadIsNotRetriedUntilChanged(t *testing.T) {
	fx := newWatcherFixture(t)
	fx.fail.Store(true)
	writeFile(t, fx.files[0], "broken")
	fx.w.Check()
	fx.w.Check()
	fx.wantReloads(t, 1) // the same broken content is tried once
	if len(fx.results) != 1 || fx.results[0] == nil {
		t.Fatalf("results = %v, want one error", fx.results)
	}

	fx.fail.Store(false)
	writeFile(t, fx.files[0], "fixed")
	fx.w.Check()
	fx.wantReloads(t, 2)

	// Going back to the content that last loaded is a change too.
	writeFile(t, fx.files[0], "one")
	fx.w.Check()
	fx.wantReloads(t, 3)
}

func TestWatcherWaitsWhileAFileIsMissing(t *testing.T) {
	fx := newWatcherFixture(t)
	if err := os.Remove(fx.files[0]); err != nil {
		t.Fatal(err)
	}
	fx.w.Check()
	fx.wantReloads(t, 0)
	writeFile(t, fx.files[0], "rotated")
	fx.w.Check()
	fx.wantReloads(t, 1)
}

func TestWatcherRunStopsWithContext(t *testing.T) {
	fx := newWatcherFixture(t)
	fx.w.Result = nil // Run calls Check from its own goroutine
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { fx.w.Run(ctx); close(done) }()
	writeFile(t, fx.files[0], "changed")
	deadline := time.Now().Add(5 * time.Second)
	for fx.reloads.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	fx.wantReloads(t, 1)
}

var quiet = slog.New(slog.DiscardHandler)
