package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/certs/devpki"
	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/server"
	"github.com/ura-gateway/ura/gateway/sign"
)

// TestAddOutbox: serve opens the outbox with everything it decides, audits
// and verifies with (the registry, store, policy, audit log, signer, the
// peers' JWKS and its own member ID), and refuses destinations it could
// only serve undecided or unaudited.
func TestAddOutbox(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	if err := devpki.Init(devpki.InitOptions{Dir: pki}); err != nil {
		t.Fatal(err)
	}
	peerKeys, err := json.Marshal(audittest.NewSigner(t, "ura-it:1").KeySet())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "it-jwks.json"), peerKeys, 0o600); err != nil {
		t.Fatal(err)
	}
	raw := `members:
  - {id: AL/GOV/AIM, name: AIM, nation: ALB, kind: agency, clearance: SECRET}
  - {id: IT/GOV/URA, name: Italy ura, nation: ITA, kind: partner, clearance: CONFIDENTIAL}
sign:
  member: AL/GOV/URA
  peers:
    IT/GOV/URA: {jwks_file: it-jwks.json}
upstream:
  outbox: {path: outbox.db}
  destinations:
    - {name: aim-backoffice, kind: http, url: "https://127.0.0.1:1/records", member: AL/GOV/AIM, kinds: [licence],
       ca_file: pki/ca.crt, client_cert_file: pki/clients/AL_GOV_AIM.crt, client_key_file: pki/clients/AL_GOV_AIM.key}
    - {name: it-gateway, kind: peer, url: "https://127.0.0.1:1", member: IT/GOV/URA, kinds: [licence],
       ca_file: pki/ca.crt, client_cert_file: pki/clients/AL_GOV_AIM.crt, client_key_file: pki/clients/AL_GOV_AIM.key}
`
	cfg, err := config.Parse([]byte(raw), dir)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	deps := func(t *testing.T) *server.Deps {
		peers, err := sign.NewPeers(cfg.Sign, cfg.Path, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return &server.Deps{Store: apitest.NewStore(), Policy: &apitest.Policy{}, Audit: &apitest.Audit{},
			Signer: audittest.NewSigner(t, "ura-al:1"), Peers: peers}
	}
	d := deps(t)
	closeOutbox, err := addOutbox(cfg, logger, d)
	if err != nil {
		t.Fatalf("addOutbox: %v", err)
	}
	if d.Forwarder == nil {
		t.Fatal("no forwarder in the server's deps")
	}
	closeOutbox()

	for name, drop := range map[string]func(d *server.Deps){
		"audit log": func(d *server.Deps) { d.Audit = nil },
		"policy":    func(d *server.Deps) { d.Policy = nil },
		"store":     func(d *server.Deps) { d.Store = nil },
		"signer":    func(d *server.Deps) { d.Signer = nil },
		"peers":     func(d *server.Deps) { d.Peers = nil },
	} {
		d := deps(t)
		drop(d)
		if closeOutbox, err := addOutbox(cfg, logger, d); err == nil {
			closeOutbox()
			t.Errorf("without the %s, the outbox opened", name)
		} else if !strings.Contains(err.Error(), "upstream") {
			t.Errorf("without the %s: %v", name, err)
		}
	}
}
