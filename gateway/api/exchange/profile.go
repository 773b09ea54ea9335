package exchange

import (
	"mime"
	"net/http"
	"strings"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/problem"
)

// The proof profiles a client may name in Accept's profile parameter
// (RFC 6906): how the records of a pull, get or trace are signed
// (gateway/ARCHITECTURE.md, Signing). Without one, sign.proof decides.
const (
	ProfileChunk = "urn:ura:proof:chunk"
	ProfileJWS   = "urn:ura:proof:jws"
)

// profiles maps a profile URI to its sign.proof value.
var profiles = map[string]string{ProfileChunk: config.ProofChunk, ProfileJWS: config.ProofJWS}

// profileURI is the profile URI of a sign.proof value.
func profileURI(proof string) string {
	if proof == config.ProofJWS {
		return ProfileJWS
	}
	return ProfileChunk
}

// negotiate reads Accept: whether the answer is a stream (NDJSON) or JSON,
// and under which proof profile (def, sign.proof, unless the chosen media
// range names one). A media range whose profile names none this gateway
// knows is skipped; when nothing acceptable is left, it is a 406 naming the
// media types and profiles there are.
func negotiate(accept, def string) (stream bool, proof string, err error) {
	if strings.TrimSpace(accept) == "" {
		return false, def, nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || qZero(params["q"]) {
			continue
		}
		switch mt {
		case NDJSON:
			stream = true
		case "application/json", "application/*", "*/*":
			stream = false
		default:
			continue
		}
		raw, named := params["profile"]
		if !named {
			return stream, def, nil
		}
		// A profile parameter is a space-separated list of URIs; the first
		// one known here is the one used.
		for _, uri := range strings.Fields(raw) {
			if proof, ok := profiles[uri]; ok {
				return stream, proof, nil
			}
		}
	}
	p := problem.New(http.StatusNotAcceptable, problem.TypeNotAcceptable,
		`this answers application/json (a page) or application/x-ndjson (a stream), with no profile or profile "`+
			ProfileChunk+`" or "`+ProfileJWS+`"`)
	p.Extra = map[string]any{"available": []string{"application/json", NDJSON}, "profiles": []string{ProfileChunk, ProfileJWS}}
	return false, "", p
}

// contentType is mediaType with the proof profile of its records.
func contentType(mediaType, proof string) string {
	return mediaType + `; profile="` + profileURI(proof) + `"`
}
