package screening

import (
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ura-gateway/ura/certs/reload"
	"github.com/ura-gateway/ura/gateway/names"
)

// List is the sanctions list in force: loaded at start-up, and again
// whenever its file changes (Watcher). A reload builds the whole new list
// first and swaps it in; a file that does not load keeps the running list.
type List struct {
	path string
	cur  atomic.Pointer[Sanctions]
	log  *slog.Logger
}

// OpenList loads the file at path; a list that does not load is an error,
// since a gateway screening against nothing would not say so otherwise.
func OpenList(path string, logger *slog.Logger) (*List, error) {
	s, err := LoadSanctions(path)
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
	s, err := LoadSanctions(l.path)
	if err != nil {
		l.log.Error("sanctions list reload refused; keeping the running list", "component", "screening", "error", err)
		return err
	}
	l.cur.Store(s)
	l.log.Info("sanctions list loaded", "component", "screening", "listings", len(s.Listings))
	return nil
}

// Watcher polls the file every interval and reloads it when its content
// changes; result is told of each attempt.
func (l *List) Watcher(interval time.Duration, result func(error)) *reload.Watcher {
	w := &reload.Watcher{Files: []string{l.path}, Interval: interval, Reload: l.Reload, Result: result, Logger: l.log}
	w.Prime()
	return w
}

// BlockKeys are the keys under which a name is listed on the register the
// fuzzy screen of excluded entities reads (excluded_names): the first two
// letters of each of its words after names.Tokens (scripts transliterated,
// diacritics and legal forms gone). A party's name is looked up under its
// own keys, so a candidate shares the start of at least one word with it:
// a spelling, a script or a transliteration away is found, a name whose
// every word begins otherwise is not (a register read per decision cannot
// be a scan of the whole register).
func BlockKeys(name string) []string {
	var out []string
	for _, t := range names.Tokens(name) {
		r := []rune(t)
		if len(r) > 2 {
			r = r[:2]
		}
		k := string(r)
		if k != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
