package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/ura-gateway/ura/certs/devpki"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/testenv"
	"github.com/ura-gateway/ura/gateway/verdict"
	"github.com/ura-gateway/ura/policies"
)

// Two real gateways, each its own `ura serve` process (the test binary
// re-executed as TestGatewayCrashChild): Albania's (sign.member AL/GOV/URA)
// and Italy's (IT/GOV/URA), over mutual TLS with the dev PKI's certificates
// (Italy's gateway serves with it-server.crt from it-ca, each gateway is a
// member of the other with clients/AL_GOV_URA and clients/IT_GOV_URA), each
// signing with its own Transit key in the shared Vault and reading the
// other's JWKS from it over mutual TLS, each forwarding to the other through
// its outbox. Both run the embedded Rego modules; Italy's bundle is the
// embedded one with its own instance in the data tables (own_instance IT,
// own_nation ITA), as every nation's gateway must say whose institutions it
// serves.
//
//	source var/dev/stack.env
//	go test -count=1 -run TestTwoGateways -v ./cmd/ura/
const (
	tgAL       = "AL/GOV/URA"
	tgIT       = "IT/GOV/URA"
	tgITKey    = "ura-signing-it"
	tgDeadline = 30 * time.Second
)

// tgGateway is one of the two gateways: its fixture, base URL and audit dir.
type tgGateway struct {
	fx   *gatewayFixture
	base string
}

