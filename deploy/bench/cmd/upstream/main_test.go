package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/deploy/bench/internal/synth"
)

func TestDecodeRecords(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []recordHead
		wantErr bool
	}{
		{"array", `[{"id":"a","version":1},{"id":"b","version":2}]`, []recordHead{{"a", 1}, {"b", 2}}, false},
		{"ndjson", "{\"id\":\"a\",\"version\":1}\n{\"id\":\"b\",\"version\":2}\n", []recordHead{{"a", 1}, {"b", 2}}, false},
		{"one object", ` {"id":"a","version":3}`, []recordHead{{"a", 3}}, false},
		{"empty", "", nil, true},
		{"spaces", " \n\t", nil, true},
		{"broken array", `[{"id":"a"`, nil, true},
		{"broken ndjson", "{\"id\":\"a\"}\n{", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRecords(strings.NewReader(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantErr && (len(got) != len(tt.want) || (len(got) > 0 && got[len(got)-1] != tt.want[len(tt.want)-1])) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add(synth.Batch("F", 0, 2))
	f.Add(synth.NDJSON("F", 2))
	f.Add([]byte(`{"id":1}`))
	f.Add([]byte("[]"))
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := decodeRecords(bytes.NewReader(body))
		if err == nil && len(recs) > len(body) {
			t.Fatalf("%d records from %d bytes", len(recs), len(body))
		}
	})
}

func TestHandlers(t *testing.T) {
	u := &upstream{max: 100, streams: map[int][]byte{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", u.pull)
	mux.HandleFunc("POST /", u.push)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/v1/records", "application/json", bytes.NewReader(synth.Batch("P", 0, 3)))
	if err != nil {
		t.Fatal(err)
	}
	var ans struct {
		Results []result `json:"results"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(ans.Results) != 3 || ans.Results[2].ID != "P-000000002" || ans.Results[2].Status != "accepted" {
		t.Fatalf("push: %d %+v", resp.StatusCode, ans)
	}

	for _, tt := range []struct {
		query  string
		status int
		lines  int
	}{{"?limit=7", 200, 7}, {"?limit=0", 200, 0}, {"?limit=101", 400, 0}, {"?limit=-1", 400, 0}, {"?limit=x", 400, 0}} {
		resp, err := http.Get(srv.URL + "/v1/records" + tt.query)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var rec map[string]any
			if resp.StatusCode == 200 && json.Unmarshal(sc.Bytes(), &rec) != nil {
				t.Fatalf("%s: line %d is not JSON", tt.query, n)
			}
			n++
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status || (tt.status == 200 && n != tt.lines) {
			t.Fatalf("%s: %d, %d lines", tt.query, resp.StatusCode, n)
		}
	}
}

func TestListenLoopbackOnly(t *testing.T) {
	for _, args := range [][]string{{"-listen", "0.0.0.0:0"}, {"-listen", "127.0.0.1:0", "-tls-listen", "[::]:0", "-tls-cert", "c", "-tls-key", "k"}} {
		if err := run(args); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("%v: err = %v", args, err)
		}
	}
	if err := run([]string{"-listen", "127.0.0.1:0", "-tls-listen", "127.0.0.1:0"}); err == nil {
		t.Fatal("-tls-listen without a certificate was accepted")
	}
}
