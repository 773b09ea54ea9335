package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ura-gateway/ura/certs/devpki"
	"github.com/ura-gateway/ura/gateway/identity"
)

const certsDefaultDir = "var/pki"

var certsCommands = []struct{ name, summary string }{
	{"init", "create a development PKI: CAs, server, member and test certificates, CRL"},
	{"issue", "issue a client certificate for a member"},
	{"revoke", "revoke a certificate and re-sign the CRL"},
	{"crl", "re-sign the CRL with a new number and next update"},
}

func certsCommandNames() string {
	names := make([]string, len(certsCommands))
	for i, c := range certsCommands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

func certsUsage(w io.Writer) {
	note(w, "Usage: ura certs <command> [flags]\n\n")
	note(w, "Manage the development PKI: a root and an issuing CA, the gateway's serving\n")
	note(w, "certificate, member client certificates (identity in the SAN URI\n")
	note(w, "%s<ID>) and the CRL. Keys are unprotected files: not for production.\n\n", identity.MemberURIPrefix)
	note(w, "Commands:\n")
	for _, c := range certsCommands {
		note(w, "  %-8s %s\n", c.name, c.summary)
	}
	note(w, "\nRun \"ura certs <command> --help\" for a command's flags.\n")
}

// runCerts implements "ura certs".
func runCerts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		certsUsage(stderr)
		return fmt.Errorf("certs: missing command; want one of: %s", certsCommandNames())
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		certsUsage(stdout)
		return nil
	case "init":
		return runCertsInit(args[1:], stdout, stderr)
	case "issue":
		return runCertsIssue(args[1:], stdout, stderr)
	case "revoke":
		return runCertsRevoke(args[1:], stdout, stderr)
	case "crl":
		return runCertsCRL(args[1:], stdout, stderr)
	default:
		return fmt.Errorf("certs: unknown command %q; want one of: %s", args[0], certsCommandNames())
	}
}

// certsFlagSet builds a subcommand's flag set whose usage is head, the flag
// list, then example.
func certsFlagSet(name, head, example string) *flag.FlagSet {
	fs := flag.NewFlagSet("ura certs "+name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		note(w, "%s\nFlags:\n", head)
		fs.PrintDefaults()
		note(w, "\nExample:\n%s", example)
	}
	return fs
}

// certsParse parses args. Output is silenced while parsing so that an
// explicit --help goes to stdout (it is what the user asked for) while a
// mistake prints the usage to stderr and comes back as an error for the
// caller to report once. help reports that the caller should stop without
// error.
func certsParse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (help bool, err error) {
	fs.SetOutput(io.Discard)
	err = fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return true, nil
	case err != nil:
		fs.SetOutput(stderr)
		fs.Usage()
		return false, fmt.Errorf("%s: %w", fs.Name(), err)
	case fs.NArg() > 0:
		fs.SetOutput(stderr)
		fs.Usage()
		return false, fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return false, nil
}

func runCertsInit(args []string, stdout, stderr io.Writer) error {
	fs := certsFlagSet("init",
		"Usage: ura certs init [--dir DIR] [--force]\n\n"+
			"Create a development PKI in DIR: root and issuing CAs, a serving certificate\n"+
			"for localhost, a separate Italian partner CA, client certificates for\n"+
			"AL/GOV/AIM, AL/GOV/MOD, AL/GOV/DPD, NATO/ORG/LIAISON, AL/GOV/AUDIT and\n"+
			"IT/GOV/MOD, revoked/expired/rogue test certificates, and a CRL.\n"+
			"DIR/README.txt describes every file.\n",
		"  ura certs init --dir var/pki\n")
	dir := fs.String("dir", certsDefaultDir, "directory to create the PKI in (created with mode 0700)")
	force := fs.Bool("force", false, "replace an existing PKI in the directory; every certificate issued from it stops verifying")
	if help, err := certsParse(fs, args, stdout, stderr); help || err != nil {
		return err
	}
	if err := devpki.Init(devpki.InitOptions{Dir: *dir, Force: *force, Out: stdout}); err != nil {
		return err
	}
	_, err := fmt.Fprintf(stdout, "dev PKI ready in %s; trust anchor: %s\n", *dir, filepath.Join(*dir, "ca.crt"))
	return err
}

