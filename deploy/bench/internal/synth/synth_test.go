package synth

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Every record made is valid JSON shaped like the licence in
// gateway/ARCHITECTURE.md ("Records"), and IDs are unique and in order.
func TestShapes(t *testing.T) {
	var batch []map[string]any
	if err := json.Unmarshal(Batch("B", 5, 3), &batch); err != nil {
		t.Fatal(err)
	}
	if len(batch) != 3 || batch[0]["id"] != "B-000000005" || batch[2]["id"] != "B-000000007" {
		t.Fatalf("batch ids: %v", batch)
	}
	label := batch[0]["label"].(map[string]any)
	if batch[0]["kind"] != "licence" || label["originator"] != "AL/GOV/AIM" || label["created"] != "2026-05-01T10:00:00Z" {
		t.Fatalf("record: %v", batch[0])
	}
	lines := bytes.Split(bytes.TrimSuffix(NDJSON("N", 4), []byte("\n")), []byte("\n"))
	if len(lines) != 4 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if !json.Valid(l) {
			t.Fatalf("invalid line %s", l)
		}
	}
	if ID("X", 1234567890) != "X-1234567890" {
		t.Fatal(ID("X", 1234567890))
	}
}
