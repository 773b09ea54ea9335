package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRestartAfterHostilePushes is the restart property of issue 20,
// finding 0: whatever a member pushes, valid or not, the gateway starts
// again afterwards and its audit log verifies. A version of 2^63 once made
// the next start refuse the log ("cannot unmarshal number
// 9223372036854776000"), so one push kept the gateway down.
//
// Hostile bodies (numbers JSON cannot carry exactly, ids of control
// characters, duplicate keys, deep nesting, broken NDJSON) and random
// mutations of valid records are pushed by an agency and by a foreign
// partner into a real gateway with the real policies; the gateway is killed
// with SIGKILL, restarted, pushed to again, stopped with SIGTERM and
// restarted; then `ura audit verify` must pass with every checkpoint
// signature checked.
//
// URA_RESTART_BODIES sets how many random bodies (default 120).
func TestRestartAfterHostilePushes(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a real gateway")
	}
	n := 120
	if v := os.Getenv("URA_RESTART_BODIES"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil || n < 1 {
			t.Fatalf("URA_RESTART_BODIES=%q: want a positive number", v)
		}
	}
	fx := newGatewayFixture(t, `    - name: it-partner
      cert_file: pki/it-ca.crt
      prefixes: ["IT/"]
`, `  - id: IT/GOV/MOD
    name: Ministero della Difesa
    nation: ITA
    kind: partner
    clearance: CONFIDENTIAL
    roles: [tracing]
`)
	aim := memberClient(t, fx.pki, "AL_GOV_AIM")
	ita := memberClient(t, fx.pki, "IT_GOV_MOD")
	base := fmt.Sprintf("https://127.0.0.1:%d", fx.port)

	bodies := hostileBodies()
	rng := rand.New(rand.NewPCG(20, uint64(n)))
	for range n {
		bodies = append(bodies, randomBody(rng))
	}
	statuses := map[int]int{}
	push := func(from, to int) {
		for i := from; i < to && i < len(bodies); i++ {
			client := aim
			if i%2 == 1 {
				client = ita
			}
			ct := "application/json"
			if bytes.HasPrefix(bodies[i], []byte("{")) || bytes.Contains(bodies[i], []byte("}\n")) {
				ct = "application/x-ndjson"
			}
			resp, err := client.Post(base+"/v1/records", ct, bytes.NewReader(bodies[i]))
			if err != nil {
				t.Fatalf("body %d: %v", i, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Fatalf("body %d answered %d: %.300q", i, resp.StatusCode, bodies[i])
			}
			statuses[resp.StatusCode]++
		}
	}

	g := fx.start(t, "first", aim)
	keys := crashJWKS(t, aim, base)
	half := len(bodies) / 2
	push(0, half)
	_ = g.stop(syscall.SIGKILL)
	aim.CloseIdleConnections()
	ita.CloseIdleConnections()

	g = fx.start(t, "after-kill", aim)
	push(half, len(bodies))
	if err := g.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, g.log())
	}
	aim.CloseIdleConnections()
	g = fx.start(t, "after-term", aim)
	if err := g.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, g.log())
	}

	jwksPath := filepath.Join(fx.dir, "jwks.json")
	raw, _ := json.Marshal(keys)
	if err := os.WriteFile(jwksPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify", "--dir", fx.auditDir, "--jwks", jwksPath, "--json"}, &out, &errOut); err != nil {
		t.Fatalf("ura audit verify: %v\n%s%s", err, out.String(), errOut.String())
	}
	var rep struct {
		Events int64 `json:"events"`
		Signed bool  `json:"signatures_checked"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("verify report: %v: %s", err, out.String())
	}
	if rep.Events < int64(len(bodies)) || !rep.Signed {
		t.Fatalf("verify: %d events for %d pushes, signatures checked %v", rep.Events, len(bodies), rep.Signed)
	}
	t.Logf("%d bodies pushed (%d hostile, %d random), answers %v; two restarts; audit verify: %d events, signatures checked",
		len(bodies), len(bodies)-n, n, statuses, rep.Events)
}

// validEntity is a record both members may push (AIM as originator).
func validEntity(id string) map[string]any {
	return map[string]any{
		"kind": "entity", "id": id, "version": 1,
		"label": map[string]any{
			"classification": "UNCLASSIFIED", "releasable_to": []any{"ALB", "NATO"},
			"originator": "AL/GOV/AIM", "created": "2026-01-15T09:00:00Z",
		},
		"entity": map[string]any{
			"entity_id": "L61234567A", "name": "Restart test sh.p.k.", "status": "active",
			"address":    map[string]any{"city": "Tiranë", "country": "ALB"},
			"activities": []any{"trade"},
		},
	}
}

// hostileBodies are the bodies that broke, or could break, what is copied
// from a request into the audit log.
func hostileBodies() [][]byte {
	withField := func(field, raw string) []byte {
		b, _ := json.Marshal(validEntity("RST-HOSTILE-1"))
		return fmt.Appendf(nil, `[%s]`, bytes.Replace(b, []byte(`"`+field+`":`), fmt.Appendf(nil, `"%s":%s,"x%s":`, field, raw, field), 1))
	}
	var out [][]byte
	for _, v := range []string{"9223372036854775808", "9223372036854775807", "-9223372036854775808", "18446744073709551616",
		"9007199254740993", "1e400", "-0", "1.0000000000000002", "2147483648", `"1"`, "null", "[1]", "{}"} {
		out = append(out, withField("version", v))
	}
	for _, v := range []string{`"\u0000"`, `"\u2028\u2029"`, `"\ud800"`, `"` + strings.Repeat("A", 4000) + `"`, `"../../x"`, `"a\"b"`, "7", "null"} {
		out = append(out, withField("id", v))
	}
	out = append(out,
		[]byte(`[{"kind":"entity","kind":"licence","id":"RST-DUP","version":1}]`),
		[]byte(`{"id":"RST-ND-1","version":9223372036854775808}`+"\n"+`{"id":"RST-ND-2","version":-1}`+"\n"),
		[]byte(`[`+strings.Repeat("[", 200)+strings.Repeat("]", 200)+`]`),
		[]byte(`[{"version":1e999999999}]`),
		[]byte("[\"\xff\"]"),
		[]byte(`[]`),
		[]byte(`[1,"x",null,true]`),
	)
	return out
}

// hostileValues replace one field of a valid record in the random bodies.
var hostileValues = []any{
	json.Number("9223372036854775808"), json.Number("-9223372036854775809"), json.Number("1e308"),
	json.Number("0.5"), json.Number("2147483648"), json.Number("9007199254740993"), nil, true, "",
	"\u0000\u001f", "\u2028", strings.Repeat("é", 300), []any{}, map[string]any{}, []any{json.Number("1"), nil},
}

// randomBody is 1-4 valid entities with random fields replaced by hostile
// values, dropped or added.
func randomBody(rng *rand.Rand) []byte {
	var recs []any
	for i := range 1 + rng.IntN(4) {
		rec := validEntity(fmt.Sprintf("RST-RND-%d-%d", rng.Uint32(), i))
		for range 1 + rng.IntN(3) {
			mutate(rng, rec)
		}
		recs = append(recs, rec)
	}
	if rng.IntN(2) == 0 {
		var b bytes.Buffer
		for _, r := range recs {
			line, _ := json.Marshal(r)
			b.Write(line)
			b.WriteByte('\n')
		}
		return b.Bytes()
	}
	b, _ := json.Marshal(recs)
	return b
}

func mutate(rng *rand.Rand, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		m["x"] = hostileValues[rng.IntN(len(hostileValues))]
		return
	}
	k := keys[rng.IntN(len(keys))]
	switch sub, ok := m[k].(map[string]any); {
	case ok && rng.IntN(3) > 0:
		mutate(rng, sub)
	case rng.IntN(8) == 0:
		delete(m, k)
	default:
		m[k] = hostileValues[rng.IntN(len(hostileValues))]
	}
}
