package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
	"github.com/ura-gateway/ura/gateway/server"
	"github.com/ura-gateway/ura/gateway/verdict"
	"github.com/ura-gateway/ura/policies"
)

const policyUsageText = `Usage: ura policy <command> [flags]

Work with the OPA policy the gateway applies to every record.

Commands:
  test [dir]   run the Rego unit tests (*_test.rego) of dir, or of the policy
               embedded in this binary, and print each result and the
               coverage of the policy files; exits non-zero if any fails
  eval         decide one record as the gateway would and print the decision
               with its reasons: "why was this denied?"

Run "ura policy <command> --help" for a command's flags.
`

// runPolicy implements "ura policy".
func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		note(stderr, "%s", policyUsageText)
		return fmt.Errorf("%w: policy: missing command; want test or eval", errUsage)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		note(stdout, "%s", policyUsageText)
		return errHelp
	case "test":
		return runPolicyTest(ctx, args[1:], stdout, stderr)
	case "eval":
		return runPolicyEval(ctx, args[1:], stdout, stderr)
	default:
		return fmt.Errorf("%w: policy: unknown command %q; want test or eval", errUsage, args[0])
	}
}

func runPolicyTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy test", "ura policy test [--json] [--verbose] [dir]\n\n"+
		"Runs the Rego unit tests of dir (a policy directory), of --bundle (a signed\n"+
		"bundle, verified with --config's policy.verification_key) or, with neither,\n"+
		"of the policy embedded in this binary. Built-in errors fail a test, as they\n"+
		"deny in the gateway. Coverage counts the policy files, not the tests.",
		"ura policy test policies/", stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	verbose := fs.Bool("verbose", false, "list passing tests too")
	bundleFile := fs.String("bundle", "", "a signed OPA bundle tarball to test instead of a directory")
	cfgPath := fs.String("config", "", "gateway configuration whose policy.verification_key verifies --bundle")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return fmt.Errorf("%w: policy test: %v", errUsage, err)
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("%w: policy test: at most one directory; got %d arguments", errUsage, fs.NArg())
	}
	src := policy.EmbeddedSource(policies.FS)
	switch {
	case fs.NArg() == 1 && *bundleFile != "":
		return fmt.Errorf("%w: policy test: give a directory or --bundle, not both", errUsage)
	case fs.NArg() == 1:
		dir := fs.Arg(0)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("policy test: %s is not a directory", dir)
		}
		src = policy.DirSource(dir)
	case *bundleFile != "":
		if *cfgPath == "" {
			return fmt.Errorf("%w: policy test: --bundle needs --config for the verification key", errUsage)
		}
		cfg, err := loadPolicyConfig(*cfgPath)
		if err != nil {
			return err
		}
		if cfg.Policy.VerificationKey == "" {
			return fmt.Errorf("policy test: %s sets no policy.verification_key", *cfgPath)
		}
		key, err := cfg.Policy.LoadVerificationKey(cfg.Path)
		if err != nil {
			return fmt.Errorf("policy test: policy.verification_key: %w", err)
		}
		src = policy.BundleSource(*bundleFile, policy.VerificationConfig(cfg.Policy.VerificationKeyID, key.PEM, key.Algorithm))
	}
	rep, err := policy.RunTests(ctx, src)
	if err != nil {
		return fmt.Errorf("policy test: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := printTestReport(stdout, src, rep, *verbose); err != nil {
		return err
	}
	if !rep.OK() {
		if rep.Passed+rep.Failed == 0 {
			return errors.New("policy test: no tests found")
		}
		return fmt.Errorf("policy test: %d of %d tests failed", rep.Failed, rep.Passed+rep.Failed)
	}
	return nil
}

func printTestReport(w io.Writer, src policy.Source, rep *policy.TestReport, verbose bool) error {
	p := &printer{w: w}
	p.printf("policy %s, revision %s\n\n", src, rep.Revision)
	for _, r := range rep.Results {
		status := "PASS"
		switch {
		case r.Skip:
			status = "SKIP"
		case r.Error != "":
			status = "ERROR"
		case !r.Pass:
			status = "FAIL"
		}
		if status == "PASS" && !verbose {
			continue
		}
		p.printf("%-5s %s.%s  (%s)\n", status, r.Package, r.Name, strings.TrimPrefix(r.Location, "/"))
		if r.Error != "" {
			p.printf("      %s\n", r.Error)
		}
	}
	if verbose || rep.Failed > 0 {
		p.println()
	}
	p.printf("%d passed, %d failed, %d skipped\n", rep.Passed, rep.Failed, rep.Skipped)
	p.printf("coverage %.1f%% of policy lines:", rep.Coverage)
	files := make([]string, 0, len(rep.Files))
	for f := range rep.Files {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		p.printf(" %s %.1f%%", strings.TrimPrefix(f, "/"), rep.Files[f])
	}
	p.println()
	return p.err
}

