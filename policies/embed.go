// Package policies is the default policy bundle of the gateway: Rego v1
// modules in package ura, their unit tests (*_test.rego) and the tables in
// data.json. It is embedded in the binary; policy.dir or a signed
// policy.bundle replaces it.
package policies

import "embed"

// FS holds the bundle's files at its root.
//
//go:embed *.rego data.json
var FS embed.FS
