package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	storeopen "github.com/ura-gateway/ura/adapters/store/open"
	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/report"
	"github.com/ura-gateway/ura/gateway/server"
)

func reportUsage(w io.Writer) {
	note(w, "%s", `Usage: ura report att --year YEAR [--format csv|json|pdf|text] [--config FILE] [--out FILE] [--sign]

Reports built from the register store:
  att   the Arms Trade Treaty annual report (art. 13(3)) of a calendar year

Run 'ura report att --help' for its flags.
`)
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		reportUsage(stdout)
		if len(args) == 0 {
			return fmt.Errorf("%w: report: name a report (att)", errUsage)
		}
		return errHelp
	}
	if args[0] != "att" {
		return fmt.Errorf("%w: report: unknown report %q; reports: att", errUsage, args[0])
	}
	return runReportATT(ctx, args[1:], stdout, stderr)
}

// runReportATT builds the ATT annual report from the store the
// configuration names, read directly (the embedded store only while no
// gateway holds its file; PostgreSQL at any time), and writes it with its
// digest; --sign signs it with the gateway's Vault key as the route does.
func runReportATT(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	formats := strings.Join(slices.Sorted(maps.Keys(report.Formats)), "|")
	fs := newFlagSet("report att", "ura report att --year YEAR [--format "+formats+"] [--config FILE] [--out FILE] [--sign]",
		"ura report att --year 2026 --format pdf --config deploy/dev/ura.yaml --out att-2026.pdf", stderr)
	year := fs.Int("year", 0, "calendar year reported on (required)")
	format := fs.String("format", "text", "output format: "+formats)
	cfgPath := fs.String("config", "", "gateway configuration whose store is read (see deploy/ura.example.yaml)")
	out := fs.String("out", "", "write to this file instead of standard output")
	doSign := fs.Bool("sign", false, "sign the report's digest with the gateway's key (sign.* and vault.* of --config)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *year < report.MinYear || *year > report.MaxYear:
		return fmt.Errorf("%w: report att: --year must be a calendar year from %d to %d", errUsage, report.MinYear, report.MaxYear)
	case report.Formats[*format] == "":
		return fmt.Errorf("%w: report att: --format must be one of %s", errUsage, formats)
	case *cfgPath == "":
		return fmt.Errorf("%w: report att: --config is required (the store to read)", errUsage)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	opts, err := exchange.ReportOptions(*year)
	if err != nil {
		return err
	}
	st, err := storeopen.Open(ctx, cfg.Store, cfg.Path)
	if err != nil {
		return fmt.Errorf("report att: open the store: %w", err)
	}
	defer func() { _ = st.Close() }() // only read
	r, err := report.Build(ctx, exchange.ReportSource(st), opts)
	if err != nil {
		return err
	}
	var deps server.Deps
	if *doSign {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel() // ends the Vault login loop
		if _, err := addSigning(sctx, cfg, newLogger(cfg.Log, stderr), &deps); err != nil {
			return err
		}
		if deps.Signer == nil {
			return fmt.Errorf("report att: --sign needs vault.* in %s", *cfgPath)
		}
	}
	signed, _, err := report.Sign(ctx, deps.Signer, r, "", cfg.Sign.Issuer, time.Now())
	if err != nil {
		return fmt.Errorf("report att: sign: %w", err)
	}
	if *out == "" {
		return report.Write(stdout, signed, *format)
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := report.Write(f, signed, *format); err != nil {
		_ = f.Close() // the write already failed; that error is the one to report
		return err
	}
	return f.Close()
}