func TestTwoGateways(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two gateways")
	}
	vaultAddr, vaultToken := testenv.Vault(t)
	root := t.TempDir()
	pki := filepath.Join(root, "pki")
	if err := devpki.Init(devpki.InitOptions{Dir: pki}); err != nil {
		t.Fatal(err)
	}
	vc := tgVault(t, vaultAddr, vaultToken)
	// Italy's gateway signs with a key of its own: its JWKS is not Albania's.
	if _, err := vc.Logical().Write("transit/keys/"+tgITKey, map[string]any{"type": "ed25519"}); err != nil {
		t.Fatalf("create transit key %s: %v", tgITKey, err)
	}

	alPort, alOps, itPort, itOps := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	// Albania's deliveries to Italy pass a recording proxy, so that the test
	// sees the signed lines themselves.
	tap := newDeliveryTap(t, pki, itPort)

	al := &tgGateway{base: fmt.Sprintf("https://127.0.0.1:%d", alPort)}
	al.fx = tgFixture(t, pki, vaultToken, alPort, alOps, fmt.Sprintf(tgALConfig,
		alPort, alOps, pki, vaultAddr, itPort, tap.port))
	it := &tgGateway{base: fmt.Sprintf("https://127.0.0.1:%d", itPort)}
	itPolicy := filepath.Join(root, "it-policy")
	tgWritePolicy(t, itPolicy, "IT", "ITA")
	it.fx = tgFixture(t, pki, vaultToken, itPort, itOps, fmt.Sprintf(tgITConfig,
		itPort, itOps, pki, itPolicy, vaultAddr, tgITKey, alPort, alPort))

	aim := tgClient(t, pki, "AL_GOV_AIM", "ca.crt")
	itMOD := tgClient(t, pki, "IT_GOV_MOD", "it-ca.crt")
	// Each gateway's member certificate at the other.
	alAtIT := tgClient(t, pki, "AL_GOV_URA", "it-ca.crt")
	itAtAL := tgClient(t, pki, "IT_GOV_URA", "ca.crt")
	alChild := al.fx.start(t, "al", aim)
	itChild := it.fx.start(t, "it", itMOD)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Albania's gateway:\n%s\nItaly's gateway:\n%s", alChild.log(), itChild.log())
		}
	})

	// (a) A licence released to Albania and Italy reaches Italy's gateway
	// as Italy's gateway may see it: without the end user's contact.
	relA := tgLicence("AIM-LIC-2026-TG0001", "AL/GOV/AIM", "RESTRICTED", []string{"ALB", "ITA"})
	// (b) A CONFIDENTIAL one, pushed before the next releasable licence:
	// the outbox takes a destination's entries in order, so once that one
	// has arrived this one has been decided.
	conf := tgLicence("AIM-LIC-2026-TG0002", "AL/GOV/AIM", "CONFIDENTIAL", []string{"ALB", "ITA"})
	after := tgLicence("AIM-LIC-2026-TG0003", "AL/GOV/AIM", "RESTRICTED", []string{"ALB", "ITA"})
	for _, rec := range []map[string]any{relA, conf, after} {
		tgPushOK(t, aim, al.base, rec)
	}

	stored := tgAwait(t, itMOD, it.base, "AIM-LIC-2026-TG0001")
	want := tgWithout(t, relA, "licence", "end_user", "contact")
	if !bytes.Equal(stored, want) {
		t.Errorf("Italy's gateway stored\n%s\nwant (AIM's licence without the end user's contact)\n%s", stored, want)
	}
	if bytes.Contains(stored, []byte("acquisizioni@difesa.example.it")) {
		t.Error("the end user's contact reached Italy's gateway")
	}
	tgAwait(t, itMOD, it.base, "AIM-LIC-2026-TG0003")

	// The delivery that carried it names its recipient, the decision, the
	// policy revision and what was removed, as Albania's audit log says.
	fwd := tgEvent(t, al.fx.auditDir, func(e audit.Event) bool {
		return e.Action == "forward" && e.RecordID == "AIM-LIC-2026-TG0001" && e.Member == tgIT
	})
	if fwd.Decision != "redact" || !slices.Equal(fwd.Redactions, []verdict.Redaction{{Pointer: "/licence/end_user/contact", Rule: "redactions.gateway.licence"}}) ||
		fwd.DecisionID == "" || fwd.PolicyRevision == "" || fwd.SigningKID == "" || fwd.Route != "outbox:it-gateway" {
		t.Errorf("forward event: %+v", fwd)
	}
	line := tap.line(t, "AIM-LIC-2026-TG0001")
	typ, payload := tgPayload(t, line)
	if typ != sign.TypFederation || payload.Recipient != tgIT || payload.DecisionID != fwd.DecisionID ||
		payload.PolicyRevision != fwd.PolicyRevision || !slices.Equal(payload.Redactions, fwd.Redactions) ||
		sign.KeyID(line) != fwd.SigningKID {
		t.Errorf("delivery %s %+v; forward event %+v", typ, payload, fwd)
	}
	if !bytes.Equal(payload.Record, want) {
		t.Errorf("the delivery carried\n%s\nwant\n%s", payload.Record, want)
	}
	if e := tgEvent(t, it.fx.auditDir, func(e audit.Event) bool {
		return e.Action == "push" && e.RecordID == "AIM-LIC-2026-TG0001" && e.Member == tgAL
	}); e.Decision != "allow" || !tgSignedBy(e, tgAL, fwd.SigningKID) {
		t.Errorf("Italy's push event for the relay: %+v", e)
	}

	// (b) The CONFIDENTIAL licence never left: withheld, never sent, never
	// stored at Italy's gateway.
	wh := tgEvent(t, al.fx.auditDir, func(e audit.Event) bool {
		return e.Action == "forward" && e.RecordID == "AIM-LIC-2026-TG0002" && e.Member == tgIT
	})
	if wh.Decision != "withhold" || !tgHasCode(wh, "clearance_insufficient") {
		t.Errorf("forward event of the CONFIDENTIAL licence: %+v", wh)
	}
	if tap.saw("AIM-LIC-2026-TG0002") {
		t.Error("the CONFIDENTIAL licence was sent to Italy's gateway")
	}
	if st, body := tgGet(t, itMOD, it.base, "AIM-LIC-2026-TG0002"); st != http.StatusNotFound {
		t.Errorf("Italy's gateway answers %d for the CONFIDENTIAL licence: %s", st, body)
	}

	// (c) Italy's MoD pushes its own licence to its gateway, which relays it
	// to Albania's: stored there in its originator's name.
	itLic := tgLicence("IT-GOV-MOD-LIC-2026-0001", "IT/GOV/MOD", "RESTRICTED", []string{"ITA", "ALB"})
	itLic["licence"].(map[string]any)["origin"] = "ITA"
	itLic["licence"].(map[string]any)["destination"] = "ALB"
	tgPushOK(t, itMOD, it.base, itLic)
	atAL := tgAwait(t, aim, al.base, "IT-GOV-MOD-LIC-2026-0001")
	var got map[string]any
	if err := json.Unmarshal(atAL, &got); err != nil {
		t.Fatal(err)
	}
	if got["label"].(map[string]any)["originator"] != "IT/GOV/MOD" {
		t.Errorf("Albania's gateway stored %s", atAL)
	}
	if !bytes.Equal(atAL, tgWithout(t, itLic, "licence", "end_user", "contact")) {
		t.Errorf("Albania's gateway stored\n%s", atAL)
	}
	if e := tgEvent(t, al.fx.auditDir, func(e audit.Event) bool {
		return e.Action == "push" && e.RecordID == "IT-GOV-MOD-LIC-2026-0001" && e.Member == tgIT
	}); e.Decision != "allow" || !tgSignedBy(e, tgIT, tgITKey+":") {
		t.Errorf("Albania's push event for Italy's relay: %+v", e)
	}

	// Italy's gateway takes its entries in order: by now it would have sent
	// AIM's licences back, had it queued them. It did not (a peer is never
	// sent its own instance's records), nor did Albania's send Italy's
	// licence back.
	if n := tgCount(al.fx.auditDir, func(e audit.Event) bool {
		return e.Action == "push" && e.Member == tgIT && strings.HasPrefix(e.RecordID, "AIM-")
	}); n != 0 {
		t.Errorf("Italy's gateway sent %d of AIM's records back", n)
	}
	if n := tgCount(al.fx.auditDir, func(e audit.Event) bool { return e.Action == "forward" && e.RecordID == "IT-GOV-MOD-LIC-2026-0001" }); n != 0 {
		t.Errorf("Albania's gateway decided %d times to send Italy's licence back", n)
	}

	// A relay, signed by Italy's gateway and addressed to Albania's, in the
	// name of an Albanian institution: refused.
	itSigner := tgSigner(t, vc, tgITKey)
	forged := tgLicence("AIM-LIC-2026-TG0009", "AL/GOV/AIM", "RESTRICTED", []string{"ALB", "ITA"})
	res := tgRelay(t, itAtAL, al.base, tgSign(t, itSigner, forged, tgAL))
	if res.Status != "denied" || !slices.Contains(res.codes(), "relay_originator_own_instance") {
		t.Errorf("a relay in AIM's name: %+v", res)
	}
	if st, _ := tgGet(t, aim, al.base, "AIM-LIC-2026-TG0009"); st != http.StatusNotFound {
		t.Errorf("the relay in AIM's name was stored (%d)", st)
	}

	// A trace across the two gateways: Italy's MoD asks, through its
	// gateway, about a rifle marked in Albania; Italy's gateway forwards the
	// request to Albania's (the peer of the marking's nation); AIM answers
	// Italy's MoD, and the answer reaches Italy's gateway, where the MoD
	// reads it.
	request := tgTrace("IT-GOV-MOD-TR-2026-0001", "IT/GOV/MOD", "TRACE_REQUEST", map[string]any{
		"request_id": "IT-TR-2026-0001", "reason": "rifle seized at the port of Bari",
		"requesting_authority": "Carabinieri, Reparto Operativo di Bari"})
	tgPushOK(t, itMOD, it.base, request)
	if got := tgAwait(t, aim, al.base, "IT-GOV-MOD-TR-2026-0001"); !bytes.Equal(got, tgCanonical(t, request)) {
		t.Errorf("Albania's gateway stored the trace request as\n%s", got)
	}
	// AIM's work list: the request waits, named by its request ID.
	if open := tgOpen(t, aim, al.base); len(open) != 1 || open[0].ID != "IT-GOV-MOD-TR-2026-0001" ||
		open[0].RequestID != "IT-TR-2026-0001" || open[0].Requester != "IT/GOV/MOD" || open[0].WaitingSeconds < 0 {
		t.Errorf("open traces before the answer: %+v", open)
	}
	if st := crashGet(itAtAL, al.base+"/v1/traces/open"); st != http.StatusForbidden {
		t.Errorf("Italy's gateway lists the open traces at Albania's: %d", st)
	}
	answer := tgTrace("AIM-EVT-2026-TG0901", "AL/GOV/AIM", "TRACE_RESPONSE", map[string]any{
		"request_id": "IT-TR-2026-0001", "requester": "IT/GOV/MOD",
		"answer": "manufactured by KAYO at Gramsh in 2026; exported to ITA through Durrës"})
	tgPushOK(t, aim, al.base, answer)
	if got := tgAwait(t, itMOD, it.base, "AIM-EVT-2026-TG0901"); !bytes.Equal(got, tgCanonical(t, answer)) {
		t.Errorf("Italy's gateway stored the trace response as\n%s", got)
	}
	if open := tgOpen(t, aim, al.base); len(open) != 0 {
		t.Errorf("open traces after the answer: %+v", open)
	}
	if e := tgEvent(t, al.fx.auditDir, func(e audit.Event) bool { return e.Action == "traces_open" && e.Member == "AL/GOV/AIM" }); e.Decision != "allow" || e.Records != 1 {
		t.Errorf("audit event of the open traces: %+v", e)
	}

	// (e) Denial notifications (Common Position 2008/944/CFSP art. 4).
	// AIM's denial, releasable to the EU and Albania, reaches Italy's
	// gateway, a member state's; one notified to North Macedonia alone is
	// decided for Italy's gateway like any record and withheld from it.
	alDenial := tgDenial("AIM-DEN-2026-TG0001", "AL/GOV/AIM", "ALB", []string{"EU", "ALB"})
	mkDenial := tgDenial("AIM-DEN-2026-TG0002", "AL/GOV/AIM", "ALB", []string{"ALB", "MKD"})
	after = tgDenial("AIM-DEN-2026-TG0003", "AL/GOV/AIM", "ALB", []string{"EU"})
	for _, rec := range []map[string]any{alDenial, mkDenial, after} {
		tgPushOK(t, aim, al.base, rec)
	}
	if got := tgAwait(t, itMOD, it.base, "AIM-DEN-2026-TG0001"); !bytes.Equal(got, tgCanonical(t, alDenial)) {
		t.Errorf("Italy's gateway stored the denial as\n%s", got)
	}
	tgAwait(t, itMOD, it.base, "AIM-DEN-2026-TG0003")
	if e := tgEvent(t, al.fx.auditDir, func(e audit.Event) bool {
		return e.Action == "forward" && e.RecordID == "AIM-DEN-2026-TG0001" && e.Member == tgIT
	}); e.Decision != "allow" || e.SigningKID == "" {
		t.Errorf("forward event of the denial: %+v", e)
	}
	if e := tgEvent(t, al.fx.auditDir, func(e audit.Event) bool {
		return e.Action == "forward" && e.RecordID == "AIM-DEN-2026-TG0002" && e.Member == tgIT
	}); e.Decision != "withhold" || !tgHasCode(e, "not_releasable") {
		t.Errorf("forward event of the denial notified to North Macedonia: %+v", e)
	}
	if tap.saw("AIM-DEN-2026-TG0002") {
		t.Error("the denial notified to North Macedonia was sent to Italy's gateway")
	}
	if st, body := tgGet(t, itMOD, it.base, "AIM-DEN-2026-TG0002"); st != http.StatusNotFound {
		t.Errorf("Italy's gateway answers %d for the denial notified to North Macedonia: %s", st, body)
	}
	// Italy's MoD notifies its own denial through its gateway: it reaches
	// Albania's, stored in its originator's name.
	itDenial := tgDenial("IT-GOV-MOD-DEN-2026-0001", "IT/GOV/MOD", "ITA", []string{"EU", "ALB"})
	tgPushOK(t, itMOD, it.base, itDenial)
	if got := tgAwait(t, aim, al.base, "IT-GOV-MOD-DEN-2026-0001"); !bytes.Equal(got, tgCanonical(t, itDenial)) {
		t.Errorf("Albania's gateway stored Italy's denial as\n%s", got)
	}
	tgDenialConsulted(t, aim, al.base)
	if got := tgAwait(t, itMOD, it.base, "AIM-CONS-2026-TG0001"); !bytes.Contains(got, []byte(`"outcome":"proceed"`)) {
		t.Errorf("Italy's gateway stored AIM's consultation as\n%s", got)
	}

	// (d) Replays. The line Albania signed for Italy, sent back to Albania's
	// gateway by Italy's: it does not verify against Italy's keys.
	res = tgRelay(t, itAtAL, al.base, line)
	if res.Status != "invalid" || !slices.Contains(res.codes(), "unknown_kid") {
		t.Errorf("Albania's own delivery replayed to it: %+v", res)
	}
	// A line Albania's key signed for another gateway, sent to Italy's.
	alSigner := tgSigner(t, vc, "ura-signing")
	replayed := tgLicence("AIM-LIC-2026-TG0004", "AL/GOV/AIM", "RESTRICTED", []string{"ALB", "ITA", "CZE"})
	res = tgRelay(t, alAtIT, it.base, tgSign(t, alSigner, replayed, "CZ/GOV/URA"))
	if res.Status != "invalid" || !slices.Contains(res.codes(), "wrong_recipient") {
		t.Errorf("a delivery for Czechia's gateway replayed to Italy's: %+v", res)
	}
	if st, _ := tgGet(t, itMOD, it.base, "AIM-LIC-2026-TG0004"); st != http.StatusNotFound {
		t.Errorf("the replayed delivery was stored (%d)", st)
	}
}

