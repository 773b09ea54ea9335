package devpki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/identity"
)

// Files of a dev PKI directory. Other parts of ura (example configs, tests)
// refer to these names, so they are part of the layout, not a detail.
const (
	devRootCert         = "root.crt"
	devRootKey          = "root.key"
	devIntermediateCert = "intermediate.crt"
	devIntermediateKey  = "intermediate.key"
	devTrustAnchor      = "ca.crt"
	devServerCert       = "server.crt"
	devServerKey        = "server.key"
	devItalianServer    = "it-server"
	devItalianCert      = "it-ca.crt"
	devItalianKey       = "it-ca.key"
	devCRL              = "crl.pem"
	devRevokedState     = "revoked.json"
	devReadme           = "README.txt"
	devClientsDir       = "clients"
)

// Lifetimes of the dev PKI. The CAs are backdated by a week so that the
// expired fixture lies inside its issuer's validity: the only thing wrong
// with it is its own expiry, which is what a test of that case wants.
const (
	devBackdate             = 7 * 24 * time.Hour
	devRootValidity         = 10 * 365 * 24 * time.Hour
	devIntermediateValidity = 5 * 365 * 24 * time.Hour
	devCRLNextUpdate        = 7 * 24 * time.Hour
)

// Which dev CA signs a member certificate (IssueOptions.CA).
const (
	CAIntermediate = "intermediate"
	CAItalian      = "it"
)

// devMembers are issued on init; each gets clients/<ID_>.crt|key.
var devMembers = []struct {
	id string
	ca string
}{
	{"AL/GOV/AIM", CAIntermediate},
	{"AL/GOV/MOD", CAIntermediate},
	{"AL/GOV/DPD", CAIntermediate},
	{"NATO/ORG/LIAISON", CAIntermediate},
	{"AL/GOV/AUDIT", CAIntermediate},
	// The second security officer: a release by two-person authority needs
	// two officers' approvals (deploy/dev/ura.yaml, make demo).
	{"AL/GOV/AUDIT2", CAIntermediate},
	{"IT/GOV/MOD", CAItalian},
	// The two dev gateways' member certificates at each other: Albania's
	// (sign.member AL/GOV/URA) presents AL_GOV_URA at Italy's, Italy's
	// (IT/GOV/URA) presents IT_GOV_URA at Albania's.
	{"AL/GOV/URA", CAIntermediate},
	{"IT/GOV/URA", CAItalian},
}

// ErrPKIExists is returned by Init when Dir already holds a PKI and Force
// is not set: replacing the CAs silently would orphan every certificate
// already handed out from them.
var ErrPKIExists = errors.New("directory already holds a PKI")

// devPKIMu serialises read-modify-write of revoked.json within a process, so
// two revocations cannot both read CRL number n and lose one entry.
var devPKIMu sync.Mutex

// InitOptions configures Init.
type InitOptions struct {
	// Dir receives the PKI; it is created with mode 0700.
	Dir string
	// Force replaces an existing PKI in Dir.
	Force bool
	// Now is the reference time for every validity period; zero means
	// time.Now. Fixing it makes fixtures reproducible in tests.
	Now time.Time
	// Out receives one progress line per group of files; nil discards them.
	Out io.Writer
}

