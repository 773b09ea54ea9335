package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/server"
	"github.com/ura-gateway/ura/gateway/sign"
)

const auditDefaultDir = "var/audit"

// addAudit opens the audit log for serve. It must be the last part built:
// checkpoints are signed with the signer built before it. The returned
// function commits what is queued, signs a last checkpoint and closes.
func addAudit(ctx context.Context, cfg *config.Config, logger *slog.Logger, vc *vault.Client, deps *server.Deps) (func(), error) {
	witness, err := auditWitness(ctx, cfg, cfg.Audit.Checkpoint.VaultKV, logger, vc)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	chain, err := audit.FromConfig(ctx, cfg.Audit, cfg.Path, deps.Signer, witness, logger, deps.Tracer.QueryTracer())
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	deps.Audit = chain
	deps.Checks = append(deps.Checks, chain)
	return func() {
		if err := chain.Close(); err != nil {
			logger.Error("closing the audit log", "component", "audit", "error", err)
		}
	}, nil
}

// auditWitness is the Vault KV entry that keeps the latest checkpoint off
// the host (audit.checkpoint.vault_kv), or nil when none is configured. A
// gateway passes the Vault client its signer logged in with (addSigning
// keeps that login alive); the offline commands pass nil and get a client of
// their own, logged in once. A failed login is not an error here: reading
// the entry then fails, and the caller decides.
func auditWitness(ctx context.Context, cfg *config.Config, kv config.AuditVaultKV, logger *slog.Logger, vc *vault.Client) (audit.Witness, error) {
	if !kv.Configured() {
		return nil, nil
	}
	if !cfg.Vault.Configured() {
		return nil, errors.New("audit.checkpoint.vault_kv: needs vault.addr")
	}
	if vc == nil {
		var err error
		if vc, err = sign.NewVaultClient(cfg.Vault, cfg.Path); err != nil {
			return nil, err
		}
		auth, err := sign.NewAuth(vc, cfg.Vault, cfg.Path, logger, nil)
		if err != nil {
			return nil, err
		}
		loginCtx, cancel := context.WithTimeout(ctx, 2*cfg.Vault.Timeout)
		if err := auth.Login(loginCtx); err != nil {
			logger.Warn("vault login for the off-host audit checkpoint failed", "component", "audit", "error", err)
		}
		cancel()
	}
	return audit.NewVaultKV(vc, kv.Mount, kv.Path), nil
}

var auditCommands = []struct{ name, summary string }{
	{"verify", "recompute the hash chain, check every signed checkpoint and the one kept off the host; exit 1 on any tampering or rollback"},
	{"export", "write the log as NDJSON: events, each signed checkpoint after the event it covers"},
	{"summary", "count decisions, top denial reasons and members"},
}

func auditUsage(w io.Writer) {
	note(w, "Usage: ura audit <command> [flags]\n\n")
	note(w, "Read the tamper-evident audit log offline: from the embedded store's directory\n")
	note(w, "(--dir), from PostgreSQL (--dsn, or the store named in --config), or from an\n")
	note(w, "export (--file). Reading never changes the log and works beside a running gateway.\n\n")
	note(w, "Commands:\n")
	for _, c := range auditCommands {
		note(w, "  %-8s %s\n", c.name, c.summary)
	}
	note(w, "\nRun \"ura audit <command> --help\" for a command's flags.\n")
}

// runAudit implements "ura audit".
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		auditUsage(stderr)
		return fmt.Errorf("%w: audit: missing command; want verify, export or summary", errUsage)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		auditUsage(stdout)
		return errHelp
	case "verify":
		return runAuditVerify(ctx, args[1:], stdout, stderr)
	case "export":
		return runAuditExport(ctx, args[1:], stdout, stderr)
	case "summary":
		return runAuditSummary(ctx, args[1:], stdout, stderr)
	}
	auditUsage(stderr)
	return fmt.Errorf("%w: audit: unknown command %q", errUsage, args[0])
}

// auditSource is where a command reads the log from.
type auditSource struct {
	config, dir, dsn, schema, file string
}