// addPolicy builds the policy engine, fills its registers from the store
// once, and polls the policy sources for changes while the gateway runs.
func addPolicy(ctx context.Context, cfg *config.Config, logger *slog.Logger, deps *server.Deps) error {
	if cfg.Policy.HTTPMode() {
		return addHTTPPolicy(ctx, cfg, logger, deps)
	}
	engine, err := policy.FromConfig(ctx, cfg.Policy, cfg.Path, logger)
	if err != nil {
		return err
	}
	go engine.Watch(ctx, cfg.Policy.ReloadInterval)
	deps.Policy = engine
	return nil
}

// evalOutput is what "ura policy eval" prints.
type evalOutput struct {
	DecisionID string     `json:"decision_id"`
	Revision   string     `json:"revision"`
	Member     string     `json:"member"`
	Registered bool       `json:"registered"`
	Action     string     `json:"action"`
	Record     evalRecord `json:"record"`
	Allow      bool       `json:"allow"`
	Redact     []string   `json:"redact"`
	// Redactions are Redact with the rule that removed each pointer.
	Redactions []verdict.Redaction `json:"redactions"`
	Reasons    []verdict.Reason    `json:"reasons"`
}

type evalRecord struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Version int    `json:"version"`
}

func runPolicyEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy eval",
		"ura policy eval --member ID --action push|pull --record FILE [--previous FILE]\n"+
			"                       [--registers FILE] [--config FILE | --nation N --kind K --clearance C]\n\n"+
			"Decides one record as the gateway would and prints the decision as JSON:\n"+
			"allow, the JSON pointers redacted, and every reason with its code. The\n"+
			"record is validated first, as the gateway does before asking the policy.\n"+
			"With --config the member comes from its registry (an unknown ID is decided\n"+
			"as an unregistered caller) and the policy from policy.dir / policy.bundle;\n"+
			"without it the embedded policy decides for the caller the flags describe.\n"+
			"Licence checks read the registers: pass the licence, entities and excluded\n"+
			"entities the decision depends on with --registers.",
		"ura policy eval --config deploy/dev/ura.yaml --member AL/GOV/DPD --action push --record export.json --registers licence.json",
		stderr)
	member := fs.String("member", "", "member ID of the caller, e.g. AL/GOV/DPD")
	action := fs.String("action", "", "push or pull")
	recordFile := fs.String("record", "", "the record (one JSON object)")
	previousFile := fs.String("previous", "", "the stored version a push replaces (for the label downgrade check)")
	registersFile := fs.String("registers", "", "records (JSON array or NDJSON) to load into the registers first")
	cfgPath := fs.String("config", "", "gateway configuration: member registry and policy source")
	nation := fs.String("nation", "", "without --config: the caller's nation (ISO alpha-3, NATO or EU)")
	kind := fs.String("kind", "", "without --config: agency|ministry|customs|partner|liaison|auditor|gateway")
	clearance := fs.String("clearance", "", "without --config: UNCLASSIFIED|RESTRICTED|CONFIDENTIAL|SECRET")
	roles := fs.String("roles", "", "without --config: comma-separated roles")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *member == "":
		return fmt.Errorf("%w: policy eval: --member is required", errUsage)
	case *action != string(policy.Push) && *action != string(policy.Pull):
		return fmt.Errorf("%w: policy eval: --action must be push or pull", errUsage)
	case *recordFile == "":
		return fmt.Errorf("%w: policy eval: --record is required", errUsage)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var (
		engine     *policy.OPA
		caller     identity.Member
		registered bool
		err        error
	)
	if *cfgPath != "" {
		if *nation != "" || *kind != "" || *clearance != "" || *roles != "" {
			return fmt.Errorf("%w: policy eval: with --config the member's attributes come from its registry", errUsage)
		}
		cfg, err := loadPolicyConfig(*cfgPath)
		if err != nil {
			return err
		}
		for _, m := range cfg.Members {
			if m.ID == *member {
				caller = identity.Member{ID: m.ID, Name: m.Name, Nation: m.Nation, Kind: m.Kind, Clearance: m.Clearance, Roles: m.Roles, Categories: m.Categories}
				registered = true
			}
		}
		if engine, err = policy.FromConfig(ctx, cfg.Policy, cfg.Path, logger); err != nil {
			return err
		}
	} else {
		if *nation == "" || *kind == "" || *clearance == "" {
			return fmt.Errorf("%w: policy eval: without --config give --nation, --kind and --clearance", errUsage)
		}
		caller = identity.Member{ID: *member, Nation: *nation, Kind: *kind, Clearance: *clearance, Roles: splitList(*roles)}
		registered = true
		if engine, err = policy.New(ctx, policy.Options{Logger: logger}); err != nil {
			return err
		}
	}
	rec, err := readOneRecord(*recordFile)
	if err != nil {
		return err
	}
	in := policy.Input{Action: policy.Action(*action), Record: rec}
	if registered {
		in.Caller = caller
	}
	if *previousFile != "" {
		if in.Previous, err = readOneRecord(*previousFile); err != nil {
			return err
		}
	}
	if in.Action == policy.Push {
		// The registers as a push would read them from a store holding
		// these records (registers.Of), narrowed to what rec refers to.
		overlay := registers.NewOverlay(nil)
		if *registersFile != "" {
			known, err := readRecords(*registersFile)
			if err != nil {
				return err
			}
			for _, r := range known {
				overlay.Apply(r)
			}
		}
		in.Registers = overlay.For(rec)
	}
	d := engine.Decide(ctx, in)
	out := evalOutput{
		DecisionID: d.ID, Revision: d.Revision, Member: *member, Registered: registered, Action: *action,
		Record: evalRecord{Kind: rec.Kind, ID: rec.ID, Version: rec.Version},
		Allow:  d.Allow, Redact: d.Redact, Redactions: d.Redactions, Reasons: d.Reasons,
	}
	if out.Redact == nil {
		out.Redact = []string{}
	}
	if out.Redactions == nil {
		out.Redactions = []verdict.Redaction{}
	}
	if out.Reasons == nil {
		out.Reasons = []verdict.Reason{}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// loadPolicyConfig loads a gateway configuration for its members and policy
// section only: a security officer's copy may lack the Vault token or Redis
// password files the gateway itself needs.
func loadPolicyConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, indentErrors("invalid configuration", err)
	}
	var relevant []error
	if err := cfg.Validate(); err != nil {
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			var fe *config.FieldError
			if !errors.As(e, &fe) || strings.HasPrefix(fe.Path, "policy") || strings.HasPrefix(fe.Path, "members") {
				relevant = append(relevant, e)
			}
		}
	}
	if len(relevant) > 0 {
		return nil, indentErrors("invalid configuration "+path, errors.Join(relevant...))
	}
	return cfg, nil
}

