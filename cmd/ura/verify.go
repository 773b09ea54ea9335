package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/ura-gateway/ura/gateway/report"
	"github.com/ura-gateway/ura/gateway/sign"
)

// errInvalid ends `ura verify` with exit status 1 after its report.
var errInvalid = errors.New("invalid signatures")

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", "ura verify --jwks URL|FILE [--ca FILE --cert FILE --key FILE] [--record] FILE…",
		"ura verify --jwks https://ura.aim.gov.al:8443/.well-known/jwks.json --ca ca.crt --cert me.crt --key me.key pull.ndjson", stderr)
	jwksArg := fs.String("jwks", "", "JWKS to verify against: a file, or an https URL fetched over mutual TLS")
	caFile := fs.String("ca", "", "CA certificate that verifies the JWKS server (URL only; default: system roots)")
	certFile := fs.String("cert", "", "client certificate presented to the JWKS server (URL only)")
	keyFile := fs.String("key", "", "key of --cert")
	single := fs.Bool("record", false, "each FILE is one record as GET /v1/records/{id} answers it, verified alone (no trailer)")
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
	cv := sign.NewChunkVerifier(v)

	var valid, invalid int
	p := &printer{w: stdout}
	for _, name := range files {
		items, err := readSigned(name, *single)
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
			kid, detail, err := it.verify(ctx, v, cv)
			if err != nil {
				invalid++
				p.printf("%s: INVALID: %s\n", label, why(err))
				continue
			}
			valid++
			if detail != "" {
				detail = ": " + detail
			}
			p.printf("%s: valid (kid %s)%s\n", label, kid, detail)
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
FILE is a saved NDJSON pull (one {"id","version","jws"} or, under the chunk
proof profile, {"id","version","delivery","proof"} per line, then its
signed trailer), a JSON page ({"records":[…]}), a push response
({"results":[…]}, each result with its own "jws" (typ ura-result+jws) or,
under the chunk profile, its "result" payload and "proof"), a signed report ({"report","digest","jws"}: its
digest must be the SHA-256 of the report's canonical JSON, as signed), or
compact JWS, one per line. Each record is reported as
valid or INVALID with the reason; the exit status is 1 when any is invalid.
A pull is also checked as a whole against its trailer (typ ura-trailer+jws):
a line removed, added, repeated or moved, or a trailer missing or edited, is
INVALID; a stream the gateway ended early verifies, reported as INCOMPLETE.
A chunk-profile line verifies alone: its root JWS (typ ura-chunk+jws), the
SHA-256 leaf hash of its delivery and its inclusion path to that root; a
chunk-profile push result likewise, under a root whose leaves are results
(typ_of_leaves ura-result), never a delivery's. A push result's plain fields
(status, reasons, digest, …) must be the signed ones.
With --record, FILE is one record from GET /v1/records/{id}: no trailer.
Only EdDSA and ES256 signatures by a key in the JWKS count: alg none, HMAC,
and keys named by the token (jku, x5u, jwk) are refused.
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
	// typ, when set, is the only typ the JWS may carry: in a pull, every
	// record line is a delivery and the last line a trailer.
	typ string
	// check, when set, is run on the verified payload; what it returns is
	// added to the item's report line.
	check func(payload []byte) (string, error)
	// proof, when set, makes the item a line of the chunk profile: delivery
	// is its base64url payload, proved under proof's signed root, and leaves
	// what that payload is (sign.LeavesDelivery, or sign.LeavesResult for a
	// push result).
	proof    *sign.Proof
	delivery string
	leaves   string
}

func (it signedItem) verify(ctx context.Context, v *sign.Verifier, cv *sign.ChunkVerifier) (kid, detail string, err error) {
	if it.problem != "" {
		return "", "", errors.New(it.problem)
	}
	if it.proof != nil {
		return it.verifyInChunk(ctx, cv)
	}
	payload, kid, err := v.VerifyContext(ctx, it.jws)
	if err != nil {
		return kid, "", err
	}
	if it.typ != "" {
		// The protected header is covered by the signature just checked.
		if got := sign.Typ(it.jws); got != it.typ {
			where := "a pull has"
			switch it.typ {
			case sign.TypReport:
				where = "a report has"
			case sign.TypResult:
				where = "a push answer has"
			}
			return kid, "", fmt.Errorf("typ %q where %s %q", got, where, it.typ)
		}
	}
	if err := matchesPayload(it, payload); err != nil {
		return kid, "", err
	}
	// The label in the (signed) protected header must be the delivered
	// record's: a reader that routes on the header's label must reach the
	// same answer as one that opens the record.
	if err := sign.CheckLabel(it.jws, payload); err != nil {
		return kid, "", err
	}
	if it.check != nil {
		detail, err = it.check(payload)
	}
	return kid, detail, err
}

// verifyInChunk checks a line of the chunk profile alone: its root, its
// leaf and path (sign.ChunkVerifier), then that the line's id and version
// are the delivered record's. The label is inside the delivered record,
// which the leaf hash covers; no header carries another copy to compare.
func (it signedItem) verifyInChunk(ctx context.Context, cv *sign.ChunkVerifier) (kid, detail string, err error) {
	if it.leaves == sign.LeavesResult {
		return it.verifyResultInChunk(ctx, cv)
	}
	payload, chunk, kid, err := cv.Verify(ctx, it.delivery, *it.proof)
	if err != nil {
		return kid, "", err
	}
	var p struct {
		Record struct {
			ID      string      `json:"id"`
			Version json.Number `json:"version"`
		} `json:"record"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return kid, "", fmt.Errorf("the delivery is not a delivery: %v", err)
	}
	if it.id != p.Record.ID || it.version != p.Record.Version {
		return kid, "", fmt.Errorf("the line says %s v%s but the delivered record is %s v%s", it.id, it.version, p.Record.ID, p.Record.Version)
	}
	if it.check != nil {
		if detail, err = it.check(payload); err != nil {
			return kid, "", err
		}
	}
	leaf := fmt.Sprintf("leaf %d of a chunk of %d", it.proof.LeafIndex, chunk.TreeSize)
	if detail != "" {
		leaf += ", " + detail
	}
	return kid, leaf, nil
}

// verifyResultInChunk checks a push result of the chunk profile alone: its
// root, its leaf and path (sign.ChunkVerifier.VerifyResult, a root of
// results only), then its plain fields against the signed ones (check).
func (it signedItem) verifyResultInChunk(ctx context.Context, cv *sign.ChunkVerifier) (kid, detail string, err error) {
	payload, chunk, kid, err := cv.VerifyResult(ctx, it.delivery, *it.proof)
	if err != nil {
		return kid, "", err
	}
	if it.check != nil {
		if detail, err = it.check(payload); err != nil {
			return kid, "", err
		}
	}
	leaf := fmt.Sprintf("leaf %d of a chunk of %d results", it.proof.LeafIndex, chunk.TreeSize)
	if detail != "" {
		leaf += ", " + detail
	}
	return kid, leaf, nil
}

// resultFields are a push result's fields outside its signature: routing
// hints for a client that does not verify, each the signed one.
var resultFields = []string{"index", "id", "version", "status", "reasons", "errors", "decision_id", "digest", "audit_seq"}

// sameResultFields checks that each of a push result's plain fields that is
// there is the signed one: a status or reason edited in the open must not
// pass for the gateway's.
func sameResultFields(plain map[string]json.RawMessage, payload []byte) (string, error) {
	var signed map[string]json.RawMessage
	if err := json.Unmarshal(payload, &signed); err != nil {
		return "", fmt.Errorf("the signed result is not a push result: %v", err)
	}
	if _, ok := signed["status"]; !ok {
		return "", errors.New("the signed payload is not a push result")
	}
	for _, name := range resultFields {
		p, inPlain := plain[name]
		if !inPlain {
			continue
		}
		if s, inSigned := signed[name]; !inSigned || !sameJSON(p, s) {
			return "", fmt.Errorf("the result's %s differs from the signed one", name)
		}
	}
	var r struct {
		Status    string `json:"status"`
		Recipient string `json:"recipient"`
	}
	_ = json.Unmarshal(payload, &r)
	return fmt.Sprintf("%s, for %s", r.Status, r.Recipient), nil
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

// readSigned finds every JWS in a file (or stdin for "-"); single reads it
// as one record from a get, which has no trailer.
func readSigned(name string, single bool) ([]signedItem, error) {
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
	if single {
		return parseRecord(data)
	}
	return parseSigned(data)
}

// parseRecord reads one record line as GET /v1/records/{id} answers it.
func parseRecord(data []byte) ([]signedItem, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return nil, errors.New("--record: the file is not one JSON object")
	}
	if _, record, _ := lineKind(data); !record {
		return nil, errors.New("--record: the file is not a record line ({\"id\",\"version\",\"jws\"} or {\"id\",\"version\",\"delivery\",\"proof\"})")
	}
	it, _ := itemOf(obj, "record")
	if it.proof == nil {
		it.typ = sign.TypDelivery
	}
	deliveryOnly(&it)
	return []signedItem{it}, nil
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
	var (
		values  []jsonValue
		readErr error
	)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for n := 1; ; n++ {
		off := int(dec.InputOffset())
		for off < len(data) && isJSONSpace(data[off]) {
			off++
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = fmt.Errorf("value %d: not JSON: %w", n, err)
				values = append(values, jsonValue{start: off, problem: "not JSON: the stream was cut off, or the line changed"})
			}
			break
		}
		values = append(values, jsonValue{raw: raw, start: off})
	}
	if isPull(values) {
		return pullItems(data, values), nil
	}
	if readErr != nil {
		return nil, readErr
	}
	var items []signedItem
	for i, v := range values {
		items = append(items, itemsOf(v.raw, "line "+strconv.Itoa(i+1))...)
	}
	return items, nil
}

// jsonValue is one top-level value of a file and the offset of its first
// byte; problem says why a value that is not JSON could not be read.
type jsonValue struct {
	raw     json.RawMessage
	start   int
	problem string
}

func isJSONSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// lineKind tells a pull's lines apart: a record line ({"id","version",
// "jws"}), a trailer (next_cursor with no list of records, as a page has),
// or anything else.
func lineKind(raw json.RawMessage) (obj map[string]json.RawMessage, record, trailer bool) {
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return nil, false, false
	}
	for _, key := range []string{"records", "results"} {
		var arr []json.RawMessage
		if list, ok := obj[key]; ok && json.Unmarshal(list, &arr) == nil {
			return obj, false, false // a page or a push response
		}
	}
	if _, ok := obj["next_cursor"]; ok {
		return obj, false, true
	}
	if _, ok := obj["report"]; ok {
		return obj, false, false // a signed report
	}
	_, id := obj["id"]
	_, jws := obj["jws"]
	_, proof := obj["proof"]
	return obj, id || jws || proof, false
}

// isPull reports whether a file is a saved NDJSON pull: it holds a record
// line or a trailer. A pull must end with its signed trailer, so a file of
// record lines without one is a stream that was cut off, or whose trailer
// was removed.
func isPull(values []jsonValue) bool {
	for _, v := range values {
		if _, record, trailer := lineKind(v.raw); record || trailer {
			return true
		}
	}
	return false
}

// pullItems checks a saved NDJSON pull as a whole (ARCHITECTURE.md,
// Signing): every line before the last is a record line signed as a
// delivery; the last is the trailer, signed as a trailer, whose record count
// and digest match the lines before it, whose plain fields are the signed
// ones, and whose recipient is every record's. So a line removed, added,
// repeated, moved or changed, and a trailer removed or altered, are each
// refused. The trailer is reported as the last item.
func pullItems(data []byte, values []jsonValue) []signedItem {
	last := len(values) - 1
	lastObj, _, hasTrailer := lineKind(values[last].raw)
	body := values
	if hasTrailer {
		body = values[:last]
	}
	type recipient struct{ label, member string }
	var (
		items      []signedItem
		recipients []recipient
	)
	for i, v := range body {
		where := "line " + strconv.Itoa(i+1)
		obj, record, trailer := lineKind(v.raw)
		var it signedItem
		switch {
		case v.problem != "":
			it = signedItem{label: where, problem: v.problem}
		case trailer:
			it = signedItem{label: where, problem: "a trailer before the end of the stream: lines were added after it, or two pulls joined"}
		case !record:
			it = signedItem{label: where, problem: "not a record line of a pull"}
		default:
			it, _ = itemOf(obj, where)
			if it.proof == nil {
				it.typ = sign.TypDelivery
			}
			deliveryOnly(&it)
			label := it.label
			it.check = func(payload []byte) (string, error) {
				var d struct {
					Recipient string `json:"recipient"`
				}
				_ = json.Unmarshal(payload, &d)
				recipients = append(recipients, recipient{label, d.Recipient})
				return "", nil
			}
		}
		items = append(items, it)
	}
	if !hasTrailer {
		return append(items, signedItem{label: "trailer", problem: "no trailer: the stream was cut off, or its trailer removed " +
			"(a single record from GET /v1/records/{id} verifies with --record)"})
	}
	tr := signedItem{label: "trailer", typ: sign.TypTrailer}
	raw, ok := lastObj["jws"]
	switch {
	case !ok:
		tr.problem = "the trailer is not signed: nothing vouches for the stream as a whole"
	case json.Unmarshal(raw, &tr.jws) != nil || tr.jws == "":
		tr.problem = "the trailer's jws is not a string"
	}
	// The digest covers every byte before the trailer's line.
	boundary := bytes.LastIndexByte(data[:values[last].start], '\n') + 1
	sum := sha256.Sum256(data[:boundary])
	digest, lines := sign.StreamDigest(sum[:]), len(body)
	tr.check = func(payload []byte) (string, error) {
		var signed sign.Trailer
		if err := json.Unmarshal(payload, &signed); err != nil {
			return "", fmt.Errorf("the signed trailer is not a trailer: %v", err)
		}
		if signed.Records != lines {
			return "", fmt.Errorf("the trailer counts %d records, the file holds %d lines before it", signed.Records, lines)
		}
		if signed.Digest != digest {
			return "", errors.New("the lines do not match the trailer's digest: a line was changed, removed, added, repeated or moved")
		}
		if err := samePlainFields(lastObj, payload); err != nil {
			return "", err
		}
		for _, r := range recipients {
			if r.member != signed.Recipient {
				return "", fmt.Errorf("%s was signed for %q, the trailer for %q", r.label, r.member, signed.Recipient)
			}
		}
		detail := fmt.Sprintf("%d records for %s, complete", signed.Records, signed.Recipient)
		if !signed.Complete {
			why, _ := signed.Error["type"].(string)
			detail = fmt.Sprintf("%d records for %s, INCOMPLETE: the gateway ended the stream early (%s); resume from its next_cursor",
				signed.Records, signed.Recipient, why)
		}
		return detail, nil
	}
	return append(items, tr)
}

// samePlainFields checks that the fields a client reads beside the trailer's
// JWS are the signed ones: a count, cursor, completeness or error edited
// in the open must not pass for the gateway's.
func samePlainFields(plain map[string]json.RawMessage, payload []byte) error {
	var signed map[string]json.RawMessage
	if err := json.Unmarshal(payload, &signed); err != nil {
		return err
	}
	for _, name := range []string{"next_cursor", "complete", "records", "digest", "error"} {
		p, inPlain := plain[name]
		s, inSigned := signed[name]
		if inPlain != inSigned || (inPlain && !sameJSON(p, s)) {
			return fmt.Errorf("the trailer's %s differs from the signed one", name)
		}
	}
	return nil
}

// sameJSON compares two JSON values as values, numbers exactly.
func sameJSON(a, b json.RawMessage) bool {
	decode := func(raw json.RawMessage) (any, bool) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		return v, dec.Decode(&v) == nil
	}
	va, okA := decode(a)
	vb, okB := decode(b)
	return okA && okB && reflect.DeepEqual(va, vb)
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
	if rep, ok := obj["report"]; ok {
		return []signedItem{reportItem(obj, rep, where)}
	}
	// A page or push response holds its records in an array.
	if list, ok := obj["records"]; ok && json.Unmarshal(list, &arr) == nil {
		return itemList(arr, "record")
	}
	if list, ok := obj["results"]; ok && json.Unmarshal(list, &arr) == nil {
		return itemList(arr, "result")
	}
	it, ok := itemOf(obj, where)
	if !ok {
		// An object that names no record and carries no signature.
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
			if noun == "result" {
				asResult(&it, obj)
			} else {
				deliveryOnly(&it)
			}
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
	if raw, ok := obj["proof"]; ok {
		var p sign.Proof
		if err := json.Unmarshal(raw, &p); err != nil {
			it.problem = "proof is not a chunk proof: " + err.Error()
			return it, true
		}
		it.proof = &p
		// The payload beside a proof is named after its kind of leaf: a
		// pull line's "delivery", a push result's "result".
		_, delivery := obj["delivery"]
		_, result := obj["result"]
		field := "delivery"
		it.leaves = sign.LeavesDelivery
		if result && !delivery {
			field, it.leaves = "result", sign.LeavesResult
		}
		if json.Unmarshal(obj[field], &it.delivery) != nil || it.delivery == "" || delivery && result {
			it.problem = "no delivery or result beside the proof"
		}
		return it, true
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

// deliveryOnly refuses a push result where a pull, page or get has a
// delivered record.
func deliveryOnly(it *signedItem) {
	if it.problem == "" && it.leaves == sign.LeavesResult {
		it.problem = "a push result where a pull has a delivered record"
	}
}

// asResult makes it a push result: a JWS of typ ura-result+jws, or a
// result leaf under a chunk root, whose plain fields are the signed ones.
func asResult(it *signedItem, plain map[string]json.RawMessage) {
	if it.problem != "" {
		return
	}
	if it.proof == nil {
		it.typ = sign.TypResult
	} else if it.leaves != sign.LeavesResult {
		it.problem = "a delivered record where a push answer has a result"
		return
	}
	it.check = func(payload []byte) (string, error) { return sameResultFields(plain, payload) }
}

// why is the one-line reason printed after INVALID. The library's own text
// for a failed signature check adds nothing a reader can act on.
func why(err error) string {
	if errors.Is(err, sign.ErrBadSignature) {
		return "bad signature"
	}
	return err.Error()
}

// reportItem reads a signed report ({"report", "digest", "jws"}, as `GET
// /v1/reports/att` and `ura report att --format json --sign` write it):
// its JWS must be a report attestation (typ ura-report+jws) whose digest is
// that of the report beside it (gateway/report).
func reportItem(obj map[string]json.RawMessage, rep json.RawMessage, where string) signedItem {
	it := signedItem{label: where + ": report", typ: sign.TypReport}
	var digest string
	_ = json.Unmarshal(obj["digest"], &digest)
	raw, ok := obj["jws"]
	if !ok || json.Unmarshal(raw, &it.jws) != nil || it.jws == "" {
		it.problem = "no jws: the report is not signed"
		return it
	}
	it.check = func(payload []byte) (string, error) {
		a, err := report.CheckAttestation(payload, rep, digest)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("ATT report %s %d, %s, for %q", a.ReportingState, a.Year, a.Digest, a.Recipient), nil
	}
	return it
}
