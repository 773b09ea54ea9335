package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ura-gateway/ura/gateway/authority"
)

// TestConBrowserReleases drives the console's release queue in headless
// Chromium: AIM requests the release of its CONFIDENTIAL licence to
// Italy's MoD; the first officer opens the queue and approves; the second,
// with their own certificate, approves; the licence is then delivered to
// Italy's MoD, its signed delivery carrying both approvals. Screenshots go
// to var/artifacts/console-releases*.png.
func TestConBrowserReleases(t *testing.T) {
	chromium := conChromium(t)
	e := startGateway(t, withEmbeddedPolicy(), withAuditChain(5), relOfficers())
	const id = "AIM-LIC-2026-000500"
	if r := exResults(t, e.as("AL/GOV/AIM").push(relLicence(t, 500))); r[0].Status != "accepted" {
		t.Fatalf("AIM's licence: %+v", r[0])
	}
	v := relOK(t, relRequest(e, "AL/GOV/AIM", id, "IT/GOV/MOD"), http.StatusCreated)
	if r := e.as("IT/GOV/MOD").get("/v1/records/" + id); r.status != http.StatusNotFound {
		t.Fatalf("before any approval: %d", r.status)
	}

	proxyCert, spki := conProxyCert(t)
	first := conStartBrowserProxy(t, e.p, e.addr, e.p.member(e.p.inter, "AL/GOV/AUDIT"), proxyCert)
	second := conStartBrowserProxy(t, e.p, e.addr, e.p.member(e.p.inter, "AL/GOV/AUDIT2"), proxyCert)
	artifacts := conArtifacts(t)
	ctx, blog := conBrowser(t, chromium, spki)
	pg := &conPage{t: t, ctx: ctx, artifacts: artifacts}
	must, text, follow, shot := pg.must, pg.text, pg.follow, pg.shot
	row := func(section string) string { return `#releases-` + section + ` tr[data-release="` + v.ID + `"]` }

	// The first officer: the request waits in the queue, and is approved.
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(first.URL+"/console/releases"))
	must("open the queue", err)
	if resp.Status != http.StatusOK {
		t.Fatalf("queue: HTTP %d", resp.Status)
	}
	must("pending row", chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(row("pending")+" button.approve"))))
	if got := text(row("pending")); !strings.Contains(got, id) || !strings.Contains(got, "IT/GOV/MOD") || !strings.Contains(got, "none yet") {
		t.Errorf("pending row: %q", got)
	}
	shot("console-releases.png")
	follow(row("pending")+" button.approve", row("pending"))
	if got := text(row("pending") + " td.approvals"); !strings.Contains(got, "AL/GOV/AUDIT") {
		t.Errorf("after the first approval: %q", got)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelectorAll('`+row("pending")+` button.approve').length`)); err != nil || n != 0 {
		t.Errorf("the first officer is offered a second approval (%v, %v)", n, err)
	}
	if r := e.as("IT/GOV/MOD").get("/v1/records/" + id); r.status != http.StatusNotFound {
		t.Fatalf("after one approval: %d", r.status)
	}

	// The second officer, with their own certificate.
	_, err = chromedp.Run(ctx, chromedp.NavigateResponse(second.URL+"/console/releases"))
	must("open the queue as the second officer", err)
	must("pending row", chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(row("pending")+" button.approve"))))
	follow(row("pending")+" button.approve", row("approved"))
	got := text(row("approved"))
	if !strings.Contains(got, "AL/GOV/AUDIT2") || !strings.Contains(got, "AL/GOV/AUDIT") {
		t.Errorf("approved row: %q", got)
	}
	shot("console-releases-approved.png")

	// Italy's MoD now receives the licence, with both approvals signed.
	r := e.as("IT/GOV/MOD").get("/v1/records/" + id)
	if r.status != http.StatusOK {
		t.Fatalf("recipient: %d %s", r.status, r.body)
	}
	var d struct{ JWS string }
	_ = json.Unmarshal(r.body, &d)
	parts := strings.Split(d.JWS, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	must("payload", err)
	var payload struct {
		Recipient string
		Release   struct {
			ID        string
			Approvals []authority.Approval
		}
	}
	must("payload", json.Unmarshal(raw, &payload))
	if payload.Recipient != "IT/GOV/MOD" || payload.Release.ID != v.ID || len(payload.Release.Approvals) != 2 ||
		payload.Release.Approvals[0].Officer != "AL/GOV/AUDIT" || payload.Release.Approvals[1].Officer != "AL/GOV/AUDIT2" {
		t.Errorf("signed delivery: %s", raw)
	}

	messages, dialogs := blog.snapshot()
	if len(dialogs) > 0 {
		t.Errorf("the page opened dialogs: %v", dialogs)
	}
	for _, m := range messages {
		if strings.Contains(strings.ToLower(m), "content security policy") || strings.HasPrefix(m, "exception") {
			t.Errorf("browser reported: %s", m)
		}
	}
	if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("the browser test ran out of time")
	}
}