const tgALConfig = `development: true
listen: 127.0.0.1:%d
ops_listen: 127.0.0.1:%d
tls:
  cert_file: %[3]s/server.crt
  key_file: %[3]s/server.key
  client_cas:
    - {name: al-dev-root, cert_file: %[3]s/ca.crt, prefixes: ["AL/"]}
    - {name: it-ca, cert_file: %[3]s/it-ca.crt, prefixes: ["IT/"]}
members:
  - {id: AL/GOV/AIM, name: Defence Industry Agency, nation: ALB, kind: agency, clearance: SECRET, roles: [licensing, registers, marking]}
  - {id: IT/GOV/URA, name: Italy's ura gateway, nation: ITA, kind: gateway, clearance: RESTRICTED}
vault:
  addr: %[4]s
  token_file: vault.token
sign:
  mode: transit
  key: ura-signing
  algorithm: ed25519
  issuer: ura.al.two-gateways.test
  proof: jws
  member: AL/GOV/URA
  peers:
    IT/GOV/URA:
      jwks_url: https://127.0.0.1:%[5]d/.well-known/jwks.json
      ca_file: %[3]s/it-ca.crt
      cert_file: %[3]s/clients/AL_GOV_URA.crt
      key_file: %[3]s/clients/AL_GOV_URA.key
upstream:
  outbox: {path: data/outbox.db}
  destinations:
    - name: it-gateway
      kind: peer
      url: https://127.0.0.1:%[6]d
      member: IT/GOV/URA
      kinds: [licence, tracking_event, denial, consultation]
      ca_file: %[3]s/it-ca.crt
      client_cert_file: %[3]s/clients/AL_GOV_URA.crt
      client_key_file: %[3]s/clients/AL_GOV_URA.key
      backoff_initial: 100ms
      backoff_max: 1s
policy:
  timeout: 5s
` + tgCommonConfig

