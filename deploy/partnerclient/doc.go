// Package partnerclient is a Go client for the ura gateway's API, generated
// by oapi-codegen from the OpenAPI document every gateway serves at
// /v1/openapi.json (gateway/server/openapi.json in this repository).
//
// It is a module of its own, so that a partner institution can depend on it
// without the gateway's dependencies, and so that the gateway's own module
// carries none of the generator's. client.gen.go is generated, never edited;
// after the document changes, regenerate with
//
//	cd deploy/partnerclient && go generate ./...
//
// TestGeneratedClientIsCurrent fails until that is done. The generator's
// version is pinned by the tool directive in go.mod.
//
// The tests here are a partner's view of a real gateway: a `ura serve`
// process built from this repository, reached over mutual TLS with the
// development PKI's member certificates, every signature checked with
// go-jose against the gateway's JWKS (e2e_test.go), and README's partner
// quick-start run command by command (quickstart.sh, quickstart_test.go).
package partnerclient

//go:generate go tool oapi-codegen -config oapi-codegen.yaml -o client.gen.go ../../gateway/server/openapi.json
