package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// vaultCounter is ura's own count of the Vault requests its signer makes
// (gateway/sign/metrics.go). The shared Vault's own counters would also
// count every other client of the development stack.
const vaultCounter = "ura_sign_vault_requests_total"

// outboxPending is how many records ura's outbox still has to deliver.
const outboxPending = "ura_outbox_pending"

// metricSum adds up every series of one metric in Prometheus text format.
func metricSum(text []byte, name string) (float64, bool) {
	var sum float64
	found := false
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// metrics reads a ura system's /metrics over its mTLS listener as the
// security officer (auditors may read metrics on every revision).
func (d *driver) metrics(ctx context.Context, sys *system) ([]byte, error) {
	if d.auditor == "" {
		return nil, fmt.Errorf("no auditor certificate")
	}
	tr := d.pki.transport(d.auditor, 1, false)
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(sys.URL, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: HTTP %d", resp.StatusCode)
	}
	return body, nil
}

// counter is one metric's sum on a system, or false when it cannot be read.
func (d *driver) counter(ctx context.Context, sys *system, name string) (float64, bool) {
	body, err := d.metrics(ctx, sys)
	if err != nil {
		return 0, false
	}
	return metricSum(body, name)
}

// drainOutbox waits (at most limit) until a ura system's outbox has
// delivered everything, so that the deliveries of the records seeded for
// the pull (each decided, audited, sent) do not share the pull's cells.
func (d *driver) drainOutbox(ctx context.Context, sys *system, limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < limit && ctx.Err() == nil {
		n, ok := d.counter(ctx, sys, outboxPending)
		if !ok || n == 0 {
			return time.Since(start), ok
		}
		time.Sleep(250 * time.Millisecond)
	}
	return time.Since(start), false
}
