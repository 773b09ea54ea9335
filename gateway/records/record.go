// Package records is the record model that crosses the gateway: kinds,
// labels, JSON Schemas, strict decoding and validation.
package records

import (
	"encoding/json"
	"reflect"
	"time"
)

// Kinds of record (gateway/ARCHITECTURE.md, "Records").
const (
	KindLicence            = "licence"
	KindTrackingEvent      = "tracking_event"
	KindEntity             = "entity"
	KindExcludedEntity     = "excluded_entity"
	KindEndUserCertificate = "end_user_certificate"
	// KindDenial is a denial notification (Common Position 2008/944/CFSP
	// art. 4), KindConsultation a consultation of the denying state.
	KindDenial       = "denial"
	KindConsultation = "consultation"
	// The authorisations an export of small arms and light weapons is
	// licensed against (UN Firearms Protocol art. 10(2)), and the register
	// of brokers and their licences (art. 15).
	KindImportAuthorisation  = "import_authorisation"
	KindTransitAuthorisation = "transit_authorisation"
	KindBrokerRegistration   = "broker_registration"
	KindBrokeringLicence     = "brokering_licence"
)

// Kinds lists every record kind in a stable order.
var Kinds = []string{KindLicence, KindTrackingEvent, KindEntity, KindExcludedEntity, KindEndUserCertificate, KindDenial, KindConsultation,
	KindImportAuthorisation, KindTransitAuthorisation, KindBrokerRegistration, KindBrokeringLicence}

// KnownKind reports whether kind is one of Kinds.
func KnownKind(kind string) bool {
	_, ok := bodyKeys[kind]
	return ok
}

// bodyKeys name the member that holds each kind's body. A tracking event's
// body is "event" (gateway/ARCHITECTURE.md, "Records"); every other kind's
// body is named for the kind.
var bodyKeys = map[string]string{
	KindLicence:              "licence",
	KindTrackingEvent:        "event",
	KindEntity:               "entity",
	KindExcludedEntity:       "excluded_entity",
	KindEndUserCertificate:   "end_user_certificate",
	KindDenial:               "denial",
	KindConsultation:         "consultation",
	KindImportAuthorisation:  "import_authorisation",
	KindTransitAuthorisation: "transit_authorisation",
	KindBrokerRegistration:   "broker_registration",
	KindBrokeringLicence:     "brokering_licence",
}

// BodyKey is the top-level member holding the body of a record of kind.
func BodyKey(kind string) string { return bodyKeys[kind] }

// Classifications, lowest first.
var Classifications = []string{"UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"}

// PolicyNATO is the security policy of a label that names none: NATO's
// levels, the ones the gateway has always used (gateway/ARCHITECTURE.md,
// Records).
const PolicyNATO = "NATO"

// Label is the record's confidentiality label (STANAG 4774): the policy its
// classification is expressed in, the classification, Releasable To (the
// permissive category), further categories, originator, creation and
// review.
type Label struct {
	// PolicyID is the security policy of Classification; PolicyNATO when
	// the label names none.
	PolicyID       string    `json:"policy_id"`
	Classification string    `json:"classification"`
	ReleasableTo   []string  `json:"releasable_to"`
	Originator     string    `json:"originator"`
	Created        time.Time `json:"created"`
	// Review is an optional review date (YYYY-MM-DD).
	Review string `json:"review,omitempty"`
	// Categories are the label's typed categories as pushed.
	Categories []Category `json:"categories,omitempty"`
}

// Category types of STANAG 4774.
const (
	CategoryPermissive  = "permissive"
	CategoryRestrictive = "restrictive"
	CategoryInformative = "informative"
)

// Category is one STANAG 4774 category of a label.
type Category struct {
	Type   string   `json:"type"`
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

// Record is one validated record. Raw is what is stored and what policy,
// redaction and signing start from; Doc is the same record decoded (numbers
// as json.Number) for policy input and redaction.
//
// Raw is canonical: object keys sorted, no insignificant whitespace, strings
// re-escaped the one way encoding/json writes them (without HTML escaping),
// numbers exactly as sent. Two pushes of the same content in another key
// order or layout therefore have equal Raw, which is what "unchanged" means.
type Record struct {
	Kind    string
	ID      string
	Version int
	Label   Label
	Doc     map[string]any
	Raw     json.RawMessage
	// digest is Digest(Raw) when the record was built from a push
	// (ContentDigest).
	digest string
	// shape is Doc's shape (Shape) when DecodeStoredRecord found it while
	// decoding; shapeOf is the map it describes, held so that no other
	// map can take its address.
	shape   string
	shapeOf map[string]any
	// body is Body() when build found it, for the map bodyOf (Doc when
	// built): a push's record is asked for its body many times along the
	// chain.
	body, bodyOf map[string]any
}

// Shape is the shape of Doc as the policy's group key writes it
// (gateway/ARCHITECTURE.md, "Decided per chunk"): every object's keys
// sorted, each as its length in decimal, ':' and its bytes, followed by
// its value's shape, between '{' and '}'; every array's elements' shapes
// between '[' and ']'; 's' for a string, 'n' a number, 'b' a boolean, 'z'
// null. ok only for a record DecodeStoredRecord built, with the shape
// written in the same pass as Doc, while Doc is still the map it decoded:
// a record built any other way, or given another Doc, has none, and its
// shape is computed from Doc. Doc is never changed in place once decoded
// (redaction and relabelling copy it); code that did so would have to
// build a new Record.
func (r *Record) Shape() (string, bool) {
	if r.shape == "" || r.Doc == nil || reflect.ValueOf(r.shapeOf).Pointer() != reflect.ValueOf(r.Doc).Pointer() {
		return "", false
	}
	return r.shape, true
}

// Body is the kind-specific part of the record (nil if absent).
func (r *Record) Body() map[string]any {
	if r.body != nil && sameMap(r.bodyOf, r.Doc) {
		return r.body
	}
	return bodyOf(r.Kind, r.Doc)
}

func bodyOf(kind string, doc map[string]any) map[string]any {
	b, _ := doc[BodyKey(kind)].(map[string]any)
	return b
}

// sameMap reports whether a and b are the same map (not equal contents).
// Like Shape, a cached body is only trusted for the very map it was read
// from: a record given another Doc reads its body again.
func sameMap(a, b map[string]any) bool {
	return a != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// Marking is an item's marking as a tracking event carries it.
type Marking struct {
	Country      string `json:"country"`
	Manufacturer string `json:"manufacturer"`
	Serial       string `json:"serial"`
}

// ItemMarking returns the marking of a tracking event's item.
func (r *Record) ItemMarking() (Marking, bool) {
	if r.Kind != KindTrackingEvent {
		return Marking{}, false
	}
	item, _ := r.Body()["item"].(map[string]any)
	mk, _ := item["marking"].(map[string]any)
	m := Marking{}
	m.Country, _ = mk["country"].(string)
	m.Manufacturer, _ = mk["manufacturer"].(string)
	m.Serial, _ = mk["serial"].(string)
	return m, m.Country != "" && m.Manufacturer != "" && m.Serial != ""
}

// EventTime is a tracking event's event.at, the order of an item's trace.
func (r *Record) EventTime() (time.Time, bool) {
	at, _ := r.Body()["at"].(string)
	t, err := ParseDateTime(at)
	return t, err == nil
}
