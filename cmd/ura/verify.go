package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ura-gateway/ura/gateway/sign"
)

// errInvalid ends `ura verify` with exit status 1 after its report.
var errInvalid = errors.New("invalid signatures")

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", "ura verify --jwks URL|FILE [--ca FILE --cert FILE --key FILE] FILE…",
		"ura verify --jwks https://ura.aim.gov.al:8443/.well-known/jwks.json --ca ca.crt --cert me.crt --key me.key pull.ndjson", stderr)
	jwksArg := fs.String("jwks", "", "JWKS to verify against: a file, or an https URL fetched over mutual TLS")
	caFile := fs.String("ca", "", "CA certificate that verifies the JWKS server (URL only; default: system roots)")
	certFile := fs.String("cert", "", "client certificate presented to the JWKS server (URL only)")
	keyFile := fs.String("key", "", "key of --cert")
	fs.Usage = verifyUsage(fs.Usage, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return fmt.Errorf("%w: verify: %v", errUsage, err)
	}
	files := fs.Args()
	switch {
	case *jwksArg == "":
		return fmt.Errorf("%w: verify: --jwks is required", errUsage)
	case len(files) == 0:
		return fmt.Errorf("%w: verify: name at least one FILE (- reads stdin)", errUsage)
	case (*certFile == "") != (*keyFile == ""):
		return fmt.Errorf("%w: verify: --cert and --key go together", errUsage)
	}
	var src sign.KeySource
	if strings.HasPrefix(*jwksArg, "https://") || strings.HasPrefix(*jwksArg, "http://") {
		if strings.HasPrefix(*jwksArg, "http://") {
			return fmt.Errorf("%w: verify: a JWKS URL must be https", errUsage)
		}
		src = sign.NewURLKeys(*jwksArg, sign.TLSFiles{CAFile: *caFile, CertFile: *certFile, KeyFile: *keyFile}, time.Hour)
	} else {
		if *caFile != "" || *certFile != "" {
			return fmt.Errorf("%w: verify: --ca, --cert and --key are for a JWKS URL", errUsage)
		}
		f, err := sign.NewFileKeys(*jwksArg)
		if err != nil {
			return err
		}
		src = f
	}
	// Fetch once up front: a JWKS that cannot be read is one error, not one
	// per record.
	if _, err := src.KeySet(ctx, false); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	v := sign.NewVerifier(src)

	var valid, invalid int
	p := &printer{w: stdout}
	for _, name := range files {
		items, err := readSigned(name)
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if len(items) == 0 {
			p.printf("%s: no signed records found\n", name)
			invalid++
			continue
		}
		for _, it := range items {
			label := it.label
			if len(files) > 1 {
				label = name + ": " + label
			}
			kid, err := it.verify(ctx, v)
			if err != nil {
				invalid++
				p.printf("%s: INVALID: %s\n", label, why(err))
				continue
			}
			valid++
			p.printf("%s: valid (kid %s)\n", label, kid)
		}
	}
	p.printf("%d valid, %d invalid\n", valid, invalid)
	if invalid > 0 {
		return fmt.Errorf("%w: %d of %d", errInvalid, invalid, valid+invalid)
	}
	return p.err
}

func verifyUsage(base func(), out io.Writer) func() {
	return func() {
		base()
		note(out, "%s", `
FILE is a saved NDJSON pull (one {"id","version","jws"} per line), a JSON page
({"records":[…]}), a push response ({"results":[…]}), or compact JWS, one per
line. Each record is reported as valid or INVALID with the reason; the exit
status is 1 when any is invalid. Only EdDSA and ES256 signatures by a key in
the JWKS count: alg none, HMAC, and keys named by the token (jku, x5u, jwk)
are refused.
`)
	}
}

// signedItem is one JWS found in a file, with what the file says around it.
type signedItem struct {
	label string
	jws   string
	// id and version are the record the surrounding JSON claims the JWS
	// carries; they must agree with the signed payload.
	id      string
	version json.Number
	// problem is set when the item is unusable before any verification.
	problem string
}

func (it signedItem) verify(ctx context.Context, v *sign.Verifier) (string, error) {
	if it.problem != "" {
		return "", errors.New(it.problem)
	}
	payload, kid, err := v.VerifyContext(ctx, it.jws)
	if err != nil {
		return kid, err
	}
	if err := matchesPayload(it, payload); err != nil {
		return kid, err
	}
	return kid, nil
}

