package sanctions

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ura-gateway/ura/certs/reload"
)

// List is the sanctions list in force: loaded at start-up, and again
// whenever its file changes (Watcher). A reload builds the whole new list
// first and swaps it in; a file that does not load keeps the running list.
type List struct {
	path string
	cur  atomic.Pointer[Sanctions]
	log  *slog.Logger
}

// Open loads the file at path; a list that does not load is an error,
// since a gateway screening against nothing would not say so otherwise.
func Open(path string, logger *slog.Logger) (*List, error) {
	s, err := Load(path)
	if err != nil {
		return nil, err
	}
	l := &List{path: path, log: logger}
	l.cur.Store(s)
	return l, nil
}

// Current is the list in force; nil on a nil List (none configured).
func (l *List) Current() *Sanctions {
	if l == nil {
		return nil
	}
	return l.cur.Load()
}

// Reload reads the file again and swaps it in, or keeps the running list
// and says why.
func (l *List) Reload() error {
	s, err := Load(l.path)
	if err != nil {
		l.log.Error("sanctions list reload refused; keeping the running list", "component", "sanctions", "error", err)
		return err
	}
	l.cur.Store(s)
	l.log.Info("sanctions list loaded", "component", "sanctions", "listings", len(s.Listings))
	return nil
}

// Watcher polls the file every interval and reloads it when its content
// changes; result is told of each attempt.
func (l *List) Watcher(interval time.Duration, result func(error)) *reload.Watcher {
	w := &reload.Watcher{Files: []string{l.path}, Interval: interval, Reload: l.Reload, Result: result, Logger: l.log}
	w.Prime()
	return w
}
