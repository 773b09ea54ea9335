package devpki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/identity"
)

// devTestInit creates a dev PKI in a fresh directory.
func devTestInit(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	var out bytes.Buffer
	if err := Init(InitOptions{Dir: dir, Out: &out}); err != nil {
		t.Fatal(err)
	}
	if out.Len() == 0 {
		t.Error("Init printed no progress")
	}
	return dir
}

// devTestVerify verifies the chain file against the root file the way the
// gateway does: the intermediates come from the presented chain only.
func devTestVerify(t *testing.T, chainFile, rootFile string, at time.Time, usage x509.ExtKeyUsage) (*x509.Certificate, error) {
	t.Helper()
	chain, err := certs.ReadCertsPEM(chainFile)
	if err != nil {
		t.Fatal(err)
	}
	rootCerts, err := certs.ReadCertsPEM(rootFile)
	if err != nil {
		t.Fatal(err)
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range rootCerts {
		roots.AddCert(c)
	}
	for _, c := range chain[1:] {
		if bytes.Equal(c.RawIssuer, c.RawSubject) {
			t.Errorf("%s carries a self-signed certificate", filepath.Base(chainFile))
		}
		inters.AddCert(c)
	}
	_, err = chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{usage}})
	return chain[0], err
}

func devTestCRL(t *testing.T, dir string) *x509.RevocationList {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "crl.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "X509 CRL" {
		t.Fatal("crl.pem has no X509 CRL block")
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := certs.ReadCertsPEM(filepath.Join(dir, "intermediate.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(inter[0]); err != nil {
		t.Fatalf("crl.pem signature does not verify against intermediate.crt: %v", err)
	}
	return crl
}

func devTestCRLHas(crl *x509.RevocationList, serial *big.Int) bool {
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(serial) == 0 {
			return true
		}
	}
	return false
}

