package reload

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"
)

// Watcher polls a set of files and calls Reload when their contents change.
//
// Polling the content digest, rather than waiting for file events, also sees
// changes made by atomic renames and by writes to mounted secrets, and costs a
// few small reads per interval. A Reload that fails (a half-written or invalid
// file) leaves the running state untouched; the same broken content is not
// retried until it changes again, so one bad file logs once, not every tick.
type Watcher struct {
	Files    []string
	Interval time.Duration
	// Extra adds to the digest, e.g. a version counter of fetched CRLs.
	Extra func() []byte
	// Reload builds the whole new state and swaps it in, or returns an error
	// and changes nothing.
	Reload func() error
	// Result is told of every reload attempt (nil error = applied).
	Result func(err error)
	Logger *slog.Logger

	last   [sha256.Size]byte
	failed [sha256.Size]byte
}

// Prime records the current digest as already loaded; call it after the
// initial load so that the first tick does not reload the same files.
func (w *Watcher) Prime() {
	w.last, _ = w.digest()
}

// Run checks for changes every Interval until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	every(ctx, w.Interval, w.Check)
}

// every calls fn each period until ctx ends.
func every(ctx context.Context, period time.Duration, fn func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// Check reloads once if anything changed since the last successful load.
func (w *Watcher) Check() {
	d, err := w.digest()
	if err != nil {
		// A file missing for a moment during a rotation is not yet a reason
		// to reload: the next tick sees the finished state.
		if d != w.failed {
			w.failed = d
			w.log().Warn("reload skipped: cannot read watched file", "error", err)
		}
		return
	}
	if d == w.last || d == w.failed {
		return
	}
	err = w.Reload()
	if w.Result != nil {
		w.Result(err)
	}
	if err != nil {
		w.failed = d
		w.log().Error("reload refused; keeping the previous state", "error", err)
		return
	}
	w.last = d
	w.log().Info("reloaded", "files", len(w.Files))
}

func (w *Watcher) digest() ([sha256.Size]byte, error) {
	h := sha256.New()
	var errs []error
	for _, f := range w.Files {
		fh, err := os.Open(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_, err = io.Copy(h, fh)
		_ = fh.Close()
		if err != nil {
			errs = append(errs, err)
		}
		h.Write([]byte{0})
	}
	if w.Extra != nil {
		h.Write(w.Extra())
	}
	var out [sha256.Size]byte
	copy(out[:], h.Sum(nil))
	return out, errors.Join(errs...)
}

func (w *Watcher) log() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}
