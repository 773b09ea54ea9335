package server

import (
	_ "embed"

	"github.com/ura-gateway/ura/gateway/records"
)

// openapiDoc is the OpenAPI 3.1 description of every route, kept in the
// repository so partner institutions can generate clients from it. Its
// record schemas are the embedded ones; openapi_test.go fails when a route
// or a schema drifts from it, and rewrites the schemas with -update.
//
//go:embed openapi.json
var openapiDoc []byte

// openapiSchemaNames are the components.schemas entries that hold each
// record kind's JSON Schema.
var openapiSchemaNames = map[string]string{
	records.KindLicence:              "Licence",
	records.KindTrackingEvent:        "TrackingEvent",
	records.KindEntity:               "Entity",
	records.KindExcludedEntity:       "ExcludedEntity",
	records.KindEndUserCertificate:   "EndUserCertificate",
	records.KindDenial:               "Denial",
	records.KindConsultation:         "Consultation",
	records.KindImportAuthorisation:  "ImportAuthorisation",
	records.KindTransitAuthorisation: "TransitAuthorisation",
	records.KindBrokerRegistration:   "BrokerRegistration",
	records.KindBrokeringLicence:     "BrokeringLicence",
}