func TestInitFiles(t *testing.T) {
	dir := devTestInit(t)
	files := map[string]os.FileMode{
		"root.crt": 0o644, "root.key": 0o600,
		"intermediate.crt": 0o644, "intermediate.key": 0o600,
		"ca.crt":     0o644,
		"server.crt": 0o644, "server.key": 0o600,
		"it-ca.crt": 0o644, "it-ca.key": 0o600,
		"it-server.crt": 0o644, "it-server.key": 0o600,
		"crl.pem": 0o644, "revoked.json": 0o644, "README.txt": 0o644,
	}
	for _, base := range []string{"AL_GOV_AIM", "AL_GOV_MOD", "AL_GOV_DPD", "NATO_ORG_LIAISON", "AL_GOV_AUDIT", "AL_GOV_AUDIT2", "IT_GOV_MOD", "AL_GOV_URA", "IT_GOV_URA", "revoked", "expired", "rogue-it-claims-al"} {
		files["clients/"+base+".crt"] = 0o644
		files["clients/"+base+".key"] = 0o600
	}
	for name, want := range files {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	for _, d := range []string{".", "clients"} {
		fi, err := os.Stat(filepath.Join(dir, d))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("directory %s: mode %v (%v), want 0700", d, fi.Mode().Perm(), err)
		}
	}
	// No stray files: every file is described and none is half-written.
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if _, ok := files[filepath.ToSlash(rel)]; !ok {
			t.Errorf("unexpected file %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	root, _ := os.ReadFile(filepath.Join(dir, "root.crt"))
	anchor, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if !bytes.Equal(root, anchor) {
		t.Error("ca.crt is not the root certificate")
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "README.txt"))
	for _, name := range []string{"root.crt", "intermediate.crt", "ca.crt", "server.crt", "it-ca.crt", "crl.pem", "revoked.json", "rogue-it-claims-al", "expired", "revoked"} {
		if !strings.Contains(string(readme), name) {
			t.Errorf("README.txt does not describe %s", name)
		}
	}
	for _, name := range []string{"root.key", "intermediate.key", "it-ca.key", "server.key", "clients/AL_GOV_AIM.key"} {
		if _, err := certs.ReadKeyPEM(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestInitCertificates(t *testing.T) {
	dir := devTestInit(t)
	now := time.Now()
	ca, itCA := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "it-ca.crt")

	tests := []struct {
		file       string
		member     string // "" for the server certificate
		root       string // the root it must verify against
		wrongRoot  string // a root it must not verify against
		wantReason x509.InvalidReason
		expired    bool
	}{
		{file: "clients/AL_GOV_AIM.crt", member: "AL/GOV/AIM", root: ca, wrongRoot: itCA},
		{file: "clients/AL_GOV_MOD.crt", member: "AL/GOV/MOD", root: ca, wrongRoot: itCA},
		{file: "clients/AL_GOV_DPD.crt", member: "AL/GOV/DPD", root: ca, wrongRoot: itCA},
		{file: "clients/NATO_ORG_LIAISON.crt", member: "NATO/ORG/LIAISON", root: ca, wrongRoot: itCA},
		{file: "clients/AL_GOV_AUDIT.crt", member: "AL/GOV/AUDIT", root: ca, wrongRoot: itCA},
		{file: "clients/IT_GOV_MOD.crt", member: "IT/GOV/MOD", root: itCA, wrongRoot: ca},
		{file: "clients/AL_GOV_URA.crt", member: "AL/GOV/URA", root: ca, wrongRoot: itCA},
		{file: "clients/IT_GOV_URA.crt", member: "IT/GOV/URA", root: itCA, wrongRoot: ca},
		{file: "it-server.crt", root: itCA, wrongRoot: ca},
		{file: "clients/revoked.crt", member: "AL/GOV/MOD", root: ca, wrongRoot: itCA},
		{file: "clients/rogue-it-claims-al.crt", member: "AL/GOV/AIM", root: itCA, wrongRoot: ca},
		{file: "clients/expired.crt", member: "AL/GOV/AIM", root: ca, wrongRoot: itCA, expired: true},
		{file: "server.crt", root: ca, wrongRoot: itCA},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			usage := x509.ExtKeyUsageClientAuth
			if tt.member == "" {
				usage = x509.ExtKeyUsageServerAuth
			}
			leaf, err := devTestVerify(t, filepath.Join(dir, tt.file), tt.root, now, usage)
			if tt.expired {
				var invalid x509.CertificateInvalidError
				if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
					t.Errorf("Verify = %v, want Expired", err)
				}
				if !leaf.NotAfter.Before(now) {
					t.Errorf("NotAfter %s is not in the past", leaf.NotAfter)
				}
				// Inside its old validity it verifies: expiry is its only flaw.
				if _, err := devTestVerify(t, filepath.Join(dir, tt.file), tt.root, leaf.NotAfter.Add(-time.Minute), usage); err != nil {
					t.Errorf("does not verify inside its validity: %v", err)
				}
			} else if err != nil {
				t.Errorf("does not verify against %s: %v", filepath.Base(tt.root), err)
			}
			if _, err := devTestVerify(t, filepath.Join(dir, tt.file), tt.wrongRoot, leaf.NotAfter.Add(-time.Minute), usage); err == nil {
				t.Errorf("verifies against %s too", filepath.Base(tt.wrongRoot))
			}

			if tt.member == "" {
				if err := leaf.VerifyHostname("localhost"); err != nil {
					t.Error(err)
				}
				for _, ip := range []string{"127.0.0.1", "::1"} {
					if err := leaf.VerifyHostname(ip); err != nil {
						t.Error(err)
					}
				}
				if len(leaf.URIs) != 0 {
					t.Errorf("server certificate carries URIs %v", leaf.URIs)
				}
				return
			}
			if leaf.Subject.CommonName != tt.member {
				t.Errorf("CN = %q, want %q", leaf.Subject.CommonName, tt.member)
			}
			if len(leaf.URIs) != 1 || leaf.URIs[0].String() != identity.MemberURI(tt.member) {
				t.Errorf("URIs = %v, want exactly [%s]", leaf.URIs, identity.MemberURI(tt.member))
			}
			if len(leaf.DNSNames) != 0 || len(leaf.IPAddresses) != 0 {
				t.Errorf("client certificate carries DNS %v / IP %v", leaf.DNSNames, leaf.IPAddresses)
			}
			if _, err := devTestVerify(t, filepath.Join(dir, tt.file), tt.root, leaf.NotAfter.Add(-time.Minute), x509.ExtKeyUsageServerAuth); err == nil {
				t.Error("client certificate verifies for server auth")
			}
		})
	}

	server, _ := certs.ReadCertsPEM(filepath.Join(dir, "server.crt"))
	if len(server) != 2 || server[1].Subject.CommonName != "ura dev issuing CA" {
		t.Errorf("server.crt holds %d certificates, want leaf + intermediate", len(server))
	}
	if !server[0].IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) && !server[0].IPAddresses[1].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("server IPs = %v", server[0].IPAddresses)
	}
}