func (s *auditSource) flags(fs *flag.FlagSet, withFile bool) {
	fs.StringVar(&s.config, "config", "", "read the audit store named in this gateway configuration")
	fs.StringVar(&s.dir, "dir", "", "read the embedded store in this directory (default "+auditDefaultDir+")")
	fs.StringVar(&s.dsn, "dsn", "", "read the PostgreSQL store at this DSN (prefer --config to keep passwords off the command line)")
	fs.StringVar(&s.schema, "schema", "", "PostgreSQL schema of the audit tables (with --dsn)")
	if withFile {
		fs.StringVar(&s.file, "file", "", "read an NDJSON export (from ura audit export or GET /v1/audit/export)")
	}
}

func (s *auditSource) validate() error {
	n := 0
	for _, v := range []string{s.config, s.dir, s.dsn, s.file} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%w: give one of --config, --dir, --dsn, --file", errUsage)
	}
	if n == 0 {
		s.dir = auditDefaultDir
	}
	return nil
}

// open opens the store read-only; nil with s.file set.
func (s *auditSource) open(ctx context.Context) (audit.Store, error) {
	logger := slog.New(slog.DiscardHandler)
	switch {
	case s.file != "":
		return nil, nil
	case s.dir != "":
		return audit.OpenFileStore(s.dir, audit.FileOptions{ReadOnly: true, Logger: logger})
	case s.dsn != "":
		return audit.OpenPostgres(ctx, s.dsn, audit.PostgresOptions{Schema: s.schema, ReadOnly: true, Logger: logger})
	}
	cfg, err := config.Load(s.config)
	if err != nil {
		return nil, indentErrors("invalid configuration", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, indentErrors("invalid configuration "+s.config, err)
	}
	return audit.OpenStore(ctx, cfg.Audit, cfg.Path, true, logger, nil)
}

func (s *auditSource) name() string {
	switch {
	case s.file != "":
		return s.file
	case s.dir != "":
		return s.dir
	case s.dsn != "":
		return "postgres"
	}
	return "the store in " + s.config
}

func runAuditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit verify",
		"ura audit verify [--dir DIR | --dsn DSN | --config FILE | --file EXPORT] [--jwks FILE|URL] [--checkpoints FILE] [--vault-kv MOUNT/PATH]",
		"ura audit verify --dir var/audit --jwks var/audit-jwks.json --checkpoints checkpoints.json", stderr)
	var src auditSource
	src.flags(fs, true)
	jwksFrom := fs.String("jwks", "", "public keys (JWKS file, or URL such as https://gateway/.well-known/jwks.json) that must have signed every checkpoint")
	cpFile := fs.String("checkpoints", "", "checkpoints kept elsewhere (the JSON of GET /v1/audit/checkpoints, or NDJSON) that the log must still match")
	kvFlag := fs.String("vault-kv", "", "Vault KV v2 entry (MOUNT/PATH) holding the latest checkpoint kept off the host, which the log must still contain; "+
		"default: audit.checkpoint.vault_kv of --config. Vault is the one in --config, else URA_VAULT_ADDR and URA_VAULT_TOKEN")
	var tlsFlags auditTLSFlags
	tlsFlags.flags(fs)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := src.validate(); err != nil {
		return err
	}
	opts := audit.VerifyOptions{}
	if *jwksFrom != "" {
		keys, err := loadJWKS(ctx, *jwksFrom, tlsFlags)
		if err != nil {
			return err
		}
		opts.Keys = keys
	}
	if *cpFile != "" {
		cps, err := loadCheckpoints(*cpFile)
		if err != nil {
			return err
		}
		opts.Checkpoints = cps
	}
	witness, err := verifyWitness(ctx, src.config, *kvFlag)
	if err != nil {
		return err
	}
	var offHost *audit.SignedCheckpoint
	if witness != nil {
		if offHost, _, err = witness.Latest(ctx); err != nil {
			return fmt.Errorf("read the off-host checkpoint from %s: %w", witness, err)
		}
	}
	start, last := time.Now(), time.Now()
	opts.Progress = func(n int64) {
		if time.Since(last) < 3*time.Second {
			return
		}
		last = time.Now()
		note(stderr, "verified %d events (%.0f events/s)\n", n, float64(n)/time.Since(start).Seconds())
	}

	var rep audit.Report
	if src.file != "" {
		f, ferr := os.Open(src.file)
		if ferr != nil {
			return ferr
		}
		defer func() { _ = f.Close() }() // read only: nothing to lose on close
		if offHost != nil {
			// The export must reach it like any other checkpoint.
			opts.Checkpoints = append(opts.Checkpoints, *offHost)
		}
		rep, err = audit.VerifyExport(bufio.NewReaderSize(f, 1<<20), opts)
	} else {
		st, oerr := src.open(ctx)
		if oerr != nil {
			return oerr
		}
		defer func() { _ = st.Close() }() // opened read-only
		if offHost != nil && opts.Keys != nil {
			if _, err := audit.VerifyCheckpoint(*offHost, opts.Keys); err != nil {
				note(stdout, "FAIL: the checkpoint kept in %s: %v\n", witness, err)
				return fmt.Errorf("the off-host checkpoint in %s is not signed by --jwks", witness)
			}
		}
		rep, err = audit.VerifyStore(ctx, st, opts)
		if err == nil && offHost != nil {
			// The log is consistent on its own; does it still reach what
			// was kept off the host? Said as what it is: a rollback.
			err = audit.CheckWitness(ctx, witness.String(), rep.Head, offHost, func(ctx context.Context, seq int64) (string, error) {
				e, err := st.Get(ctx, seq)
				return e.Event.Hash, err
			})
			var rb *audit.RollbackError
			if errors.As(err, &rb) {
				note(stdout, "FAIL: %s: %v\n", src.name(), rb)
				return fmt.Errorf("audit log rolled back: it no longer contains the checkpoint at seq %d kept in %s", rb.Checkpoint.Count, rb.Witness)
			}
		}
	}
	var ve *audit.VerifyError
	if errors.As(err, &ve) {
		note(stdout, "FAIL: %s: %v\n", src.name(), ve)
		return fmt.Errorf("audit log failed verification at seq %d", ve.Seq)
	}
	if err != nil {
		return fmt.Errorf("verify %s: %w", src.name(), err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	p := &printer{w: stdout}
	p.printf("OK: %s: %d events, chain intact, head %s\n", src.name(), rep.Events, shortHash(rep.Head.Hash))
	switch {
	case rep.Latest != nil:
		p.printf("    %d signed checkpoints match; the latest covers %d events (signed %s)\n",
			rep.Checkpoints, rep.Latest.Count, rep.Latest.Time.Format(time.RFC3339))
	default:
		p.printf("    no checkpoints: truncation of the tail cannot be detected\n")
	}
	switch {
	case offHost != nil:
		p.printf("    the log contains the checkpoint kept in %s (%d events, signed %s)\n",
			witness, offHost.Count, offHost.Time.Format(time.RFC3339))
	case witness != nil:
		p.printf("    %s holds no checkpoint yet\n", witness)
	}
	if !rep.Signed {
		note(stderr, "warning: checkpoint signatures were not checked (no --jwks): a log rewritten together with its checkpoints would pass\n")
	}
	if rep.Latest != nil && rep.Events > rep.Latest.Count {
		p.printf("    %d events after the latest checkpoint are chained but not yet signed\n", rep.Events-rep.Latest.Count)
	}
	return p.err
}

// verifyWitness is the off-host checkpoint entry for verify: --vault-kv, or
// audit.checkpoint.vault_kv of --config; nil when neither names one.
func verifyWitness(ctx context.Context, cfgPath, kvFlag string) (audit.Witness, error) {
	var cfg *config.Config
	var err error
	if cfgPath != "" {
		if cfg, err = loadConfig(cfgPath); err != nil {
			return nil, err
		}
	} else if kvFlag != "" {
		// Defaults and the URA_VAULT_* variables.
		if cfg, err = config.Parse(nil, "."); err != nil {
			return nil, err
		}
	} else {
		return nil, nil
	}
	kv := cfg.Audit.Checkpoint.VaultKV
	if kvFlag != "" {
		mount, path, ok := strings.Cut(strings.Trim(kvFlag, "/"), "/")
		if !ok || mount == "" || path == "" {
			return nil, fmt.Errorf("%w: --vault-kv must be MOUNT/PATH, e.g. kv/ura-audit/checkpoints/gw1", errUsage)
		}
		kv.Mount, kv.Path = mount, path
	}
	if !kv.Configured() {
		return nil, nil
	}
	if !cfg.Vault.Configured() {
		return nil, errors.New("--vault-kv: no Vault address (vault.addr in --config, or URA_VAULT_ADDR)")
	}
	return auditWitness(ctx, cfg, kv, slog.New(slog.DiscardHandler), nil)
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

// auditTLSFlags configure fetching a JWKS from a gateway over mutual TLS.
type auditTLSFlags struct{ ca, cert, key string }

func (t *auditTLSFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.ca, "cacert", "", "CA certificate for an https --jwks URL")
	fs.StringVar(&t.cert, "cert", "", "client certificate for an https --jwks URL (the gateway requires one)")
	fs.StringVar(&t.key, "key", "", "client key for --cert")
}

func loadJWKS(ctx context.Context, from string, tf auditTLSFlags) (jwk.Set, error) {
	var raw []byte
	if strings.HasPrefix(from, "https://") || strings.HasPrefix(from, "http://") {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if tf.ca != "" {
			pem, err := os.ReadFile(tf.ca)
			if err != nil {
				return nil, fmt.Errorf("--cacert: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, errors.New("--cacert: no certificates")
			}
			tc.RootCAs = pool
		}
		if tf.cert != "" {
			c, err := tls.LoadX509KeyPair(tf.cert, tf.key)
			if err != nil {
				return nil, fmt.Errorf("--cert/--key: %w", err)
			}
			tc.Certificates = []tls.Certificate{c}
		}
		hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, from, nil)
		if err != nil {
			return nil, fmt.Errorf("--jwks: %w", err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("--jwks: %w", err)
		}
		defer func() { _ = resp.Body.Close() }() // read only: nothing to lose on close
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("--jwks: %s answered %s", from, resp.Status)
		}
		if raw, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20)); err != nil {
			return nil, fmt.Errorf("--jwks: %w", err)
		}
	} else {
		var err error
		if raw, err = os.ReadFile(from); err != nil {
			return nil, fmt.Errorf("--jwks: %w", err)
		}
	}
	set, err := jwk.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--jwks %s: %w", from, err)
	}
	if set.Len() == 0 {
		return nil, fmt.Errorf("--jwks %s: no keys", from)
	}
	return set, nil
}

