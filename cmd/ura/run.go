package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strings"
)

var (
	// errHelp ends a command after it printed its help: exit 0.
	errHelp = errors.New("help requested")
	// errUsage marks a mistake in the command line: exit 2.
	errUsage = errors.New("usage")
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":   {"run the gateway", runServe},
		"certs":   {"create and manage the development PKI (init, issue, revoke, crl)", runCerts},
		"audit":   {"verify, export and summarize the tamper-evident audit log", runAudit},
		"policy":  {"test the Rego policy and explain a decision (test, eval)", runPolicy},
		"report":  {"build the Arms Trade Treaty annual report from the register (att)", runReport},
		"verify":  {"check the signatures on saved pulls, pages, push results or JWS against a JWKS", runVerify},
		"version": {"print the version", runVersion},
	}
}

const usageText = `ura — the secure data-exchange gateway between institutions.

Usage:
  ura <command> [flags]

Commands:
%s
Run 'ura <command> --help' for a command's flags.
`

// run is the whole program; main only maps its error to an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		note(stdout, usageText, commandList(cmds))
		if len(args) == 0 {
			return fmt.Errorf("%w: no command given", errUsage)
		}
		return errHelp
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		return fmt.Errorf("%w: unknown command %q; commands: %s", errUsage, args[0], strings.Join(sortedNames(cmds), ", "))
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

func commandList(cmds map[string]command) string {
	var b strings.Builder
	for _, name := range sortedNames(cmds) {
		fmt.Fprintf(&b, "  %-9s %s\n", name, cmds[name].summary)
	}
	return b.String()
}

func sortedNames(cmds map[string]command) []string {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// parseFlags parses with help and usage errors mapped to errHelp / errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return errHelp
	case err != nil:
		return fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
	case fs.NArg() > 0:
		return fmt.Errorf("%w: %s: unexpected argument %q", errUsage, fs.Name(), fs.Arg(0))
	}
	return nil
}

// newFlagSet returns a flag set whose --help prints synopsis, flags and example.
func newFlagSet(name, synopsis, example string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		note(out, "Usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
		if example != "" {
			note(out, "\nExample:\n  %s\n", example)
		}
	}
	return fs
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "ura version", "ura version", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, err := fmt.Fprintln(stdout, versionString())
	return err
}

func versionString() string {
	v, rev, dirty := "(devel)", "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		return fmt.Sprintf("ura %s (revision %s%s, %s)", v, rev, dirty, bi.GoVersion)
	}
	return "ura " + v
}