const tgITConfig = `development: true
listen: 127.0.0.1:%d
ops_listen: 127.0.0.1:%d
tls:
  cert_file: %[3]s/it-server.crt
  key_file: %[3]s/it-server.key
  client_cas:
    - {name: it-ca, cert_file: %[3]s/it-ca.crt, prefixes: ["IT/"]}
    - {name: al-dev-root, cert_file: %[3]s/ca.crt, prefixes: ["AL/"]}
members:
  - {id: IT/GOV/MOD, name: Ministero della Difesa, nation: ITA, kind: agency, clearance: SECRET, roles: [licensing]}
  - {id: AL/GOV/URA, name: Albania's ura gateway, nation: ALB, kind: gateway, clearance: CONFIDENTIAL}
policy:
  dir: %[4]s
  timeout: 5s
vault:
  addr: %[5]s
  token_file: vault.token
sign:
  mode: transit
  key: %[6]s
  algorithm: ed25519
  issuer: ura.it.two-gateways.test
  proof: jws
  member: IT/GOV/URA
  peers:
    AL/GOV/URA:
      jwks_url: https://127.0.0.1:%[7]d/.well-known/jwks.json
      ca_file: %[3]s/ca.crt
      cert_file: %[3]s/clients/IT_GOV_URA.crt
      key_file: %[3]s/clients/IT_GOV_URA.key
upstream:
  outbox: {path: data/outbox.db}
  destinations:
    - name: al-gateway
      kind: peer
      url: https://127.0.0.1:%[8]d
      member: AL/GOV/URA
      kinds: [licence, tracking_event, denial, consultation]
      ca_file: %[3]s/ca.crt
      client_cert_file: %[3]s/clients/IT_GOV_URA.crt
      client_key_file: %[3]s/clients/IT_GOV_URA.key
      backoff_initial: 100ms
      backoff_max: 1s
` + tgCommonConfig

