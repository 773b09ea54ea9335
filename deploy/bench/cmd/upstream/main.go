// Command upstream is the plain HTTP back office every benchmarked system
// forwards to: it accepts record POSTs (a JSON array, NDJSON or one object)
// and answers one result per record, and it serves synthetic licences as an
// NDJSON stream. It does as little as it can, so that what the benchmark
// measures is the system in front of it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ura-gateway/ura/deploy/bench/internal/synth"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9600", "address to listen on (loopback only)")
	tlsListen := fs.String("tls-listen", "", "also serve HTTPS here (ura's outbox delivers over https only)")
	certFile := fs.String("tls-cert", "", "serving certificate for -tls-listen")
	keyFile := fs.String("tls-key", "", "its key")
	maxRecords := fs.Int("max-records", 1_000_000, "largest stream a GET may ask for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, a := range []string{*listen, *tlsListen} {
		if a == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return fmt.Errorf("listen %s: %w", a, err)
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("listen %s: the benchmark upstream listens on loopback only", a)
		}
	}
	if *tlsListen != "" && (*certFile == "" || *keyFile == "") {
		return errors.New("-tls-listen needs -tls-cert and -tls-key")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "bench-upstream")
	u := &upstream{max: *maxRecords, streams: map[int][]byte{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /", u.pull)
	mux.HandleFunc("POST /", u.push)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 2)
	go func() { errc <- srv.ListenAndServe() }()
	servers := []*http.Server{srv}
	if *tlsListen != "" {
		tsrv := &http.Server{Addr: *tlsListen, Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
		servers = append(servers, tsrv)
		go func() { errc <- tsrv.ListenAndServeTLS(*certFile, *keyFile) }()
	}
	log.Info("listening", "addr", *listen, "tls_addr", *tlsListen)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.Shutdown(sctx))
	}
	return errors.Join(errs...)
}

type upstream struct {
	max int

	mu sync.Mutex
	// streams caches rendered NDJSON bodies by record count: rendering a
	// 10,000-record stream on every request would make the upstream, not the
	// proxy in front of it, the cost being measured.
	streams map[int][]byte
}

type result struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Status  string `json:"status"`
}

// push answers one "accepted" result per record received.
func (u *upstream) push(w http.ResponseWriter, r *http.Request) {
	recs, err := decodeRecords(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	res := make([]result, len(recs))
	for i, rec := range recs {
		res[i] = result{ID: rec.ID, Version: rec.Version, Status: "accepted"}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"results": res})
}

type recordHead struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
}

// decodeRecords reads a JSON array, NDJSON or a single object.
func decodeRecords(body io.Reader) ([]recordHead, error) {
	br := bufio.NewReader(body)
	first, err := firstNonSpace(br)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(br)
	var out []recordHead
	if first == '[' {
		if err := dec.Decode(&out); err != nil {
			return nil, fmt.Errorf("decode array: %w", err)
		}
		return out, nil
	}
	for {
		var h recordHead
		if err := dec.Decode(&h); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("decode record %d: %w", len(out)+1, err)
		}
		out = append(out, h)
	}
}

func firstNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("empty body: %w", err)
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b, br.UnreadByte()
	}
}

// pull streams limit= synthetic licences (default 10,000) as NDJSON.
func (u *upstream) pull(w http.ResponseWriter, r *http.Request) {
	n := 10_000
	if s := r.URL.Query().Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > u.max {
			http.Error(w, fmt.Sprintf("limit must be 0..%d", u.max), http.StatusBadRequest)
			return
		}
		n = v
	}
	body := u.stream(n)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

func (u *upstream) stream(n int) []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	if b, ok := u.streams[n]; ok {
		return b
	}
	b := synth.NDJSON("UPS-LIC", n)
	// Only a few sizes are ever asked for; the bound keeps a stray client
	// from filling memory with one cached body per distinct limit.
	if len(u.streams) < 8 {
		u.streams[n] = b
	}
	return b
}