// matchesPayload checks that the unsigned id and version next to a JWS are
// the ones it signed: otherwise a valid signature could vouch for a label
// someone changed.
func matchesPayload(it signedItem, payload []byte) error {
	if it.id == "" && it.version == "" {
		return nil
	}
	var p struct {
		ID      string          `json:"id"`
		Version json.Number     `json:"version"`
		Record  json.RawMessage `json:"record"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil
	}
	if len(p.Record) > 0 {
		var r struct {
			ID      string      `json:"id"`
			Version json.Number `json:"version"`
		}
		if json.Unmarshal(p.Record, &r) == nil {
			p.ID, p.Version = r.ID, r.Version
		}
	}
	if it.id != "" && p.ID != "" && it.id != p.ID {
		return fmt.Errorf("the line says id %q but the signed record is %q", it.id, p.ID)
	}
	if it.version != "" && p.Version != "" && it.version != p.Version {
		return fmt.Errorf("the line says version %s but the signed record is version %s", it.version, p.Version)
	}
	return nil
}

// readSigned finds every JWS in a file (or stdin for "-").
func readSigned(name string) ([]signedItem, error) {
	var (
		data []byte
		err  error
	)
	if name == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<30))
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, err
	}
	return parseSigned(data)
}

// parseSigned accepts NDJSON pulls, JSON pages and push responses (any
// sequence of JSON values), or lines of bare compact JWS.
func parseSigned(data []byte) ([]signedItem, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, nil
	}
	if trimmed[0] != '{' && trimmed[0] != '[' {
		var items []signedItem
		for i, line := range strings.Split(string(trimmed), "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			items = append(items, signedItem{label: "line " + strconv.Itoa(i+1), jws: line})
		}
		return items, nil
	}
	var items []signedItem
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	for n := 1; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("value %d: not JSON: %w", n, err)
		}
		items = append(items, itemsOf(raw, "line "+strconv.Itoa(n))...)
	}
	return items, nil
}

// itemsOf reads one top-level JSON value: a page, a push response, an array
// of records, or one record line.
func itemsOf(raw json.RawMessage, where string) []signedItem {
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) == nil {
		return itemList(arr, "record")
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return []signedItem{{label: where, problem: "neither a JSON object nor an array"}}
	}
	// A page or push response holds its records in an array; a stream's
	// closing line has "records" too, as a count, and carries no record.
	for _, key := range []string{"records", "results"} {
		if list, ok := obj[key]; ok && json.Unmarshal(list, &arr) == nil {
			return itemList(arr, map[string]string{"records": "record", "results": "result"}[key])
		}
	}
	it, ok := itemOf(obj, where)
	if !ok {
		// A stream trailer or cursor line carries no record.
		return nil
	}
	return []signedItem{it}
}

func itemList(arr []json.RawMessage, noun string) []signedItem {
	items := make([]signedItem, 0, len(arr))
	for i, raw := range arr {
		where := noun + " " + strconv.Itoa(i)
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			items = append(items, signedItem{label: where, problem: "not a JSON object"})
			continue
		}
		if it, ok := itemOf(obj, where); ok {
			items = append(items, it)
		} else {
			items = append(items, signedItem{label: where, problem: "no jws: the record is not signed"})
		}
	}
	return items
}

// itemOf reads one object with a jws member. ok is false for an object that
// neither names a record nor carries a signature.
func itemOf(obj map[string]json.RawMessage, where string) (signedItem, bool) {
	it := signedItem{label: where}
	if raw, ok := obj["id"]; ok {
		_ = json.Unmarshal(raw, &it.id)
	}
	if raw, ok := obj["version"]; ok {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		_ = dec.Decode(&it.version)
	}
	if it.id != "" {
		it.label = it.id
		if it.version != "" {
			it.label += " v" + it.version.String()
		}
	}
	raw, ok := obj["jws"]
	if !ok {
		if it.id == "" {
			return it, false
		}
		it.problem = "no jws: the record is not signed"
		return it, true
	}
	if json.Unmarshal(raw, &it.jws) != nil || it.jws == "" {
		it.problem = "jws is not a string"
	}
	return it, true
}

// why is the one-line reason printed after INVALID. The library's own text
// for a failed signature check adds nothing a reader can act on.
func why(err error) string {
	if errors.Is(err, sign.ErrBadSignature) {
		return "bad signature"
	}
	return err.Error()
}