// tgCommonConfig: an embedded store and a file audit log in the gateway's
// directory, a generous policy deadline for a loaded machine.
const tgCommonConfig = `store:
  driver: embedded
  path: data/ura.db
audit:
  driver: file
  dir: audit
  checkpoint:
    every: 50
    interval: 100ms
log:
  level: info
  format: text
`

// tgFixture writes one gateway's configuration (cfg, with the common part)
// into a directory of its own.
func tgFixture(t *testing.T, pki, vaultToken string, port, opsPort int, cfg string) *gatewayFixture {
	t.Helper()
	dir := t.TempDir()
	fx := &gatewayFixture{dir: dir, pki: pki, auditDir: filepath.Join(dir, "audit"),
		cfgPath: filepath.Join(dir, "ura.yaml"), port: port, opsPort: opsPort}
	if err := os.WriteFile(filepath.Join(dir, "vault.token"), []byte(vaultToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fx.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "URA_") {
			fx.env = append(fx.env, kv)
		}
	}
	fx.env = append(fx.env, crashChildEnv+"=1", crashConfigEnv+"="+fx.cfgPath)
	return fx
}

// tgWritePolicy writes the embedded bundle (its Rego modules and data.json)
// into dir, with instance and nation as the gateway's own.
func tgWritePolicy(t *testing.T, dir, instance, nation string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	err := fs.WalkDir(policies.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.rego") {
			return err
		}
		b, err := fs.ReadFile(policies.FS, p)
		if err != nil {
			return err
		}
		if p == "data.json" {
			var data map[string]map[string]any
			if err := json.Unmarshal(b, &data); err != nil {
				return err
			}
			data["ura_data"]["own_instance"], data["ura_data"]["own_nation"] = instance, nation
			if b, err = json.MarshalIndent(data, "", "  "); err != nil {
				return err
			}
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func tgVault(t *testing.T, addr, token string) *vault.Client {
	t.Helper()
	v := config.Default().Vault
	v.Addr, v.Token, v.Timeout, v.MaxRetries = addr, token, 10*time.Second, 1
	c, err := sign.NewVaultClient(v, func(s string) string { return s })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tgSigner signs with Transit key key, as the gateway that owns it does.
func tgSigner(t *testing.T, c *vault.Client, key string) *sign.VaultSigner {
	t.Helper()
	cfg := config.Default().Sign
	cfg.Key = key
	s, err := sign.New(c, cfg, sign.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tgSign is a federation line: rec in a delivery signed for recipient.
func tgSign(t *testing.T, s *sign.VaultSigner, rec map[string]any, recipient string) string {
	t.Helper()
	canon, err := records.Canonical(rec)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(sign.Delivery{Record: canon, DecisionID: "01970000-0000-7000-8000-000000000000",
		PolicyRevision: "test", Redactions: []verdict.Redaction{}, Recipient: recipient, Issuer: "test", IssuedAt: time.Now().Unix()})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.SignTyped(context.Background(), sign.TypFederation, [][]byte{payload})
	if err != nil {
		t.Fatal(err)
	}
	return jws[0]
}

// tgClient is a member's client (clients/<name>) that trusts the server
// certificates of serverCA (ca.crt: Albania's gateway; it-ca.crt: Italy's).
func tgClient(t *testing.T, pki, name, serverCA string) *http.Client {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "clients", name+".crt"), filepath.Join(pki, "clients", name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: tgPool(t, filepath.Join(pki, serverCA)),
			ServerName: "localhost", MinVersion: tls.VersionTLS13}}}
}

func tgPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", file)
	}
	return pool
}

