// Package devpki is the development PKI behind "ura certs": one directory
// holding a root and an issuing CA, a serving certificate for localhost, a
// separate partner CA, member client certificates, the negative fixtures
// (revoked, expired, a foreign CA claiming a member) and a CRL kept from
// revoked.json. Every key in it is an unprotected file: it is for
// development and tests, never for a running deployment, which only loads
// certificates (package certs) and checks them (package gateway/identity).
package devpki
