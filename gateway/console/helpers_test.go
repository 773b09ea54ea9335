package console

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/authority"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testNow is the console's clock in tests: events in them are just before.
var testNow = time.Date(2026, 6, 2, 12, 30, 0, 0, time.UTC)

// openChain is a real audit log over a file store in a temporary
// directory, holding events; with signer, a checkpoint covers them.
func openChain(t *testing.T, events []audit.Event, signer *audittest.Signer) *audit.Chain {
	t.Helper()
	st, err := audit.OpenFileStore(t.TempDir(), audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts := audit.Options{Store: st, CheckpointEvery: 1 << 40, CheckpointInterval: time.Hour}
	if signer != nil {
		opts.Signer = signer
	}
	ch, err := audit.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	if len(events) > 0 {
		if err := ch.Append(context.Background(), events...); err != nil {
			t.Fatal(err)
		}
	}
	if signer != nil && len(events) > 0 {
		if _, err := ch.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return ch
}

// sampleEvents are the realistic events of audittest over the two hours
// before testNow.
func sampleEvents(n int) []audit.Event {
	evs := audittest.Events(n, testNow.Add(-2*time.Hour))
	for i := range evs {
		evs[i].Time = testNow.Add(-2 * time.Hour).Add(time.Duration(i) * 2 * time.Hour / time.Duration(n))
	}
	return evs
}

func newConsole(t *testing.T, opts Options) *Console {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var officer = &Viewer{ID: "AL/GOV/AUDIT", Name: "Security officer"}

// fakeEngine is a policy engine that reports a status and divergences.
type fakeEngine struct {
	status policy.Status
	divs   []policy.Divergence
}

func (f *fakeEngine) Decide(context.Context, policy.Input) policy.Decision { return policy.Decision{} }

func (f *fakeEngine) DecideChunk(ctx context.Context, in []policy.Input) []policy.Decision {
	return policy.DecideEach(ctx, f, in)
}
func (f *fakeEngine) Status() policy.Status { return f.status }
func (f *fakeEngine) Divergences() []policy.Divergence {
	return append([]policy.Divergence(nil), f.divs...)
}

var (
	_ policy.StatusReporter   = (*fakeEngine)(nil)
	_ policy.DivergenceLister = (*fakeEngine)(nil)
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the golden file; run `go test ./gateway/console -run %s -update` if the change is intended", name, t.Name())
	}
}

// inlineCode lists what the Content-Security-Policy would block, found by
// tokenizing the page as a browser would: inline scripts, style elements
// and attributes, event-handler attributes and javascript: URLs. It also
// counts the elements, so a test can see that a hostile value did not add
// one.
func inlineCode(body []byte) (problems []string, elements map[string]int) {
	elements = map[string]int{}
	z := html.NewTokenizer(bytes.NewReader(body))
	inScript := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			return problems, elements
		case html.TextToken:
			if inScript && len(bytes.TrimSpace(z.Text())) > 0 {
				problems = append(problems, "inline script")
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if string(name) == "script" {
				inScript = false
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			elements[tok.Data]++
			hasSrc := false
			for _, a := range tok.Attr {
				key := strings.ToLower(a.Key)
				switch {
				case key == "style":
					problems = append(problems, "style attribute on <"+tok.Data+">")
				case strings.HasPrefix(key, "on"):
					problems = append(problems, key+" attribute on <"+tok.Data+">")
				case strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:"):
					problems = append(problems, "javascript: URL in "+key)
				case key == "src":
					hasSrc = true
				}
			}
			switch tok.Data {
			case "style":
				problems = append(problems, "<style> element")
			case "script":
				inScript = true
				if !hasSrc {
					problems = append(problems, "<script> without src")
				}
			}
		}
	}
}

func assertNoInlineCode(t *testing.T, page string, body []byte) {
	t.Helper()
	if problems, _ := inlineCode(body); len(problems) > 0 {
		t.Errorf("%s: the CSP would block: %v", page, problems)
	}
}

// sampleReleases is one request of each status at testNow, and a pending
// one the viewing officer has approved (no approve button for it).
func sampleReleases() []authority.Request {
	t0 := testNow.Add(-2 * time.Hour)
	o := func(id string) identity.Member {
		return identity.Member{ID: id, Kind: identity.KindAuditor, Roles: []string{authority.Role}}
	}
	mk := func(n int, recipient string) authority.Request {
		return authority.New(fmt.Sprintf("0190a000-0000-7000-8000-%012d", n), fmt.Sprintf("AIM-LIC-2026-%06d", n), 1, recipient,
			"end-use check <b>by</b> the importing ministry", "AL/GOV/AIM", t0, 72*time.Hour)
	}
	pending := mk(1, "IT/GOV/MOD")
	mine := mk(2, "IT/GOV/MOD")
	_ = mine.Approve(o(officer.ID), t0.Add(time.Minute), 72*time.Hour)
	approved := mk(3, "NATO/ORG/LIAISON")
	_ = approved.Approve(o("AL/GOV/AUDIT2"), t0.Add(time.Minute), time.Hour)
	_ = approved.Approve(o("AL/GOV/AUDIT3"), t0.Add(2*time.Minute), 72*time.Hour)
	expired := mk(4, "IT/GOV/MOD")
	_ = expired.Approve(o("AL/GOV/AUDIT2"), t0.Add(time.Minute), time.Hour)
	_ = expired.Approve(o("AL/GOV/AUDIT3"), t0.Add(2*time.Minute), time.Hour)
	revoked := mk(5, "IT/GOV/MOD")
	_ = revoked.Revoke(o("AL/GOV/AUDIT2"), t0.Add(time.Minute))
	return []authority.Request{revoked, expired, approved, mine, pending}
}