// tgLicence is an export licence of originator, with an end user's
// contact that partners and peer gateways never receive.
func tgLicence(id, originator, classification string, rel []string) map[string]any {
	return map[string]any{
		"kind": "licence", "id": id, "version": 1,
		"label": map[string]any{"classification": classification, "releasable_to": rel,
			"originator": originator, "created": "2026-06-04T09:00:00Z"},
		"licence": map[string]any{
			"type": "export", "status": "issued",
			"holder":     map[string]any{"entity_id": "L61234567A", "name": "KAYO sh.a."},
			"issue_date": "2026-06-02", "valid_from": "2026-06-04", "valid_until": "2029-06-03",
			"items": []any{map[string]any{"ml_category": "ML8", "description": "TNT recovered from demilitarized munitions, flaked",
				"quantity": 20, "unit": "tonnes"}},
			"origin": "ALB", "destination": "ITA",
			"end_user": map[string]any{"name": "Ministero della Difesa, Direzione degli Armamenti Terrestri", "country": "ITA",
				"address": map[string]any{"city": "Roma", "country": "ITA"},
				"contact": map[string]any{"name": "Ufficio acquisizioni", "email": "acquisizioni@difesa.example.it"}},
		},
	}
}

// tgDenial is a denial notification of an export of ML1 rifles to
// Serbia's Đorđević Trading.
func tgDenial(id, originator, state string, rel []string) map[string]any {
	return map[string]any{"kind": "denial", "id": id, "version": 1,
		"label": map[string]any{"classification": "RESTRICTED", "releasable_to": rel, "originator": originator, "created": "2026-05-10T09:00:00Z"},
		"denial": map[string]any{"denying_state": state, "date": "2026-05-10", "criteria": []any{2, 7}, "destination": "SRB",
			"end_user": map[string]any{"name": "Đorđević Trading d.o.o.", "country": "SRB"},
			"goods":    []any{map[string]any{"ml_category": "ML1", "description": "semi-automatic rifles"}},
			"reasons":  "risk of diversion to an unauthorised end user", "status": "active"}}
}

// tgDenialConsulted: with Italy's denial on Albania's register, AIM's
// licence for an essentially identical transaction waits for a
// consultation of Italy, and goes once AIM records that it proceeds; the
// consultation reaches Italy's gateway.
func tgDenialConsulted(t *testing.T, aim *http.Client, base string) {
	t.Helper()
	lic := tgLicence("AIM-LIC-2026-TG0010", "AL/GOV/AIM", "RESTRICTED", []string{"ALB"})
	body := lic["licence"].(map[string]any)
	body["destination"] = "SRB"
	body["end_user"] = map[string]any{"name": "Djordjevic Trading", "country": "SRB"}
	body["items"] = []any{map[string]any{"ml_category": "ML1", "description": "semi-automatic rifles", "quantity": 200, "unit": "pieces"}}
	// A small-arms licence is issued against the importing state's import
	// authorisation and the end user's certificate (Licence conditions).
	body["import_authorisation"], body["end_user_certificate_id"] = "RS-IA-2026-TG10", "AIM-EUC-2026-TG0010"
	docLabel := map[string]any{"classification": "RESTRICTED", "releasable_to": []any{"ALB"}, "originator": "AL/GOV/AIM", "created": "2026-06-01T08:00:00Z"}
	authority := map[string]any{"name": "Ministry of Defence of Serbia", "country": "SRB"}
	tgPushOK(t, aim, base, map[string]any{"kind": "import_authorisation", "id": "AIM-IA-2026-TG0010", "version": 1, "label": docLabel,
		"import_authorisation": map[string]any{"reference": "RS-IA-2026-TG10", "issuing_authority": authority, "issued_on": "2026-06-01",
			"valid_from": "2026-06-01", "valid_until": "2029-06-03", "destination": "SRB", "end_user": body["end_user"], "items": body["items"]}})
	tgPushOK(t, aim, base, map[string]any{"kind": "end_user_certificate", "id": "AIM-EUC-2026-TG0010", "version": 1, "label": docLabel,
		"end_user_certificate": map[string]any{"certificate_number": "RS-EUC-2026-TG10", "issuing_authority": authority, "issued_on": "2026-06-01",
			"end_user": body["end_user"], "country": "SRB", "items": body["items"], "no_reexport": true,
			"reexport_clause": "not to be re-exported without the consent of the Republic of Albania", "valid_until": "2029-06-30"}})
	res := tgPush(t, aim, base, tgCanonical(t, lic))
	if res.Status != "denied" || !slices.Contains(res.codes(), "consultation_required") ||
		!strings.Contains(res.Reasons[0].Message, "IT-GOV-MOD-DEN-2026-0001") {
		t.Fatalf("AIM's licence for the transaction Italy denied: %+v", res)
	}
	cons := map[string]any{"kind": "consultation", "id": "AIM-CONS-2026-TG0001", "version": 1,
		"label": map[string]any{"classification": "RESTRICTED", "releasable_to": []any{"ALB", "ITA"}, "originator": "AL/GOV/AIM", "created": "2026-06-01T08:00:00Z"},
		"consultation": map[string]any{"denial_id": "IT-GOV-MOD-DEN-2026-0001", "consulting_state": "ALB", "denying_state": "ITA",
			"request": map[string]any{"date": "2026-06-01", "text": "AIM considers an essentially identical transaction"},
			"answer":  map[string]any{"date": "2026-06-15", "text": "no objection"}, "outcome": "proceed"}}
	tgPushOK(t, aim, base, cons)
	if res := tgPush(t, aim, base, tgCanonical(t, lic)); res.Status != "accepted" {
		t.Fatalf("AIM's licence after the consultation: %+v", res)
	}
}