// Init creates a complete development PKI in opts.Dir: a root and an
// issuing intermediate, a serving certificate for localhost, a separate
// Italian partner root, member client certificates, and the negative
// fixtures (revoked, expired, a foreign CA claiming an Albanian member) that
// the gateway's security tests need. README.txt in Dir describes every file.
func Init(opts InitOptions) (err error) {
	if opts.Dir == "" {
		return errors.New("init dev PKI: no directory given")
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("init dev PKI in %s: %w", opts.Dir, err)
		}
	}()
	dir := opts.Dir
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	if !opts.Force {
		if name, err := devExistingFile(dir); err != nil {
			return err
		} else if name != "" {
			return fmt.Errorf("%w (%s exists); set force (--force) to replace it and invalidate every certificate issued from it",
				ErrPKIExists, name)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, devClientsDir), 0o700); err != nil {
		return err
	}
	caNotBefore := now.Add(-devBackdate)
	leafNotBefore, leafNotAfter := now.Add(-certs.ClockSkew), now.Add(certs.DefaultLeafValidity)
	w := devWriter{dir: dir, out: out}

	root, err := certs.NewRootCABetween("ura dev root CA", caNotBefore, now.Add(devRootValidity))
	if err != nil {
		return err
	}
	w.cert(devRootCert, root.Cert)
	w.key(devRootKey, root.Key)
	w.cert(devTrustAnchor, root.Cert)
	w.done("root CA (ca.crt = trust anchor)")

	// Both dev gateways serve on the loopback under the name localhost.
	localServer := certs.LeafOptions{
		CommonName:  "localhost",
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:   leafNotBefore,
		NotAfter:    leafNotAfter,
		Server:      true,
	}
	inter, err := root.NewIntermediateBetween("ura dev issuing CA", caNotBefore, now.Add(devIntermediateValidity))
	if err != nil {
		return err
	}
	w.cert(devIntermediateCert, inter.Cert)
	w.key(devIntermediateKey, inter.Key)
	w.done("issuing CA")

	server, err := inter.Issue(localServer)
	if err != nil {
		return err
	}
	w.leaf("server", server)
	w.done("server certificate")

	italy, err := certs.NewRootCABetween("Italian partner CA (dev)", caNotBefore, now.Add(devRootValidity))
	if err != nil {
		return err
	}
	w.cert(devItalianCert, italy.Cert)
	w.key(devItalianKey, italy.Key)
	w.done("Italian partner CA")

	// Italy's dev gateway (deploy/dev/peer.yaml) serves with a certificate
	// of its own nation's CA: Albania's gateway verifies it with it-ca.crt.
	itServer, err := italy.Issue(localServer)
	if err != nil {
		return err
	}
	w.leaf(devItalianServer, itServer)
	w.done("Italian gateway's server certificate")

	cas := map[string]*certs.CA{CAIntermediate: inter, CAItalian: italy}
	for _, m := range devMembers {
		leaf, err := cas[m.ca].Issue(memberLeafOptions(m.id, leafNotBefore, leafNotAfter))
		if err != nil {
			return err
		}
		w.leaf(filepath.Join(devClientsDir, memberFileBase(m.id)), leaf)
	}
	w.done("member certificates")

	revoked, err := inter.Issue(memberLeafOptions("AL/GOV/MOD", leafNotBefore, leafNotAfter))
	if err != nil {
		return err
	}
	w.leaf(filepath.Join(devClientsDir, "revoked"), revoked)
	expired, err := inter.Issue(memberLeafOptions("AL/GOV/AIM", now.Add(-72*time.Hour), now.Add(-24*time.Hour)))
	if err != nil {
		return err
	}
	w.leaf(filepath.Join(devClientsDir, "expired"), expired)
	rogue, err := italy.Issue(memberLeafOptions("AL/GOV/AIM", leafNotBefore, leafNotAfter))
	if err != nil {
		return err
	}
	w.leaf(filepath.Join(devClientsDir, "rogue-it-claims-al"), rogue)
	w.done("negative test certificates")
	if w.err != nil {
		return w.err
	}

	state := &devRevocations{Revoked: []devRevokedEntry{{
		Serial:  revoked.Cert.SerialNumber.Text(16),
		At:      now.UTC().Truncate(time.Second),
		Subject: revoked.Cert.Subject.CommonName,
		File:    filepath.Join(devClientsDir, "revoked.crt"),
	}}}
	if err := writeDevCRL(dir, inter, state, now, devCRLNextUpdate); err != nil {
		return err
	}
	w.progress("%-30s %s, %s\n", "CRL (next update in 7 days)", filepath.Join(dir, devCRL), filepath.Join(dir, devRevokedState))

	if err := certs.WriteFileAtomic(filepath.Join(dir, devReadme), []byte(devReadmeText(now)), 0o644); err != nil {
		return err
	}
	w.progress("%-30s %s\n", "description of every file", filepath.Join(dir, devReadme))
	return w.outErr
}

