// Command lbload measures how many pushes per second a gateway address (a
// replica, or the load balancer in front of several: deploy/dev/replicas.sh)
// answers with every record accepted: a closed loop of -c clients, each
// pushing one new licence at a time over its own keep-alive connection.
//
//	go run ./deploy/bench/cmd/lbload -url https://127.0.0.1:8450 -pki var/pki -c 24 -d 20s
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "lbload:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("lbload", flag.ContinueOnError)
	target := fs.String("url", "https://127.0.0.1:8450", "gateway or load balancer")
	pki := fs.String("pki", "var/pki", "dev PKI (ura certs init): ca.crt and clients/AL_GOV_AIM")
	conc := fs.Int("c", 24, "clients, each with one request in flight")
	dur := fs.Duration("d", 20*time.Second, "how long to measure")
	prefix := fs.String("prefix", fmt.Sprintf("AIM-LIC-2026-L%d", time.Now().Unix()%100000), "id prefix of the pushed licences")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(*pki, "clients", "AL_GOV_AIM.crt"), filepath.Join(*pki, "clients", "AL_GOV_AIM.key"))
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(filepath.Join(*pki, "ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("no CA certificate")
	}
	var ok, failed, next atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for range *conc {
		// One transport per client: one connection each, so that the
		// balancer spreads clients over the replicas.
		c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1,
			TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS13}}}
		wg.Go(func() {
			for ctx.Err() == nil {
				if push(ctx, c, *target, fmt.Sprintf("%s%07d", *prefix, next.Add(1))) {
					ok.Add(1)
				} else if ctx.Err() == nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	_, err = fmt.Fprintf(stdout, "%s: %d accepted, %d failed in %.1fs: %.1f pushes/s\n", *target, ok.Load(), failed.Load(), secs, float64(ok.Load())/secs)
	return err
}

func push(ctx context.Context, c *http.Client, target, id string) bool {
	rec := map[string]any{
		"kind": "licence", "id": id, "version": 1,
		"label": map[string]any{"classification": "RESTRICTED", "releasable_to": []string{"ALB", "ITA"},
			"originator": "AL/GOV/AIM", "created": "2026-06-04T09:00:00Z"},
		"licence": map[string]any{
			"type": "export", "status": "issued",
			"holder":     map[string]any{"entity_id": "L61234567A", "name": "KAYO sh.a."},
			"issue_date": "2026-06-02", "valid_from": "2026-06-04", "valid_until": "2029-06-03",
			"items":  []any{map[string]any{"ml_category": "ML3", "description": "9x19mm cartridges", "quantity": 10, "unit": "rounds"}},
			"origin": "ALB", "destination": "ITA",
			"end_user": map[string]any{"name": "Ministero della Difesa", "country": "ITA",
				"address": map[string]any{"city": "Roma", "country": "ITA"}},
		},
	}
	line, _ := json.Marshal(rec)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target+"/v1/records", bytes.NewReader(append(line, '\n')))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct {
		Results []struct {
			Status string `json:"status"`
		} `json:"results"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil || len(out.Results) != 1 {
		return false
	}
	return out.Results[0].Status == "accepted"
}
