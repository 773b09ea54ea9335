package sign

import (
	"context"
	"encoding/json"
	"errors"
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
