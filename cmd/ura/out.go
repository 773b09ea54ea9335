package main

import (
	"fmt"
	"io"
)

// printer writes a command's report and keeps the first write error, so that a
// report to a closed pipe or a full disk fails the command once, at the end,
// instead of being checked at every line. Later writes after a failure are
// skipped.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (p *printer) println(args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintln(p.w, args...)
	}
}

// note writes help text, a warning or progress, usually to stderr. Its write
// error is deliberately dropped: the command's outcome is the error it
// returns, and a terminal that cannot take a note has nowhere better to hear
// about it.
func note(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}