func runCertsIssue(args []string, stdout, stderr io.Writer) error {
	fs := certsFlagSet("issue",
		"Usage: ura certs issue --member ID [--dir DIR] [--ca intermediate|it] [--validity D] [--out PREFIX]\n\n"+
			"Issue a client certificate for member ID (INSTANCE/CLASS/CODE, e.g. AL/GOV/AIM)\n"+
			"from a dev CA. The identity is the single SAN URI "+identity.MemberURIPrefix+"ID; the\n"+
			"certificate file holds the leaf then its intermediates. An existing file at\n"+
			"the same path is replaced.\n",
		"  ura certs issue --member XKX/GOV/MOD\n"+
			"  ura certs issue --member IT/GOV/DIFESA --ca it --validity 720h --out var/pki/clients/it-difesa\n")
	member := fs.String("member", "", "member `ID` to issue for, INSTANCE/CLASS/CODE (required)")
	dir := fs.String("dir", certsDefaultDir, "dev PKI directory made by \"ura certs init\"")
	ca := fs.String("ca", devpki.CAIntermediate, "issuing CA: \"intermediate\" (the dev issuing CA) or \"it\" (the Italian partner CA)")
	validity := fs.Duration("validity", 8760*time.Hour, "lifetime of the certificate from now")
	out := fs.String("out", "", "write `PREFIX`.crt and PREFIX.key (default DIR/clients/<ID with / replaced by _>)")
	if help, err := certsParse(fs, args, stdout, stderr); help || err != nil {
		return err
	}
	if *member == "" {
		return errors.New("certs issue: --member is required, e.g. --member AL/GOV/AIM")
	}
	certPath, keyPath, err := devpki.IssueMember(devpki.IssueOptions{
		Dir: *dir, Member: *member, Out: *out, Validity: *validity, CA: *ca,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "issued %s (CA %q)\ncertificate: %s\nkey:         %s\n", *member, *ca, certPath, keyPath)
	return err
}

func runCertsRevoke(args []string, stdout, stderr io.Writer) error {
	fs := certsFlagSet("revoke",
		"Usage: ura certs revoke --cert FILE [--dir DIR] [--next-update D]\n\n"+
			"Revoke the certificate in FILE (first PEM block), which must have been issued\n"+
			"by the dev issuing CA: its serial is added to DIR/revoked.json and DIR/crl.pem\n"+
			"is re-signed with the next CRL number. Revoking twice changes nothing.\n",
		"  ura certs revoke --cert var/pki/clients/AL_GOV_DPD.crt\n")
	cert := fs.String("cert", "", "PEM `FILE` holding the certificate to revoke (required)")
	dir, next := crlFlags(fs)
	if help, err := certsParse(fs, args, stdout, stderr); help || err != nil {
		return err
	}
	if *cert == "" {
		return errors.New("certs revoke: --cert is required, e.g. --cert var/pki/clients/AL_GOV_DPD.crt")
	}
	if *next <= 0 {
		return fmt.Errorf("certs revoke: --next-update %s must be positive", *next)
	}
	if err := devpki.Revoke(devpki.RevokeOptions{Dir: *dir, CertFile: *cert, NextUpdate: *next, Out: stdout}); err != nil {
		return err
	}
	return nil
}

// crlFlags are the flags of every command that signs a new CRL.
func crlFlags(fs *flag.FlagSet) (dir *string, next *time.Duration) {
	dir = fs.String("dir", certsDefaultDir, "dev PKI directory made by \"ura certs init\"")
	next = fs.Duration("next-update", 7*24*time.Hour, "how long the new CRL stays current; verifiers fail closed after it")
	return dir, next
}

func runCertsCRL(args []string, stdout, stderr io.Writer) error {
	fs := certsFlagSet("crl",
		"Usage: ura certs crl [--dir DIR] [--next-update D]\n\n"+
			"Re-sign DIR/crl.pem with the same revoked serials, the next CRL number and a\n"+
			"new next update. Run it before the current CRL's next update passes: a gateway\n"+
			"holding a stale CRL refuses every client of that CA.\n",
		"  ura certs crl --dir var/pki --next-update 24h\n")
	dir, next := crlFlags(fs)
	if help, err := certsParse(fs, args, stdout, stderr); help || err != nil {
		return err
	}
	if *next <= 0 {
		return fmt.Errorf("certs crl: --next-update %s must be positive", *next)
	}
	if err := devpki.RefreshCRL(*dir, *next); err != nil {
		return err
	}
	path := filepath.Join(*dir, "crl.pem")
	number, nextUpdate, err := certsCRLInfo(path)
	if err != nil {
		return fmt.Errorf("certs crl: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "re-signed %s: CRL number %s, next update %s\n", path, number, nextUpdate.Format(time.RFC3339))
	return err
}

// certsCRLInfo reads back what was written, so the message reports the file
// as a verifier will see it.
func certsCRLInfo(path string) (number string, nextUpdate time.Time, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", time.Time{}, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return "", time.Time{}, fmt.Errorf("%s: no PEM block", path)
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: %w", path, err)
	}
	return crl.Number.String(), crl.NextUpdate, nil
}