func TestInitCRL(t *testing.T) {
	dir := devTestInit(t)
	crl := devTestCRL(t, dir)
	revoked, _ := certs.ReadCertsPEM(filepath.Join(dir, "clients/revoked.crt"))
	if !devTestCRLHas(crl, revoked[0].SerialNumber) {
		t.Error("crl.pem does not list clients/revoked.crt")
	}
	if len(crl.RevokedCertificateEntries) != 1 {
		t.Errorf("crl.pem lists %d certificates, want 1", len(crl.RevokedCertificateEntries))
	}
	for _, name := range []string{"AL_GOV_MOD", "AL_GOV_AIM"} {
		c, _ := certs.ReadCertsPEM(filepath.Join(dir, "clients", name+".crt"))
		if devTestCRLHas(crl, c[0].SerialNumber) {
			t.Errorf("crl.pem lists %s", name)
		}
	}
	if crl.Number.Int64() != 1 {
		t.Errorf("CRL number = %v, want 1", crl.Number)
	}
	if d := time.Until(crl.NextUpdate); d < 7*24*time.Hour-time.Hour || d > 7*24*time.Hour {
		t.Errorf("nextUpdate in %s, want 7 days", d)
	}
	root, _ := certs.ReadCertsPEM(filepath.Join(dir, "root.crt"))
	if err := crl.CheckSignatureFrom(root[0]); err == nil {
		t.Error("CRL verifies against the root; it must be the intermediate's")
	}
}

func TestInitFixedNow(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	if err := Init(InitOptions{Dir: dir, Now: now}); err != nil {
		t.Fatal(err)
	}
	crl := devTestCRL(t, dir)
	if !crl.ThisUpdate.Equal(now) || !crl.NextUpdate.Equal(now.Add(7*24*time.Hour)) {
		t.Errorf("CRL %s..%s, want from %s", crl.ThisUpdate, crl.NextUpdate, now)
	}
	if _, err := devTestVerify(t, filepath.Join(dir, "clients/AL_GOV_AIM.crt"), filepath.Join(dir, "ca.crt"), now, x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("AL/GOV/AIM does not verify at Now: %v", err)
	}
}

