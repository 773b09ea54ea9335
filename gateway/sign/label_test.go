package sign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/ura-gateway/ura/gateway/config"
)

// TestSignLabelled: each delivery carries its own record's label in its
// protected header, a payload without one the header SignTyped makes, and
// every signature verifies; CheckLabel accepts the label the record has and
// refuses another (the attack: a header naming a lower marking than the
// record it is signed with).
func TestSignLabelled(t *testing.T) {
	f := newFakeVault(t)
	f.rotateTransit(config.AlgEd25519)
	s, err := New(f.client(t), fakeSignConfig(config.SignModeTransit, config.AlgEd25519), Options{})
	if err != nil {
		t.Fatal(err)
	}
	labels := []json.RawMessage{
		json.RawMessage(`{"classification":"RISERVATO","policy_id":"IT"}`),
		nil,
		json.RawMessage(`{"classification":"RESTRICTED"}`),
	}
	in := [][]byte{
		[]byte(`{"record":{"id":"A","label":{"policy_id":"IT","classification":"RISERVATO"}}}`),
		[]byte(`{"record":{"id":"B","label":{"classification":"SECRET"}}}`),
		[]byte(`{"record":{"id":"C","label":{"classification":"SECRET"}}}`),
	}
	out, err := s.SignLabelled(context.Background(), TypDelivery, in, labels)
	if err != nil {
		t.Fatal(err)
	}
	verifyAll(t, s, in, out)
	if h := header(t, out[0]); h["typ"] != TypDelivery || len(h) != 4 {
		t.Errorf("labelled header %v", h)
	}
	if h := header(t, out[1]); len(h) != 3 {
		t.Errorf("a payload without a label has header %v", h)
	}
	if err := CheckLabel(out[0], in[0]); err != nil {
		t.Errorf("the record's own label: %v", err)
	}
	if err := CheckLabel(out[1], in[1]); err != nil {
		t.Errorf("no label in the header: %v", err)
	}
	if err := CheckLabel(out[2], in[2]); !errors.Is(err, ErrLabelMismatch) || Reason(err) != "label_mismatch" {
		t.Errorf("a header label that is not the record's: %v", err)
	}
	if err := CheckLabel(out[0], []byte(`{"index":0}`)); !errors.Is(err, ErrLabelMismatch) {
		t.Errorf("a header label over a payload with no record: %v", err)
	}
}

// TestSignLabelledLargestLabel: the largest label the schema admits, in the
// protected header, still verifies.
func TestSignLabelledLargestLabel(t *testing.T) {
	f := newFakeVault(t)
	f.rotateTransit(config.AlgEd25519)
	s, err := New(f.client(t), fakeSignConfig(config.SignModeTransit, config.AlgEd25519), Options{})
	if err != nil {
		t.Fatal(err)
	}
	nations := make([]string, 260)
	for i := range nations {
		nations[i] = fmt.Sprintf("N%02d", i)
	}
	cats := []map[string]any{{"type": "permissive", "name": "Releasable To", "values": nations}}
	for i := range 7 {
		vals := make([]string, 64)
		for j := range vals {
			vals[j] = fmt.Sprintf("%064d", i*64+j)
		}
		cats = append(cats, map[string]any{"type": "restrictive", "name": fmt.Sprintf("C%d", i), "values": vals})
	}
	label, _ := json.Marshal(map[string]any{"policy_id": "NATO", "classification": "SECRET", "releasable_to": nations,
		"categories": cats, "originator": "AL/GOV/AIM", "created": "2026-05-01T10:00:00Z", "review": "2027-05-01"})
	payload := fmt.Appendf(nil, `{"record":{"id":"A","label":%s}}`, label)
	out, err := s.SignLabelled(context.Background(), TypDelivery, [][]byte{payload}, []json.RawMessage{label})
	if err != nil {
		t.Fatal(err)
	}
	verifyAll(t, s, [][]byte{payload}, out)
	if err := CheckLabel(out[0], payload); err != nil {
		t.Error(err)
	}
}
