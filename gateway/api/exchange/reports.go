package exchange

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/report"
)

// Headers of a report's answer, in every format: the digest of its
// canonical JSON and the JWS of its attestation (gateway/report).
const (
	HeaderReportDigest = "X-Ura-Report-Digest"
	HeaderReportJWS    = "X-Ura-Report-Jws"
)

// ReportSource is the report's view of a store: the newest version of
// every record of a kind, in the store's order.
func ReportSource(st recordReader) report.Source {
	return func(ctx context.Context, kind string, fn func(*records.Record) error) error {
		return st.Query(ctx, store.Query{Kind: kind}, func(rec *records.Record, _ string) error { return fn(rec) })
	}
}

// ReportScanCost is what a report pays in class pull for each scan of up
// to Chunk stored records it reads: a sixteenth of a stream's, because a
// report only reads and counts them, where a stream decides, redacts,
// signs and audits each (gateway/ARCHITECTURE.md, "Reports"). The
// national authority's default pull burst of 2,000 then reads a register
// of 32,000 licences and tracking events at once.
const ReportScanCost = Chunk / 16

// ReportOptions are the options of a year's report for the reporting
// state: the policy's own nation, counting only what the institutions of
// its own instance originated.
func ReportOptions(year int) (report.Options, error) {
	t, err := policy.EmbeddedTables()
	if err != nil {
		return report.Options{}, err
	}
	return report.Options{Year: year, State: t.OwnNation, Instance: t.OwnInstance}, nil
}

// ATTReport answers the Arms Trade Treaty annual report of a year (GET
// /v1/reports/att?year=&format=), built from every stored licence and
// tracking event, for the national authority (kind agency) and security
// officers: a count over the whole register, never a pull of records.
// Signed (typ ura-report+jws) and audited (action report_att) before it
// is answered. Charged in class pull for the stored records it reads, by
// the scan as a stream is (scanMeter, ReportScanCost), the first scan
// before the store is read: the gateway's work grows with the register,
// and so does what the caller pays.
func (h *Handlers) ATTReport(c *gin.Context) error {
	if err := h.Ready(c); err != nil {
		return err
	}
	req := chain.NewRequest(c, "report_att", "").DigestURI(c.Request)
	if k := req.Member.Kind; k != identity.KindAgency && k != identity.KindAuditor {
		return h.kit.Refuse(c, req, problem.New(http.StatusForbidden, problem.TypeForbidden,
			"the ATT annual report is for the national authority and security officers"))
	}
	year, format, perr := reportParams(c)
	if perr != nil {
		return h.kit.Refuse(c, req, perr)
	}
	ctx := c.Request.Context()
	opts, err := ReportOptions(year)
	if err != nil {
		return fmt.Errorf("report: reporting state: %w", err)
	}
	meter := h.newScanMeter(c)
	if err := meter.start(); err != nil {
		return err
	}
	bctx, sp := h.kit.Tracer.Start(ctx, "report")
	r, err := report.Build(bctx, ReportSource(meteredQuerier{queryFunc(h.query), meter}), opts)
	sp.End(err)
	if err != nil {
		return queryProblem(err)
	}
	signed, kid, err := report.Sign(ctx, h.deps.Signer, r, req.Member.ID, h.cfg.Sign.Issuer, time.Now())
	if err != nil {
		return problem.Unavailable("signing is unavailable; nothing was sent", err)
	}
	var body bytes.Buffer
	if err := report.Write(&body, signed, format); err != nil {
		return fmt.Errorf("report: render %s: %w", format, err)
	}
	ev := req.Event(audit.DecisionAllow, http.StatusOK)
	ev.Records, ev.SigningKID = r.Records, kid
	if err := h.append(ctx, []audit.Event{ev}); err != nil {
		return err
	}
	c.Header(HeaderReportDigest, signed.Digest)
	c.Header(HeaderReportJWS, signed.JWS)
	if format != "json" {
		ext := map[string]string{"csv": "csv", "pdf": "pdf", "text": "txt"}[format]
		c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="att-%s-%d.%s"`, opts.State, year, ext))
	}
	c.Data(http.StatusOK, report.Formats[format], body.Bytes())
	return nil
}

// reportParams reads year (required) and format (json by default); any
// other parameter is refused.
func reportParams(c *gin.Context) (int, string, *problem.Error) {
	q := c.Request.URL.Query()
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if name != "year" && name != "format" {
			return 0, "", chain.ParamError(name, "is not a parameter of this route (it takes year and format)")
		}
		if len(q[name]) > 1 {
			return 0, "", chain.ParamError(name, "is given more than once")
		}
	}
	ys := q.Get("year")
	year, err := strconv.Atoi(ys)
	switch {
	case ys == "":
		return 0, "", chain.ParamError("year", "is required: the calendar year reported on, e.g. 2026")
	case err != nil || year < report.MinYear || year > report.MaxYear:
		return 0, "", chain.ParamError("year", fmt.Sprintf("must be a calendar year from %d to %d", report.MinYear, report.MaxYear))
	}
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if _, ok := report.Formats[format]; !ok {
		return 0, "", chain.ParamError("format", "must be one of "+strings.Join(slices.Sorted(maps.Keys(report.Formats)), ", "))
	}
	return year, format, nil
}
