package console

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/problem"
)

type verifyData struct {
	Token string
	Ran   bool
	OK    bool
	// Report is the verification of an intact chain; Bad names the first
	// bad position of a broken one.
	Report audit.Report
	Bad    *audit.VerifyError
	// Failure says why the verification could not be completed (neither
	// intact nor broken: the log could not be read, or it took too long).
	Failure  string
	KeysNote string
	Elapsed  time.Duration
}

// VerifyForm shows the verify button with a token bound to the caller.
func (c *Console) VerifyForm(v *Viewer, token string) (*Page, error) {
	if _, err := c.reader(); err != nil {
		return nil, err
	}
	return c.render("verify", "Verify chain", v, 200, verifyData{Token: token})
}

// Verify reads the whole log as `ura audit verify` does, through the same
// export and verifier, and shows the outcome. The server checks the
// request's token before calling it.
func (c *Console) Verify(ctx context.Context, v *Viewer, token string) (*Page, error) {
	r, err := c.reader()
	if err != nil {
		return nil, err
	}
	select {
	case c.verifying <- struct{}{}:
		defer func() { <-c.verifying }()
	case <-ctx.Done():
		return nil, problem.Unavailable("another verification is running; try again when it ends", ctx.Err())
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.VerifyTimeout)
	defer cancel()

	d := verifyData{Token: token, Ran: true}
	opts := audit.VerifyOptions{}
	if c.opts.Keys == nil {
		d.KeysNote = "This gateway has no signing keys: checkpoints were matched against the chain, but their signatures were not checked."
	} else {
		keys, err := c.opts.Keys(ctx)
		if err != nil {
			c.log.Warn("signing keys unavailable for verification", "error", err)
			d.KeysNote = "The signing keys are unavailable right now: checkpoints were matched against the chain, but their signatures were not checked."
		} else {
			opts.Keys = keys
		}
	}
	start := c.opts.Now()
	rep, readErr, err := verifyReader(ctx, r, opts)
	d.Elapsed = c.opts.Now().Sub(start).Round(time.Millisecond)
	var ve *audit.VerifyError
	switch {
	case readErr != nil:
		// A read that failed part-way looks like a truncated log to the
		// verifier; say what actually happened instead.
		c.log.Warn("chain verification could not read the log", "error", readErr)
		d.Failure = "The log could not be read to the end"
		if errors.Is(readErr, context.DeadlineExceeded) {
			d.Failure += " within " + c.opts.VerifyTimeout.String()
		}
		d.Failure += "; nothing is known about the rest of it. Run `ura audit verify` on the gateway host."
	case errors.As(err, &ve):
		d.Bad = ve
	case err != nil:
		c.log.Warn("chain verification failed to run", "error", err)
		d.Failure = "The verification could not be run: " + err.Error()
	default:
		d.OK, d.Report = true, rep
	}
	result := resultIncomplete
	switch {
	case d.OK:
		result = resultIntact
	case d.Bad != nil:
		result = resultBroken
	}
	c.m.verifications.WithLabelValues(result).Inc()
	c.m.verifySeconds.Observe(d.Elapsed.Seconds())
	if d.Bad != nil {
		c.log.Warn("chain verification from the console found the log altered", "bad_seq", d.Bad.Seq, "reason", d.Bad.Reason)
	} else {
		c.log.Info("chain verified from the console", "result", result, "events", rep.Events, "elapsed_ms", d.Elapsed.Milliseconds())
	}
	status := http.StatusOK
	if d.Failure != "" {
		status = http.StatusServiceUnavailable
	}
	pg, err := c.render("verify", "Verify chain", v, status, d)
	if err != nil {
		return nil, err
	}
	if d.OK {
		pg.Access.Events = int(min(rep.Events, 1<<31-1))
	}
	return pg, nil
}

// verifyReader streams the log's export into the verifier, so memory stays
// flat however long the log is. readErr is the export's own failure, told
// apart from what the verifier found.
func verifyReader(ctx context.Context, r audit.Reader, opts audit.VerifyOptions) (rep audit.Report, readErr, err error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := r.Export(ctx, pw, 1)
		pw.CloseWithError(err)
		done <- err
	}()
	rep, err = audit.VerifyExport(pr, opts)
	// The verifier may stop at the first bad line; unblock the exporter.
	pr.CloseWithError(errVerifyDone)
	if e := <-done; e != nil && !errors.Is(e, errVerifyDone) && !errors.Is(e, io.ErrClosedPipe) {
		readErr = e
	}
	if readErr == nil && ctx.Err() != nil {
		readErr = ctx.Err()
	}
	return rep, readErr, err
}

var errVerifyDone = errors.New("verification finished")
