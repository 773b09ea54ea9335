// Package certs is ura's PKI code: building CAs, issuing member and server
// certificates, signing CRLs, and reading and writing PEM files. The
// development PKI behind "ura certs" is package certs/devpki, built on this
// one; nothing here writes a fixed directory layout.
//
// A member's identity is carried in its client certificate as exactly one
// SAN URI, urn:ura:member: followed by the member ID (INSTANCE/CLASS/CODE);
// its syntax belongs to package gateway/identity, which builds and parses
// it. This package issues such certificates but never decides whom to
// trust: checking chains, CA prefixes and revocation is done where
// connections are accepted, so that a certificate built here for a negative
// test (no URI, two URIs, a foreign CA claiming a member) is refused there.
//
// All keys are ECDSA P-256. Files are replaced atomically (write to a
// temporary file, then rename) because a running gateway reloads
// certificates and CRLs from disk and must never read a half-written one.
package certs