// tgTrace is a trace event about a KAYO rifle marked in Albania.
func tgTrace(id, originator, typ string, trace map[string]any) map[string]any {
	return map[string]any{
		"kind": "tracking_event", "id": id, "version": 1,
		"label": map[string]any{"classification": "UNCLASSIFIED", "releasable_to": []string{"ALB", "ITA"},
			"originator": originator, "created": "2026-11-01T09:00:00Z"},
		"event": map[string]any{"type": typ, "at": "2026-11-01T09:00:00Z",
			"item": map[string]any{"marking": map[string]any{"manufacturer": "KAYO", "country": "ALB", "serial": "K26-GR-000101", "year": 2026},
				"ml_category": "ML1", "att_category": "small_arms"},
			"trace": trace},
	}
}

func tgCanonical(t *testing.T, rec map[string]any) []byte {
	t.Helper()
	raw, _ := json.Marshal(rec)
	var cp any
	_ = json.Unmarshal(raw, &cp)
	b, err := records.Canonical(cp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type tgOpenTrace struct {
	ID             string `json:"id"`
	RequestID      string `json:"request_id"`
	Requester      string `json:"requester"`
	WaitingSeconds int64  `json:"waiting_seconds"`
}

// tgOpen lists the open trace requests at base.
func tgOpen(t *testing.T, c *http.Client, base string) []tgOpenTrace {
	t.Helper()
	resp, err := c.Get(base + "/v1/traces/open")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		Open []tgOpenTrace `json:"open"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("open traces: %d %s", resp.StatusCode, body)
	}
	return out.Open
}

// tgWithout is rec's canonical bytes without the field at path.
func tgWithout(t *testing.T, rec map[string]any, path ...string) []byte {
	t.Helper()
	raw, _ := json.Marshal(rec)
	var cp map[string]any
	_ = json.Unmarshal(raw, &cp)
	m := cp
	for _, k := range path[:len(path)-1] {
		m = m[k].(map[string]any)
	}
	delete(m, path[len(path)-1])
	b, err := records.Canonical(cp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type tgResult struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Reasons []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"reasons"`
}

func (r tgResult) codes() []string {
	var out []string
	for _, x := range r.Reasons {
		out = append(out, x.Code)
	}
	return out
}

// tgPush pushes one NDJSON line and returns its result.
func tgPush(t *testing.T, c *http.Client, base string, line []byte) tgResult {
	t.Helper()
	resp, err := c.Post(base+"/v1/records", "application/x-ndjson", bytes.NewReader(append(line, '\n')))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		Results []tgResult `json:"results"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Results) != 1 {
		t.Fatalf("push: %d %s", resp.StatusCode, body)
	}
	return out.Results[0]
}

func tgPushOK(t *testing.T, c *http.Client, base string, rec map[string]any) {
	t.Helper()
	line, _ := json.Marshal(rec)
	if r := tgPush(t, c, base, line); r.Status != "accepted" {
		t.Fatalf("push %s: %+v", rec["id"], r)
	}
}

// tgRelay pushes one federation line as a peer gateway.
func tgRelay(t *testing.T, c *http.Client, base, jws string) tgResult {
	t.Helper()
	line, _ := json.Marshal(map[string]string{"jws": jws})
	return tgPush(t, c, base, line)
}

// tgGet gets a record; on 200 it returns the record's bytes as delivered.
func tgGet(t *testing.T, c *http.Client, base, id string) (int, []byte) {
	t.Helper()
	resp, err := c.Get(base + "/v1/records/" + url.PathEscape(id))
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, body
	}
	var d struct {
		JWS string `json:"jws"`
	}
	if err := json.Unmarshal(body, &d); err != nil || d.JWS == "" {
		t.Fatalf("get %s: %s", id, body)
	}
	_, p := tgPayload(t, d.JWS)
	return resp.StatusCode, p.Record
}

// tgAwait polls until the gateway at base holds id.
func tgAwait(t *testing.T, c *http.Client, base, id string) []byte {
	t.Helper()
	deadline := time.Now().Add(tgDeadline)
	for {
		st, body := tgGet(t, c, base, id)
		if st == http.StatusOK {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not arrive at %s within %s (last: %d %s)", id, base, tgDeadline, st, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tgPayload is a compact JWS's typ and payload (a delivery), unverified:
// the gateways verified what they took.
func tgPayload(t *testing.T, compact string) (string, sign.Delivery) {
	t.Helper()
	parts := strings.Split(compact, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %.80s", compact)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var d sign.Delivery
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return sign.Typ(compact), d
}

// tgEvents are the audit events in dir that match accepts, so far.
func tgEvents(dir string, match func(audit.Event) bool) []audit.Event {
	var out []audit.Event
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, seg := range segs {
		f, err := os.Open(seg)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e audit.Event
			if json.Unmarshal(sc.Bytes(), &e) == nil && match(e) {
				out = append(out, e)
			}
		}
		_ = f.Close()
	}
	return out
}

func tgCount(dir string, match func(audit.Event) bool) int { return len(tgEvents(dir, match)) }

// tgEvent waits for the first audit event in dir that match accepts.
func tgEvent(t *testing.T, dir string, match func(audit.Event) bool) audit.Event {
	t.Helper()
	deadline := time.Now().Add(tgDeadline)
	for {
		if es := tgEvents(dir, match); len(es) > 0 {
			return es[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching audit event in %s within %s", dir, tgDeadline)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tgSignedBy reports whether a push event names the peer gateway whose key
// (kid, or a kid beginning with it) signed the relayed record.
func tgSignedBy(e audit.Event, peer, kid string) bool {
	for _, r := range e.Reasons {
		if r.Code == "peer_signature" && strings.Contains(r.Message, "peer gateway "+peer+" with key "+kid) {
			return true
		}
	}
	return false
}

func tgHasCode(e audit.Event, code string) bool {
	for _, r := range e.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}

// deliveryTap stands between Albania's outbox and Italy's gateway: it
// serves with Italy's certificate, forwards each request with Albania's
// gateway's member certificate, and keeps every federation line it passed.
type deliveryTap struct {
	port  int
	mu    sync.Mutex
	lines []string
}

// italyEnds is what a test standing between Albania's outbox and Italy's
// gateway needs: Italy's server certificate, to be Italy to the outbox, and
// Albania's gateway's member certificate, to be Albania to Italy.
func italyEnds(t *testing.T, pki string) (server, client tls.Certificate) {
	t.Helper()
	server, err := tls.LoadX509KeyPair(filepath.Join(pki, "it-server.crt"), filepath.Join(pki, "it-server.key"))
	if err != nil {
		t.Fatal(err)
	}
	client, err = tls.LoadX509KeyPair(filepath.Join(pki, "clients", "AL_GOV_URA.crt"), filepath.Join(pki, "clients", "AL_GOV_URA.key"))
	if err != nil {
		t.Fatal(err)
	}
	return server, client
}

func newDeliveryTap(t *testing.T, pki string, itPort int) *deliveryTap {
	t.Helper()
	serverCert, clientCert := italyEnds(t, pki)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tap := &deliveryTap{port: ln.Addr().(*net.TCPAddr).Port}
	target := &url.URL{Scheme: "https", Host: fmt.Sprintf("127.0.0.1:%d", itPort)}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{clientCert},
		RootCAs: tgPool(t, filepath.Join(pki, "it-ca.crt")), ServerName: "localhost", MinVersion: tls.VersionTLS13}}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			for l := range bytes.Lines(body) {
				var line struct {
					JWS string `json:"jws"`
				}
				if json.Unmarshal(l, &line) == nil && line.JWS != "" {
					tap.mu.Lock()
					tap.lines = append(tap.lines, line.JWS)
					tap.mu.Unlock()
				}
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			proxy.ServeHTTP(w, r)
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS13},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return tap
}

// line is the federation line that carried record id.
func (d *deliveryTap) line(t *testing.T, id string) string {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.lines {
		if _, p := tgPayload(t, l); bytes.Contains(p.Record, []byte(`"id":"`+id+`"`)) {
			return l
		}
	}
	t.Fatalf("no delivery of %s passed to Italy's gateway (%d lines)", id, len(d.lines))
	return ""
}

// saw reports whether any line passed carried id.
func (d *deliveryTap) saw(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.lines {
		if strings.Contains(l, ".") {
			parts := strings.Split(l, ".")
			if raw, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil && bytes.Contains(raw, []byte(id)) {
				return true
			}
		}
	}
	return false
}
