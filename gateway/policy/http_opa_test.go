package policy

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
)

// httpOPAVersion is the OPA release deploy/dev/lib.sh pins (OPA_VERSION);
// `make tools` and .ci/run build it into ~/.cache/ura/bin/opa-<version>.
const httpOPAVersion = "v1.22.2"

// httpOPABinary finds OPA's own server: URA_OPA_BIN (deploy/dev/up.sh
// writes it to var/dev/stack.env), else the pinned build in
// ~/.cache/ura/bin. Without one the test skips on a developer's machine;
// in CI (CI=true) it fails, because CI installs it.
func httpOPABinary(t *testing.T) string {
	t.Helper()
	p := os.Getenv("URA_OPA_BIN")
	if p == "" {
		home, _ := os.UserHomeDir()
		p = filepath.Join(home, ".cache", "ura", "bin", "opa-"+httpOPAVersion)
	}
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("no opa binary at %s (run `make tools`, or set URA_OPA_BIN)", p)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// httpStartOPA runs `opa run --server` on the repository's policies and
// stops it (by its PID) when the test ends.
func httpStartOPA(t *testing.T) string {
	t.Helper()
	bin := httpOPABinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	cmd := exec.Command(bin, "run", "--server", "--addr", addr, "--log-level", "error",
		"--ignore", "*_test.rego", "--ignore", "*.go", "../../policies")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for range 300 {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return "http://" + addr
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("opa run --server did not become healthy")
	return ""
}

// The external server and the embedded engine, given the same policy, the
// same registers and the same question, decide the same. Cases cover
// allows, redactions and refusals, including the attacks the policy exists
// for (a partner pulling what is not released to it, an unregistered
// caller, a push by a member without authority).
func TestHTTPMatchesEmbedded(t *testing.T) {
	base := httpStartOPA(t)
	ctx := context.Background()
	var logs httpSyncBuffer
	remote, err := NewHTTP(ctx, HTTPOptions{URL: base + "/v1/data/ura/decision", Timeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	local, err := New(ctx, Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	members := map[string]identity.Member{
		"AIM":    httpTestAIM,
		"MOD":    {ID: "AL/GOV/MOD", Nation: "ALB", Kind: "ministry", Clearance: "SECRET", Roles: []string{"procurement", "end_user_certificates"}},
		"DPD":    {ID: "AL/GOV/DPD", Nation: "ALB", Kind: "customs", Clearance: "RESTRICTED", Roles: []string{"declarations"}},
		"ITA":    {ID: "IT/GOV/MOD", Nation: "ITA", Kind: "partner", Clearance: "CONFIDENTIAL", Roles: []string{"tracing"}},
		"NATO":   {ID: "NATO/ORG/LIAISON", Nation: "NATO", Kind: "liaison", Clearance: "SECRET", Roles: []string{"tracing"}},
		"nobody": {},
	}
	licence := httpTestRecord(t, httpTestLicence)
	secret := httpTestRecord(t, strings.Replace(httpTestLicence, `"RESTRICTED"`, `"SECRET"`, 1))
	event := httpTestRecord(t, `{"kind":"tracking_event","id":"AIM-EVT-2026-9000001","version":1,
 "label":{"classification":"UNCLASSIFIED","releasable_to":["ALB","CZE"],"originator":"AL/GOV/DPD","created":"2026-06-02T08:00:00Z"},
 "event":{"type":"EXPORT_DECLARED","at":"2026-06-02T07:55:00Z",
   "item":{"marking":{"manufacturer":"KAYO","country":"ALB","serial":"K26-000123","year":2026},"ml_category":"ML3","att_category":"small_arms"},
   "licence_id":"AIM-LIC-2026-000123","from":"ALB","to":"CZE","quantity":1000,
   "location":"Durrës port","customs_declaration":"EX-2026-000456"}}`)

	regs := registers.NewOverlay(nil)
	check := func(t *testing.T, label string) {
		t.Helper()
		allowed := 0
		for _, who := range []string{"AIM", "MOD", "DPD", "ITA", "NATO", "nobody"} {
			for _, act := range []Action{Push, Pull} {
				for _, rec := range []struct {
					name string
					r    *records.Record
				}{{"licence", licence}, {"secret licence", secret}, {"event", event}} {
					in := Input{Caller: members[who], Action: act, Record: rec.r}
					if act == Push {
						in.Registers = regs.For(rec.r)
					}
					a, b := local.Decide(ctx, in), remote.Decide(ctx, in)
					name := fmt.Sprintf("%s: %s %s %s", label, who, act, rec.name)
					if a.Allow != b.Allow || !slices.Equal(a.Redact, b.Redact) || !slices.Equal(a.Reasons, b.Reasons) {
						t.Errorf("%s:\nembedded %v %v %v\nexternal %v %v %v", name, a.Allow, a.Redact, a.Reasons, b.Allow, b.Redact, b.Reasons)
					}
					if b.Allow {
						allowed++
					}
				}
			}
		}
		if allowed == 0 {
			t.Fatalf("%s: nothing was allowed: the comparison proves nothing", label)
		}
		t.Logf("%s: %d of 36 questions allowed by both", label, allowed)
	}
	check(t, "empty registers")
	// With the licence in the registers, decisions that read them (the
	// export event against its licence) must still agree.
	regs.Apply(licence)
	check(t, "licence registered")
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("errors:\n%s", logs.String())
	}
}

// httpSyncBuffer is a bytes.Buffer safe for a logger used from many goroutines.
type httpSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *httpSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *httpSyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
