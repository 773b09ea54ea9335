package exchange

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/cursor"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/records"
)

// FuzzPullParams: a pull's query string is outside input. Whatever it
// holds, pullParams returns a 400 problem or a query the store can run: a
// known kind or none, a well-formed originator and licence id, a cursor
// only if one was sealed for this member and query, a positive page size
// within the limit.
func FuzzPullParams(f *testing.F) {
	gin.SetMode(gin.ReleaseMode)
	cfg := config.Default()
	sealer := cursor.Random()
	h := &Handlers{cfg: cfg, deps: Deps{Cursors: sealer}}
	member := identity.Member{ID: "IT/GOV/MOD"}
	f.Add("kind=licence&limit=5", false)
	f.Add("cursor="+sealer.Seal(CursorBinding(member.ID, emptyQuery()), 7), false)
	f.Add("since=2026-01-01&originator=AL/GOV/AIM&country=ALB&manufacturer=KAYO&serial=K1", true)
	f.Add("limit=-1&kind=x&kind=y&cursor=AAAA&bogus=1", false)
	f.Fuzz(func(t *testing.T, raw string, stream bool) {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		req := httptest.NewRequest(http.MethodGet, "/v1/records", nil)
		req.URL.RawQuery = raw
		c.Request = req.WithContext(identity.NewContext(req.Context(), member))
		pp, err := h.pullParams(c, stream)
		if err != nil {
			return
		}
		q := pp.q
		switch {
		case q.Kind != "" && !records.KnownKind(q.Kind):
			t.Fatalf("unknown kind accepted: %q", raw)
		case q.LicenceID != "" && !records.ValidID(q.LicenceID):
			t.Fatalf("malformed licence id accepted: %q", raw)
		case !stream && (pp.limit < 1 || pp.limit > cfg.Limits.MaxPageSize):
			t.Fatalf("page size %d accepted: %q", pp.limit, raw)
		case stream && pp.limit < 0:
			t.Fatalf("negative stream limit: %q", raw)
		}
		if v, _ := url.ParseQuery(raw); v.Get("cursor") != "" && q.After == "" {
			t.Fatalf("a cursor was accepted without a position: %q", raw)
		}
	})
}

func emptyQuery() store.Query { return store.Query{} }