func memberLeafOptions(id string, notBefore, notAfter time.Time) certs.LeafOptions {
	return certs.LeafOptions{
		CommonName: id,
		URIs:       []string{identity.MemberURI(id)},
		NotBefore:  notBefore,
		NotAfter:   notAfter,
		Client:     true,
	}
}

// devExistingFile returns the name of the first PKI file found in dir, or ""
// when dir holds none (or does not exist).
func devExistingFile(dir string) (string, error) {
	for _, name := range []string{
		devRootCert, devRootKey, devIntermediateCert, devIntermediateKey, devTrustAnchor,
		devServerCert, devServerKey, devItalianCert, devItalianKey, devCRL, devRevokedState,
	} {
		_, err := os.Lstat(filepath.Join(dir, name))
		switch {
		case err == nil:
			return name, nil
		case !errors.Is(err, fs.ErrNotExist):
			return "", err
		}
	}
	return "", nil
}

// devWriter keeps the first write error so Init reads as the list of
// files it produces; progress lines report only what was really written.
type devWriter struct {
	dir     string
	out     io.Writer
	err     error
	outErr  error    // first failed progress line; the files are written regardless
	pending []string // files written since the last progress line
	stems   []string // leaves written since the last progress line
}

func (w *devWriter) cert(name string, chain ...*x509.Certificate) {
	if w.do(name, func(p string) error { return certs.WriteCertsPEM(p, chain...) }) {
		w.pending = append(w.pending, name)
	}
}

func (w *devWriter) key(name string, key crypto.Signer) {
	if w.do(name, func(p string) error { return certs.WriteKeyPEM(p, key) }) {
		w.pending = append(w.pending, name)
	}
}

// leaf writes stem.key, then stem.crt holding the chain: key first, so a
// reader never pairs a new certificate with an old key.
func (w *devWriter) leaf(stem string, l *certs.Leaf) {
	if w.do(stem+".key", func(p string) error { return certs.WriteKeyPEM(p, l.Key) }) &&
		w.do(stem+".crt", func(p string) error { return certs.WriteCertsPEM(p, l.Chain...) }) {
		w.stems = append(w.stems, stem)
	}
}

func (w *devWriter) do(name string, write func(path string) error) bool {
	if w.err == nil {
		w.err = write(filepath.Join(w.dir, name))
	}
	return w.err == nil
}

// progress writes a progress line, keeping the first write error for the end.
func (w *devWriter) progress(format string, args ...any) {
	if w.outErr == nil {
		_, w.outErr = fmt.Fprintf(w.out, format, args...)
	}
}

func (w *devWriter) done(what string) {
	if w.err != nil {
		return
	}
	var where string
	switch {
	case len(w.pending) > 0:
		where = filepath.Join(w.dir, devBraces(w.pending))
	case len(w.stems) > 0:
		// Leaves of one group share a directory; name it once.
		bases := make([]string, len(w.stems))
		for i, s := range w.stems {
			bases[i] = filepath.Base(s)
		}
		where = filepath.Join(w.dir, filepath.Dir(w.stems[0]), devBraces(bases)+".{crt,key}")
	default:
		return
	}
	w.progress("%-30s %s\n", what, where)
	w.pending, w.stems = nil, nil
}

func devBraces(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return "{" + strings.Join(names, ",") + "}"
}

// devRevocations is revoked.json: the source from which crl.pem is rebuilt.
// The CRL itself is not parsed back, so the list survives re-signing with a
// new number and keeps each entry's original revocation time.
type devRevocations struct {
	// CRLNumber is the number of the last CRL written.
	CRLNumber int64             `json:"crl_number"`
	Revoked   []devRevokedEntry `json:"revoked"`
}

type devRevokedEntry struct {
	// Serial is lowercase hexadecimal, as openssl prints it.
	Serial string    `json:"serial"`
	At     time.Time `json:"revoked_at"`
	// Subject and File only help a human reading the file.
	Subject string `json:"subject,omitempty"`
	File    string `json:"file,omitempty"`
}