// evalLimits are generous: these are the operator's own files.
var evalLimits = records.Limits{MaxRecords: 100000, MaxDepth: 32, MaxStringLength: 1 << 16}

func readOneRecord(path string) (*records.Record, error) {
	recs, err := readRecords(path)
	if err != nil {
		return nil, err
	}
	if len(recs) != 1 {
		return nil, fmt.Errorf("%s: want one record, found %d", path, len(recs))
	}
	return recs[0], nil
}

// readRecords reads a JSON object, a JSON array or NDJSON of records and
// validates each as the gateway would.
func readRecords(path string) ([]*records.Record, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	body := bytes.TrimSpace(raw)
	format := records.FormatNDJSON
	switch {
	case bytes.HasPrefix(body, []byte("[")):
		format = records.FormatJSON
	case bytes.HasPrefix(body, []byte("{")) && json.Valid(body):
		// One pretty-printed object.
		body = append(append([]byte("["), body...), ']')
		format = records.FormatJSON
	}
	checked, err := records.DecodeBatch(body, format, evalLimits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make([]*records.Record, 0, len(checked))
	for _, c := range checked {
		if !c.Valid() {
			var b strings.Builder
			for _, fe := range c.Errors {
				fmt.Fprintf(&b, "\n  %s: %s", fe.Pointer, fe.Detail)
			}
			return nil, fmt.Errorf("%s: record %d (%s) is invalid; the gateway refuses it before policy:%s", path, c.Index+1, c.ID, b.String())
		}
		out = append(out, c.Record)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