func TestInitRefusesOverwrite(t *testing.T) {
	dir := devTestInit(t)
	before, _ := os.ReadFile(filepath.Join(dir, "root.key"))

	err := Init(InitOptions{Dir: dir})
	if !errors.Is(err, ErrPKIExists) {
		t.Fatalf("second Init = %v, want ErrPKIExists", err)
	}
	if !strings.Contains(err.Error(), "force") {
		t.Errorf("error %q does not say how to override", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "root.key"))
	if !bytes.Equal(before, after) {
		t.Fatal("refused Init still changed root.key")
	}

	if err := Init(InitOptions{Dir: dir, Force: true}); err != nil {
		t.Fatalf("Init with Force: %v", err)
	}
	after, _ = os.ReadFile(filepath.Join(dir, "root.key"))
	if bytes.Equal(before, after) {
		t.Error("Init with Force kept the old root key")
	}
	if _, err := devTestVerify(t, filepath.Join(dir, "clients/AL_GOV_AIM.crt"), filepath.Join(dir, "ca.crt"), time.Now(), x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("after Force, clients do not chain to the new root: %v", err)
	}

	// A single leftover PKI file is enough to refuse.
	partial := t.TempDir()
	if err := os.WriteFile(filepath.Join(partial, "revoked.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Init(InitOptions{Dir: partial}); !errors.Is(err, ErrPKIExists) {
		t.Errorf("Init over a partial PKI = %v, want ErrPKIExists", err)
	}
	if err := Init(InitOptions{}); err == nil {
		t.Error("Init without a directory succeeded")
	}
}

func TestIssueMemberAndRevoke(t *testing.T) {
	dir := devTestInit(t)
	ca, itCA := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "it-ca.crt")

	tests := []struct {
		name     string
		opts     IssueOptions
		wantCert string
		root     string
		wantErr  string
	}{
		{name: "default path", opts: IssueOptions{Member: "XKX/GOV/MOD"}, wantCert: "clients/XKX_GOV_MOD.crt", root: ca},
		{name: "Italian CA", opts: IssueOptions{Member: "IT/GOV/DIFESA", CA: "it"}, wantCert: "clients/IT_GOV_DIFESA.crt", root: itCA},
		{name: "explicit out", opts: IssueOptions{Member: "AL/GOV/AIM", Out: "other/aim-2", Validity: time.Hour}, wantCert: "other/aim-2.crt", root: ca},
		{name: "bad member", opts: IssueOptions{Member: "al/gov/aim"}, wantErr: "INSTANCE/CLASS/CODE"},
		{name: "bad CA", opts: IssueOptions{Member: "AL/GOV/AIM", CA: "root"}, wantErr: "unknown dev CA"},
		{name: "negative validity", opts: IssueOptions{Member: "AL/GOV/AIM", Validity: -time.Hour}, wantErr: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Dir = dir
			if opts.Out != "" {
				opts.Out = filepath.Join(dir, opts.Out)
			}
			certPath, keyPath, err := IssueMember(opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("IssueMember = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(dir, tt.wantCert); certPath != want || keyPath != strings.TrimSuffix(want, ".crt")+".key" {
				t.Errorf("paths %s %s, want %s and .key", certPath, keyPath, want)
			}
			if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("key mode %v (%v), want 0600", fi.Mode().Perm(), err)
			}
			leaf, err := devTestVerify(t, certPath, tt.root, time.Now(), x509.ExtKeyUsageClientAuth)
			if err != nil {
				t.Fatal(err)
			}
			if len(leaf.URIs) != 1 || leaf.URIs[0].String() != identity.MemberURI(opts.Member) {
				t.Errorf("URIs = %v", leaf.URIs)
			}
			if opts.Validity > 0 {
				if d := time.Until(leaf.NotAfter); d > opts.Validity || d < opts.Validity-time.Minute {
					t.Errorf("expires in %s, want %s", d, opts.Validity)
				}
			}
			key, err := certs.ReadKeyPEM(keyPath)
			if err != nil {
				t.Fatal(err)
			}
			if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey) {
				t.Error("key does not match certificate")
			}
		})
	}

	// Round trip: issue, revoke, find it in a newer CRL; revoking again
	// changes nothing.
	certPath, _, err := IssueMember(IssueOptions{Dir: dir, Member: "AL/GOV/DPD", Out: filepath.Join(dir, "dpd-2")})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := certs.ReadCertsPEM(certPath)
	old := devTestCRL(t, dir)
	var out bytes.Buffer
	if err := Revoke(RevokeOptions{Dir: dir, CertFile: certPath, Out: &out}); err != nil {
		t.Fatal(err)
	}
	crl := devTestCRL(t, dir)
	if !devTestCRLHas(crl, leaf[0].SerialNumber) {
		t.Fatal("revoked certificate is not in crl.pem")
	}
	for _, e := range old.RevokedCertificateEntries {
		if !devTestCRLHas(crl, e.SerialNumber) {
			t.Errorf("earlier entry %x dropped", e.SerialNumber)
		}
	}
	if crl.Number.Cmp(old.Number) <= 0 {
		t.Errorf("CRL number %v did not grow past %v", crl.Number, old.Number)
	}
	if !strings.Contains(out.String(), "revoked") {
		t.Errorf("Revoke printed %q", out.String())
	}
	before, _ := os.ReadFile(filepath.Join(dir, "crl.pem"))
	out.Reset()
	if err := Revoke(RevokeOptions{Dir: dir, CertFile: certPath, Out: &out}); err != nil {
		t.Fatalf("second Revoke: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "crl.pem"))
	if !bytes.Equal(before, after) {
		t.Error("second Revoke rewrote crl.pem")
	}
	if !strings.Contains(out.String(), "already revoked") {
		t.Errorf("second Revoke printed %q, want an 'already revoked' message", out.String())
	}

	// Only the intermediate's certificates can go into its CRL.
	for _, name := range []string{"clients/IT_GOV_MOD.crt", "clients/rogue-it-claims-al.crt", "intermediate.crt", "root.crt"} {
		err := Revoke(RevokeOptions{Dir: dir, CertFile: filepath.Join(dir, name)})
		if err == nil || !strings.Contains(err.Error(), "not issued by") {
			t.Errorf("Revoke(%s) = %v, want 'not issued by'", name, err)
		}
	}
	if err := Revoke(RevokeOptions{Dir: dir, CertFile: filepath.Join(dir, "missing.crt")}); err == nil {
		t.Error("Revoke of a missing file succeeded")
	}
}

func TestRefreshCRL(t *testing.T) {
	dir := devTestInit(t)
	old := devTestCRL(t, dir)
	if err := RefreshCRL(dir, time.Hour); err != nil {
		t.Fatal(err)
	}
	crl := devTestCRL(t, dir)
	if crl.Number.Int64() != old.Number.Int64()+1 {
		t.Errorf("CRL number %v, want %v", crl.Number, old.Number.Int64()+1)
	}
	if d := time.Until(crl.NextUpdate); d > time.Hour || d < 59*time.Minute {
		t.Errorf("nextUpdate in %s, want 1h", d)
	}
	if len(crl.RevokedCertificateEntries) != len(old.RevokedCertificateEntries) ||
		!crl.RevokedCertificateEntries[0].RevocationTime.Equal(old.RevokedCertificateEntries[0].RevocationTime) {
		t.Error("refresh changed the entries")
	}
	if err := RefreshCRL(dir, -time.Hour); err == nil {
		t.Error("RefreshCRL with a negative next update succeeded")
	}
	if err := RefreshCRL(t.TempDir(), 0); err == nil {
		t.Error("RefreshCRL without a PKI succeeded")
	}
}