func readDevRevocations(dir string) (*devRevocations, error) {
	p := filepath.Join(dir, devRevokedState)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read revocation list: %w", err)
	}
	var st devRevocations
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("parse %s: %w", p, err)
	}
	return &st, nil
}

// writeDevCRL signs the CRL for st with the next CRL number, then records
// st before replacing crl.pem: if the process stops in between, revoked.json
// still holds every entry and the next refresh publishes it with a higher
// number, never a lower one.
func writeDevCRL(dir string, issuer *certs.CA, st *devRevocations, now time.Time, nextUpdate time.Duration) error {
	if nextUpdate <= 0 {
		return fmt.Errorf("CRL next update %s must be positive", nextUpdate)
	}
	entries := make([]certs.Revoked, 0, len(st.Revoked))
	for _, e := range st.Revoked {
		serial, ok := new(big.Int).SetString(e.Serial, 16)
		if !ok {
			return fmt.Errorf("%s: bad serial %q", filepath.Join(dir, devRevokedState), e.Serial)
		}
		entries = append(entries, certs.Revoked{Serial: serial, At: e.At})
	}
	number := st.CRLNumber + 1
	der, err := issuer.CRL(number, entries, now, now.Add(nextUpdate))
	if err != nil {
		return err
	}
	st.CRLNumber = number
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := certs.WriteFileAtomic(filepath.Join(dir, devRevokedState), append(data, '\n'), 0o644); err != nil {
		return err
	}
	return certs.WriteCRLPEM(filepath.Join(dir, devCRL), der)
}

