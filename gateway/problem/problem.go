// Package problem is the gateway's one error type and its one renderer, as
// RFC 9457 application/problem+json. Internal causes are kept for the log and
// never written to the caller.
package problem

import (
	"errors"
	"fmt"
	"net/http"
)

// ContentType is the media type of every error response.
const ContentType = "application/problem+json"

// TypePrefix starts every stable problem type URI.
const TypePrefix = "urn:ura:problem:"

// Stable problem types. Clients may switch on them; never rename one.
const (
	TypeBadRequest       = TypePrefix + "bad-request"
	TypeInvalidRecord    = TypePrefix + "invalid-record"
	TypeBodyTooLarge     = TypePrefix + "body-too-large"
	TypeTooManyRecords   = TypePrefix + "too-many-records"
	TypeTooDeep          = TypePrefix + "json-too-deep"
	TypeStringTooLong    = TypePrefix + "string-too-long"
	TypeUnsupportedMedia = TypePrefix + "unsupported-media-type"
	TypeNotAcceptable    = TypePrefix + "not-acceptable"
	TypeUnauthenticated  = TypePrefix + "unauthenticated"
	TypeUnknownMember    = TypePrefix + "unknown-member"
	TypeForbidden        = TypePrefix + "forbidden"
	TypeNotFound         = TypePrefix + "not-found"
	TypeMethodNotAllowed = TypePrefix + "method-not-allowed"
	TypeConflict         = TypePrefix + "conflict"
	TypeRateLimited      = TypePrefix + "rate-limited"
	TypeUnavailable      = TypePrefix + "unavailable"
	TypeInternal         = TypePrefix + "internal"
)

// FieldError names one invalid field by JSON pointer (and record index for
// batches).
type FieldError struct {
	Record  *int   `json:"record,omitempty"`
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}

// Error is an error with everything needed to answer the caller.
type Error struct {
	Status int
	Type   string
	Title  string
	// Detail is public: it is sent to the caller, so it never holds internals.
	Detail string
	Errors []FieldError
	// Extra members added to the problem object (e.g. retry_after).
	Extra map[string]any
	// Cause is internal: logged, never sent.
	Cause error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Detail)
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Cause }

// New builds a problem with a public detail.
func New(status int, typ, detail string) *Error {
	return &Error{Status: status, Type: typ, Title: http.StatusText(status), Detail: detail}
}

// Wrap attaches an internal cause that is logged but never sent.
func (e *Error) Wrap(cause error) *Error {
	e.Cause = cause
	return e
}

// Unavailable is the answer when a dependency the response needs is down.
func Unavailable(detail string, cause error) *Error {
	return New(http.StatusServiceUnavailable, TypeUnavailable, detail).Wrap(cause)
}

// Internal hides cause behind a generic message.
func Internal(cause error) *Error {
	return New(http.StatusInternalServerError, TypeInternal, "the gateway could not complete the request").Wrap(cause)
}

// From returns err as a problem; anything that is not one is internal.
func From(err error) *Error {
	var p *Error
	if errors.As(err, &p) {
		return p
	}
	return Internal(err)
}

// Body is the JSON object sent to the caller.
func (e *Error) Body(instance string) map[string]any {
	body := map[string]any{
		"type":   e.Type,
		"title":  e.Title,
		"status": e.Status,
	}
	if e.Detail != "" {
		body["detail"] = e.Detail
	}
	if instance != "" {
		body["instance"] = instance
	}
	if len(e.Errors) > 0 {
		body["errors"] = e.Errors
	}
	for k, v := range e.Extra {
		if _, taken := body[k]; !taken {
			body[k] = v
		}
	}
	return body
}
