package report

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/ura-gateway/ura/gateway/sign"
)

// Signed is a report with its digest and the gateway's signature over it:
// the JSON answer of the report route and of `ura report att --format json`.
type Signed struct {
	Report *Report `json:"report"`
	// Digest is "sha256:" and the hex SHA-256 of the report's canonical
	// JSON (RFC 8785), as Digest computes it.
	Digest string `json:"digest"`
	// JWS is the compact JWS (typ ura-report+jws) of the Attestation;
	// empty when the report was built without a signer.
	JWS string `json:"jws,omitempty"`
}

// Attestation is the signed payload of a report (gateway/ARCHITECTURE.md,
// Signing and Reports): which report, its digest, for whom, by whom.
type Attestation struct {
	Report         string `json:"report"`
	Year           int    `json:"year"`
	ReportingState string `json:"reporting_state"`
	AsOf           string `json:"as_of"`
	Digest         string `json:"digest"`
	Recipient      string `json:"recipient"`
	Issuer         string `json:"iss"`
	IssuedAt       int64  `json:"iat"`
}

// KindATT names the ATT annual report in an attestation.
const KindATT = "att"

// Digest is the report's digest: "sha256:" and the lowercase hex SHA-256 of
// its canonical JSON (RFC 8785, JCS).
func Digest(r *Report) (string, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("report digest: %w", err)
	}
	return DigestJSON(raw)
}

// DigestJSON is Digest of a report given as JSON, as a verifier reads it.
func DigestJSON(raw []byte) (string, error) {
	canon, err := jcs.Transform(raw)
	if err != nil {
		return "", fmt.Errorf("report digest: %w", err)
	}
	sum := sha256.Sum256(canon)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Sign digests r and, when signer is not nil, signs its attestation for
// recipient (a member ID; "" for a report made offline). It returns the
// signed report and the signing key's id ("" unsigned).
func Sign(ctx context.Context, signer sign.Signer, r *Report, recipient, issuer string, now time.Time) (*Signed, string, error) {
	digest, err := Digest(r)
	if err != nil {
		return nil, "", err
	}
	s := &Signed{Report: r, Digest: digest}
	if signer == nil {
		return s, "", nil
	}
	payload, err := json.Marshal(Attestation{Report: KindATT, Year: r.Year, ReportingState: r.ReportingState, AsOf: r.AsOf,
		Digest: digest, Recipient: recipient, Issuer: issuer, IssuedAt: now.Unix()})
	if err != nil {
		return nil, "", err
	}
	jws, err := signer.SignTyped(ctx, sign.TypReport, [][]byte{payload})
	if err != nil {
		return nil, "", err
	}
	if len(jws) != 1 {
		return nil, "", fmt.Errorf("%w: %d signatures for one report", sign.ErrUnavailable, len(jws))
	}
	s.JWS = jws[0]
	return s, sign.KeyID(jws[0]), nil
}

// CheckAttestation checks a verified attestation payload against the
// report it came with (raw, as JSON) and the digest written beside it: the
// digest of the report must be the signed one, and the plain one equal.
func CheckAttestation(payload, rawReport []byte, plainDigest string) (*Attestation, error) {
	var a Attestation
	if err := json.Unmarshal(payload, &a); err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	if a.Report != KindATT {
		return nil, fmt.Errorf("attestation is for report %q, not %q", a.Report, KindATT)
	}
	got, err := DigestJSON(rawReport)
	if err != nil {
		return nil, err
	}
	switch {
	case got != a.Digest:
		return nil, errors.New("the report's digest is not the signed one: the report was changed")
	case plainDigest != a.Digest:
		return nil, errors.New("the digest beside the report is not the signed one")
	}
	var r struct {
		Year           int    `json:"year"`
		ReportingState string `json:"reporting_state"`
	}
	if err := json.Unmarshal(rawReport, &r); err != nil || r.Year != a.Year || r.ReportingState != a.ReportingState {
		return nil, errors.New("the report's year or state is not the signed one")
	}
	return &a, nil
}