// loadDevCA loads one of the dev PKI's issuing CAs from dir and checks that
// its key belongs to its certificate, so a mixed-up directory fails here
// rather than producing certificates that verify against nothing.
func loadDevCA(dir, which string) (*certs.CA, error) {
	if which == "" {
		which = CAIntermediate
	}
	var certName, keyName string
	switch which {
	case CAIntermediate:
		certName, keyName = devIntermediateCert, devIntermediateKey
	case CAItalian:
		certName, keyName = devItalianCert, devItalianKey
	default:
		return nil, fmt.Errorf("unknown dev CA %q: want %q or %q", which, CAIntermediate, CAItalian)
	}
	found, err := certs.ReadCertsPEM(filepath.Join(dir, certName))
	if err != nil {
		return nil, fmt.Errorf("load dev CA %q: %w", which, err)
	}
	key, err := certs.ReadKeyPEM(filepath.Join(dir, keyName))
	if err != nil {
		return nil, fmt.Errorf("load dev CA %q: %w", which, err)
	}
	pub, ok := found[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("load dev CA %q: %s does not match %s", which, filepath.Join(dir, keyName), filepath.Join(dir, certName))
	}
	if !found[0].IsCA {
		return nil, fmt.Errorf("load dev CA %q: %s is not a CA certificate", which, filepath.Join(dir, certName))
	}
	// Roots never travel in a chain: the peer must already trust them.
	chain := slices.DeleteFunc(slices.Clone(found), isSelfSigned)
	return &certs.CA{Cert: found[0], Key: key, Chain: chain}, nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// IssueOptions configures IssueMember.
type IssueOptions struct {
	// Dir is the dev PKI directory made by Init.
	Dir string
	// Member is the member ID, INSTANCE/CLASS/CODE.
	Member string
	// Out is a path prefix: the files are Out+".crt" and Out+".key". Empty
	// means Dir/clients/<ID with / replaced by _>.
	Out string
	// Validity is the lifetime from now; zero means DefaultLeafValidity.
	Validity time.Duration
	// CA is CAIntermediate (default) or CAItalian.
	CA string
}

// IssueMember issues a client certificate for a member from one of the dev
// CAs and writes it (leaf plus intermediates) and its key. The key is
// written first, so a reader never pairs a new certificate with an old key.
// It does not check the member against the CA's allowed prefixes: that is
// the gateway's job, and tests need certificates that break the rule.
func IssueMember(opts IssueOptions) (certPath, keyPath string, err error) {
	defer func() {
		if err != nil {
			certPath, keyPath = "", ""
			err = fmt.Errorf("issue certificate for %q: %w", opts.Member, err)
		}
	}()
	if err := identity.ValidMemberID(opts.Member); err != nil {
		return "", "", err
	}
	if opts.Dir == "" {
		return "", "", errors.New("no PKI directory given")
	}
	if opts.Validity < 0 {
		return "", "", fmt.Errorf("negative validity %s", opts.Validity)
	}
	ca, err := loadDevCA(opts.Dir, opts.CA)
	if err != nil {
		return "", "", err
	}
	lo := memberLeafOptions(opts.Member, time.Time{}, time.Time{})
	if opts.Validity > 0 {
		now := time.Now()
		lo.NotBefore, lo.NotAfter = now.Add(-certs.ClockSkew), now.Add(opts.Validity)
	}
	leaf, err := ca.Issue(lo)
	if err != nil {
		return "", "", err
	}
	prefix := opts.Out
	if prefix == "" {
		prefix = filepath.Join(opts.Dir, devClientsDir, memberFileBase(opts.Member))
	}
	if err := os.MkdirAll(filepath.Dir(prefix), 0o700); err != nil {
		return "", "", err
	}
	certPath, keyPath = prefix+".crt", prefix+".key"
	if err := certs.WriteKeyPEM(keyPath, leaf.Key); err != nil {
		return "", "", err
	}
	if err := certs.WriteCertsPEM(certPath, leaf.Chain...); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// RevokeOptions configures Revoke.
type RevokeOptions struct {
	// Dir is the dev PKI directory made by Init.
	Dir string
	// CertFile holds the certificate to revoke (first PEM block; a chain
	// file is fine).
	CertFile string
	// NextUpdate is how long the new CRL stays current; zero means 7 days.
	NextUpdate time.Duration
	// Out receives a line saying what was done; nil discards it.
	Out io.Writer
}

// Revoke adds the certificate in opts.CertFile to the dev intermediate's
// revocation list and re-signs crl.pem with the next CRL number. Only
// certificates issued by the dev intermediate are accepted, since its CRL
// can speak for no other issuer. Revoking a certificate twice changes
// nothing and says so.
func Revoke(opts RevokeOptions) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("revoke %s: %w", opts.CertFile, err)
		}
	}()
	if opts.Dir == "" {
		return errors.New("no PKI directory given")
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	next := opts.NextUpdate
	if next == 0 {
		next = devCRLNextUpdate
	}
	found, err := certs.ReadCertsPEM(opts.CertFile)
	if err != nil {
		return err
	}
	cert := found[0]
	inter, err := loadDevCA(opts.Dir, CAIntermediate)
	if err != nil {
		return err
	}
	if !bytes.Equal(cert.RawIssuer, inter.Cert.RawSubject) || cert.CheckSignatureFrom(inter.Cert) != nil {
		return fmt.Errorf("%q was not issued by the dev issuing CA %s, whose CRL therefore cannot revoke it",
			cert.Subject.CommonName, filepath.Join(opts.Dir, devIntermediateCert))
	}

	devPKIMu.Lock()
	defer devPKIMu.Unlock()
	st, err := readDevRevocations(opts.Dir)
	if err != nil {
		return err
	}
	serial := cert.SerialNumber.Text(16)
	for _, e := range st.Revoked {
		if strings.EqualFold(e.Serial, serial) {
			_, err := fmt.Fprintf(out, "%s (serial %s) is already revoked; %s unchanged\n", opts.CertFile, serial, devCRL)
			return err
		}
	}
	now := time.Now()
	st.Revoked = append(st.Revoked, devRevokedEntry{
		Serial:  serial,
		At:      now.UTC().Truncate(time.Second),
		Subject: cert.Subject.CommonName,
		File:    opts.CertFile,
	})
	if err := writeDevCRL(opts.Dir, inter, st, now, next); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "revoked %s (serial %s); %s is now CRL number %d\n",
		opts.CertFile, serial, filepath.Join(opts.Dir, devCRL), st.CRLNumber)
	return err
}