// loadCheckpoints reads the JSON of GET /v1/audit/checkpoints, a JSON array,
// or NDJSON of checkpoints (bare or as export lines).
func loadCheckpoints(path string) ([]audit.SignedCheckpoint, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--checkpoints: %w", err)
	}
	trimmed := bytes.TrimSpace(raw)
	var wrapped struct {
		Checkpoints []audit.SignedCheckpoint `json:"checkpoints"`
	}
	if bytes.HasPrefix(trimmed, []byte("[")) {
		if err := json.Unmarshal(trimmed, &wrapped.Checkpoints); err != nil {
			return nil, fmt.Errorf("--checkpoints %s: %w", path, err)
		}
		return wrapped.Checkpoints, nil
	}
	if err := json.Unmarshal(trimmed, &wrapped); err == nil && wrapped.Checkpoints != nil {
		return wrapped.Checkpoints, nil
	}
	var cps []audit.SignedCheckpoint
	for i, line := range bytes.Split(trimmed, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var export struct {
			Checkpoint *audit.SignedCheckpoint `json:"checkpoint"`
		}
		var cp audit.SignedCheckpoint
		switch {
		case json.Unmarshal(line, &export) == nil && export.Checkpoint != nil:
			cp = *export.Checkpoint
		case json.Unmarshal(line, &cp) == nil && cp.JWS != "":
		default:
			return nil, fmt.Errorf("--checkpoints %s: line %d is not a checkpoint", path, i+1)
		}
		cps = append(cps, cp)
	}
	return cps, nil
}

func runAuditExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit export", "ura audit export [--dir DIR | --dsn DSN | --config FILE] [--from SEQ] [--out FILE]",
		"ura audit export --dir var/audit --out audit.ndjson", stderr)
	var src auditSource
	src.flags(fs, false)
	from := fs.Int64("from", 1, "first seq to export")
	out := fs.String("out", "", "write to this file instead of standard output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := src.validate(); err != nil {
		return err
	}
	st, err := src.open(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }() // opened read-only
	if *out == "" {
		if err := audit.Export(ctx, st, stdout, max(*from, 1)); err != nil {
			return fmt.Errorf("export %s: %w", src.name(), err)
		}
		return nil
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := audit.Export(ctx, st, f, max(*from, 1)); err != nil {
		_ = f.Close() // the export already failed; that error is the one to report
		return fmt.Errorf("export %s: %w", src.name(), err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close() // the sync error is the one to report
		return err
	}
	return f.Close()
}

func runAuditSummary(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit summary",
		"ura audit summary [--dir DIR | --dsn DSN | --config FILE | --file EXPORT] [--from TIME] [--to TIME] [--top N] [--json]",
		"ura audit summary --dir var/audit --top 5", stderr)
	var src auditSource
	src.flags(fs, true)
	from := fs.String("from", "", "only events at or after this RFC 3339 time")
	to := fs.String("to", "", "only events before this RFC 3339 time")
	bucket := fs.Duration("bucket", time.Hour, "width of the time series (with --json)")
	top := fs.Int("top", 5, "length of the ranked lists")
	asJSON := fs.Bool("json", false, "print the summary as JSON (what GET /v1/audit/summary returns)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := src.validate(); err != nil {
		return err
	}
	q := audit.SummaryQuery{Bucket: *bucket, Top: *top}
	for _, p := range []struct {
		name, val string
		dst       *time.Time
	}{{"from", *from, &q.From}, {"to", *to, &q.To}} {
		if p.val == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, p.val)
		if err != nil {
			return fmt.Errorf("%w: --%s must be an RFC 3339 time", errUsage, p.name)
		}
		*p.dst = t
	}
	var sum *audit.Summary
	var err error
	if src.file != "" {
		sum, err = summarizeExport(src.file, q)
	} else {
		st, oerr := src.open(ctx)
		if oerr != nil {
			return oerr
		}
		defer func() { _ = st.Close() }() // opened read-only
		sum, err = audit.Summarize(ctx, st, q)
	}
	if err != nil {
		return fmt.Errorf("summary of %s: %w", src.name(), err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	return printSummary(stdout, src.name(), sum)
}

func summarizeExport(path string, q audit.SummaryQuery) (*audit.Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose on close
	z := audit.NewSummarizer(q)
	err = audit.ReadExport(bufio.NewReaderSize(f, 1<<20), func(line []byte) error {
		var e audit.Event
		if err := json.Unmarshal(line, &e); err != nil {
			return err
		}
		z.Add(&e)
		return nil
	}, func(audit.SignedCheckpoint) error { return nil })
	if err != nil {
		return nil, err
	}
	return z.Result()
}

func printSummary(w io.Writer, name string, s *audit.Summary) error {
	p := &printer{w: w}
	p.printf("Audit summary of %s: %d events", name, s.Events)
	if s.First != nil {
		p.printf(" from %s to %s", s.First.Format(time.RFC3339), s.Last.Format(time.RFC3339))
	}
	p.println()
	p.println("  decisions:")
	keys := make([]string, 0, len(s.ByDecision))
	for k := range s.ByDecision {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return s.ByDecision[keys[i]] > s.ByDecision[keys[j]] || s.ByDecision[keys[i]] == s.ByDecision[keys[j]] && keys[i] < keys[j]
	})
	for _, k := range keys {
		p.printf("    %-10s %8d\n", k, s.ByDecision[k])
	}
	list := func(title string, cs []audit.Count) {
		p.printf("  %s:\n", title)
		if len(cs) == 0 {
			p.println("    (none)")
		}
		for _, c := range cs {
			p.printf("    %-24s %8d\n", c.Key, c.Count)
		}
	}
	list("top denial reasons", s.DenialsByReason)
	list("denials by member", s.DenialsByMember)
	list("top members", s.TopMembers)
	return p.err
}
