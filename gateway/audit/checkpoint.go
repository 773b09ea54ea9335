package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/ura-gateway/ura/gateway/sign"
)

// CheckpointType is the "type" of every checkpoint payload, so that no other
// signature the gateway makes (a delivery, a push result) can be passed off
// as a checkpoint.
const CheckpointType = "urn:ura:audit:checkpoint"

// CheckpointTyp is the JWS typ header of a checkpoint.
const CheckpointTyp = "ura-audit-checkpoint+jws"

// Checkpoint is a tree head: the chain held Count events, the last of which
// hashed to HeadHash, at Time.
type Checkpoint struct {
	Type     string    `json:"type"`
	Count    int64     `json:"count"`
	HeadHash string    `json:"head_hash"`
	Time     time.Time `json:"time"`
}

// SignedCheckpoint is a checkpoint and its compact JWS, whose payload is the
// checkpoint's canonical JSON.
type SignedCheckpoint struct {
	Checkpoint
	JWS string `json:"jws"`
}

// SignCheckpoint signs the checkpoint for head with signer.
func SignCheckpoint(ctx context.Context, signer sign.Signer, head Head, at time.Time) (SignedCheckpoint, error) {
	cp := Checkpoint{Type: CheckpointType, Count: head.Count, HeadHash: head.Hash, Time: at.UTC().Truncate(time.Second)}
	payload, err := canonicalJSON(cp)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	sigs, err := signer.SignTyped(ctx, CheckpointTyp, [][]byte{payload})
	if err != nil {
		return SignedCheckpoint{}, fmt.Errorf("sign checkpoint at %d: %w", head.Count, err)
	}
	if len(sigs) != 1 {
		return SignedCheckpoint{}, fmt.Errorf("sign checkpoint at %d: signer returned %d signatures", head.Count, len(sigs))
	}
	return SignedCheckpoint{Checkpoint: cp, JWS: sigs[0]}, nil
}

// VerifyCheckpoint checks cp's signature against keys and that the signed
// payload is exactly the checkpoint's fields. It returns the signed
// checkpoint, which is the only version a verifier may trust.
func VerifyCheckpoint(cp SignedCheckpoint, keys jwk.Set) (Checkpoint, error) {
	if keys == nil || keys.Len() == 0 {
		return Checkpoint{}, errors.New("no keys to verify the checkpoint with")
	}
	msg, err := jws.Parse([]byte(cp.JWS))
	if err != nil || len(msg.Signatures()) != 1 {
		return Checkpoint{}, fmt.Errorf("checkpoint at count %d: not a compact JWS", cp.Count)
	}
	if typ := msg.Signatures()[0].ProtectedHeaders().Type(); typ != "" && typ != CheckpointTyp {
		return Checkpoint{}, fmt.Errorf("checkpoint at count %d: signed as %q, not as a checkpoint", cp.Count, typ)
	}
	payload, err := jws.Verify([]byte(cp.JWS), jws.WithKeySet(keys, jws.WithInferAlgorithmFromKey(true)))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint at count %d: bad signature: %w", cp.Count, err)
	}
	var signed Checkpoint
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&signed); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint at count %d: signed payload: %w", cp.Count, err)
	}
	if signed.Type != CheckpointType {
		return Checkpoint{}, fmt.Errorf("checkpoint at count %d: signed payload is a %q, not a checkpoint", cp.Count, signed.Type)
	}
	if signed.Count != cp.Count || signed.HeadHash != cp.HeadHash || !signed.Time.Equal(cp.Time) {
		return Checkpoint{}, fmt.Errorf("checkpoint at count %d: fields differ from the signed payload (count %d)", cp.Count, signed.Count)
	}
	return signed, nil
}

// parseCheckpoint decodes one stored checkpoint line.
func parseCheckpoint(line []byte) (SignedCheckpoint, error) {
	var cp SignedCheckpoint
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cp); err != nil {
		return SignedCheckpoint{}, fmt.Errorf("not a checkpoint: %w", err)
	}
	if cp.Type != CheckpointType || cp.Count < 1 || len(cp.HeadHash) != len(ZeroHash) || cp.JWS == "" {
		return SignedCheckpoint{}, errors.New("not a checkpoint: missing fields")
	}
	return cp, nil
}