// RefreshCRL re-signs crl.pem with the same entries, a new CRL number and a
// nextUpdate of now+nextUpdate (7 days if zero). A CRL must be re-issued
// before its nextUpdate or verifiers fail closed; tests also use it to
// rotate the CRL under a running gateway.
func RefreshCRL(dir string, nextUpdate time.Duration) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("refresh CRL in %s: %w", dir, err)
		}
	}()
	if nextUpdate == 0 {
		nextUpdate = devCRLNextUpdate
	}
	inter, err := loadDevCA(dir, CAIntermediate)
	if err != nil {
		return err
	}
	devPKIMu.Lock()
	defer devPKIMu.Unlock()
	st, err := readDevRevocations(dir)
	if err != nil {
		return err
	}
	if err := writeDevCRL(dir, inter, st, time.Now(), nextUpdate); err != nil {
		return err
	}
	return nil
}

func devReadmeText(now time.Time) string {
	return `ura development PKI, generated ` + now.UTC().Format(time.RFC3339) + `.
For development and tests only: every private key here is unprotected.

root.crt / root.key              "ura dev root CA", self-signed, may sign one intermediate level
ca.crt                           copy of root.crt: the trust anchor clients use for the server,
                                 and the gateway uses for AL/ and NATO/ members
intermediate.crt / .key          "ura dev issuing CA", signed by the root; signs server,
                                 member certificates and crl.pem
server.crt / server.key          serving certificate for localhost, 127.0.0.1 and ::1;
                                 server.crt holds the leaf then the intermediate
it-ca.crt / it-ca.key            "Italian partner CA (dev)", a separate self-signed root;
                                 the gateway should trust it for IT/ members only
it-server.crt / it-server.key    serving certificate of Italy's dev gateway (IT/GOV/URA,
                                 deploy/dev/peer.yaml, https://127.0.0.1:8444) for localhost,
                                 127.0.0.1 and ::1, from it-ca: Albania's gateway verifies
                                 it with it-ca.crt
clients/<ID>.crt / .key          member client certificates, "/" in the ID replaced by "_":
                                 AL_GOV_AIM, AL_GOV_MOD, AL_GOV_DPD, NATO_ORG_LIAISON,
                                 AL_GOV_AUDIT, AL_GOV_AUDIT2 and AL_GOV_URA from the
                                 intermediate,
                                 IT_GOV_MOD and IT_GOV_URA from it-ca;
                                 CN is the member ID, the identity is the single SAN URI
                                 urn:ura:member:<ID>; each .crt holds the leaf then its
                                 intermediates, never the root
clients/revoked.crt / .key       AL/GOV/MOD from the intermediate, listed in crl.pem
clients/expired.crt / .key       AL/GOV/AIM from the intermediate, validity entirely past
clients/rogue-it-claims-al.crt   issued by it-ca but claiming AL/GOV/AIM: a valid chain
  / .key                         that the CA prefix rule must refuse
clients/AL_GOV_URA.crt / .key   Albania's gateway (sign.member AL/GOV/URA) as a member of
                                 Italy's: what it forwards to Italy's gateway and how it
                                 reads Italy's signing keys
clients/IT_GOV_URA.crt / .key   Italy's gateway (IT/GOV/URA) as a member of Albania's,
                                 likewise
                                 The gateways' signing keys (JWKS) are read from each other
                                 over mutual TLS: sign.peers.<ID>.jwks_url
                                 https://127.0.0.1:8443/.well-known/jwks.json (Albania's,
                                 verified with ca.crt) and https://127.0.0.1:8444/... (Italy's,
                                 verified with it-ca.crt); nothing to copy
crl.pem                          CRL signed by the intermediate; nextUpdate 7 days after
                                 signing; re-sign with "ura certs crl"
revoked.json                     revoked serials (hex) and the last CRL number, from which
                                 crl.pem is rebuilt by "ura certs revoke" and "ura certs crl"

Keys are mode 0600, everything else 0644, directories 0700.
`
}

// memberFileBase turns a member ID into a file name: "/" would otherwise
// create nested directories under clients/.
func memberFileBase(id string) string {
	return strings.ReplaceAll(id, "/", "_")
}
