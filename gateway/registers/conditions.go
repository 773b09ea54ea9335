package registers

import (
	"encoding/json"

	"github.com/ura-gateway/ura/gateway/records"
)

// The keyed registers of licence conditions and brokering
// (gateway/ARCHITECTURE.md, "Licence conditions"): what the policy reads of
// import and transit authorisations, end-user certificates, the conditions
// each licence names, brokers' registrations and brokering licences. A
// licence looks up the authorisations, certificate and broker it names; an
// export declaration its licence's conditions, then (Follow) the import
// authorisation and certificate those name, its licence's non-objection of
// each transit state it passes, and its own broker.
var (
	importAuthorisations = Keyed{Name: "import_authorisations", Version: 1,
		Entries: importAuthorisationEntries, Lookups: namedByLicence("import_authorisation"),
		Follow: followConditions(func(c conditionsValue) string { return c.ImportAuthorisation })}
	transitAuthorisations = Keyed{Name: "transit_authorisations", Version: 1,
		Entries: transitAuthorisationEntries, Lookups: transitLookups}
	endUserCertificates = Keyed{Name: "end_user_certificates", Version: 1,
		Entries: endUserCertificateEntries, Lookups: namedByLicence("end_user_certificate_id"),
		Follow: followConditions(func(c conditionsValue) string { return c.EndUserCertificate })}
	licenceConditions = Keyed{Name: "licence_conditions", Version: 1,
		Entries: licenceConditionEntries, Lookups: declaredLicence}
	brokerRegistrations = Keyed{Name: "broker_registrations", Version: 1,
		Entries: brokerRegistrationEntries, Lookups: brokerLookup("entity_id")}
	brokeringLicences = Keyed{Name: "brokering_licences", Version: 1,
		Entries: brokeringLicenceEntries, Lookups: brokerLookup("brokering_licence_id")}
)

// TransitKey is the key of a transit state's non-objection for a licence.
func TransitKey(licenceID, state string) string { return licenceID + "|" + state }

// authorisationValue is an import authorisation as the policy reads it.
type authorisationValue struct {
	RecordID    string           `json:"record_id"`
	Reference   string           `json:"reference"`
	Destination string           `json:"destination"`
	ValidFrom   string           `json:"valid_from"`
	ValidUntil  string           `json:"valid_until"`
	Items       map[string]int64 `json:"items"`
}

func importAuthorisationEntries(rec *records.Record) []KeyedEntry {
	body := bodyOf(rec, records.KindImportAuthorisation)
	ref := str(body["reference"])
	if ref == "" {
		return nil
	}
	return []KeyedEntry{{Key: ref, Value: authorisationValue{RecordID: rec.ID, Reference: ref,
		Destination: str(body["destination"]), ValidFrom: str(body["valid_from"]), ValidUntil: str(body["valid_until"]),
		Items: goodsOf(body["items"])}}}
}

type transitValue struct {
	RecordID     string `json:"record_id"`
	TransitState string `json:"transit_state"`
	LicenceID    string `json:"licence_id"`
	ValidFrom    string `json:"valid_from"`
	ValidUntil   string `json:"valid_until"`
}

func transitAuthorisationEntries(rec *records.Record) []KeyedEntry {
	body := bodyOf(rec, records.KindTransitAuthorisation)
	lic, state := str(body["licence_id"]), str(body["transit_state"])
	if lic == "" || state == "" {
		return nil
	}
	return []KeyedEntry{{Key: TransitKey(lic, state), Value: transitValue{RecordID: rec.ID, TransitState: state,
		LicenceID: lic, ValidFrom: str(body["valid_from"]), ValidUntil: str(body["valid_until"])}}}
}

// transitLookups: a licence reads the non-objection of each transit state
// it lists; an export declaration, for its licence, that of each transit
// state the shipment passes through (held to the declaration's date).
func transitLookups(rec *records.Record) []string {
	lic, body := rec.ID, bodyOf(rec, records.KindLicence)
	if body == nil {
		if l, ok := exportLicence(rec); ok && str(rec.Body()["type"]) == "EXPORT_DECLARED" {
			lic, body = l, rec.Body()
		}
	}
	// stringList's list is new: each state is replaced by its key.
	keys := stringList(body["transit"])
	for i, s := range keys {
		keys[i] = TransitKey(lic, s)
	}
	return keys
}

type endUserValue struct {
	EntityID string `json:"entity_id,omitempty"`
	Name     string `json:"name"`
	Country  string `json:"country"`
}

type certificateValue struct {
	RecordID   string           `json:"record_id"`
	Status     string           `json:"status"`
	EndUser    endUserValue     `json:"end_user"`
	Country    string           `json:"country"`
	IssuedOn   string           `json:"issued_on"`
	ValidUntil string           `json:"valid_until"`
	Items      map[string]int64 `json:"items"`
	// ReexportClause says whether the certificate records its re-export
	// clause; the clause's text is not the policy's to read.
	ReexportClause bool `json:"reexport_clause"`
}

func endUserCertificateEntries(rec *records.Record) []KeyedEntry {
	body := bodyOf(rec, records.KindEndUserCertificate)
	if body == nil {
		return nil
	}
	eu, _ := body["end_user"].(map[string]any)
	status := str(body["status"])
	if status == "" {
		status = "valid"
	}
	return []KeyedEntry{{Key: rec.ID, Value: certificateValue{RecordID: rec.ID, Status: status,
		EndUser: endUserValue{EntityID: str(eu["entity_id"]), Name: str(eu["name"]), Country: str(eu["country"])},
		Country: str(body["country"]), IssuedOn: str(body["issued_on"]), ValidUntil: str(body["valid_until"]),
		Items: goodsOf(body["items"]), ReexportClause: str(body["reexport_clause"]) != ""}}}
}

// conditionsValue is what a licence names that its declarations are held
// to.
type conditionsValue struct {
	ImportAuthorisation string   `json:"import_authorisation,omitempty"`
	EndUserCertificate  string   `json:"end_user_certificate,omitempty"`
	Transit             []string `json:"transit"`
}

// appendJSON appends c as the encoder writes it, when every string in it
// is plain (printable ASCII, no quote or backslash: written as it is);
// false otherwise, for the encoder to write.
func (c conditionsValue) appendJSON(b []byte) ([]byte, bool) {
	if c.Transit == nil {
		return b, false // null; the encoder's
	}
	b = append(b, '{')
	if c.ImportAuthorisation != "" {
		if b = appendPlain(append(b, `"import_authorisation":`...), c.ImportAuthorisation); b == nil {
			return nil, false
		}
		b = append(b, ',')
	}
	if c.EndUserCertificate != "" {
		if b = appendPlain(append(b, `"end_user_certificate":`...), c.EndUserCertificate); b == nil {
			return nil, false
		}
		b = append(b, ',')
	}
	b = append(b, `"transit":[`...)
	for i, t := range c.Transit {
		if i > 0 {
			b = append(b, ',')
		}
		if b = appendPlain(b, t); b == nil {
			return nil, false
		}
	}
	return append(b, "]}"...), true
}

// appendPlain appends s as a JSON string when it needs no escape; nil
// when it does.
func appendPlain(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return nil
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

func licenceConditionEntries(rec *records.Record) []KeyedEntry {
	body := bodyOf(rec, records.KindLicence)
	if body == nil {
		return nil
	}
	transit := stringList(body["transit"])
	if transit == nil {
		transit = []string{}
	}
	return []KeyedEntry{{Key: rec.ID, Value: conditionsValue{ImportAuthorisation: str(body["import_authorisation"]),
		EndUserCertificate: str(body["end_user_certificate_id"]), Transit: transit}}}
}

// declaredLicence: an export declaration reads the conditions of the
// licence it cites.
func declaredLicence(rec *records.Record) []string {
	if lic, ok := exportLicence(rec); ok {
		return []string{lic}
	}
	return nil
}

// namedByLicence: a licence reads the entry it names in field.
func namedByLicence(field string) func(*records.Record) []string {
	return func(rec *records.Record) []string {
		if v := str(bodyOf(rec, records.KindLicence)[field]); v != "" {
			return []string{v}
		}
		return nil
	}
}

type registrationValue struct {
	RecordID           string `json:"record_id"`
	RegisteringState   string `json:"registering_state"`
	RegistrationNumber string `json:"registration_number"`
	ValidFrom          string `json:"valid_from"`
	ValidUntil         string `json:"valid_until"`
	Status             string `json:"status"`
}

func brokerRegistrationEntries(rec *records.Record) []KeyedEntry {
	body := bodyOf(rec, records.KindBrokerRegistration)
	b, _ := body["broker"].(map[string]any)
	id := str(b["entity_id"])
	if id == "" {
		return nil
	}
	return []KeyedEntry{{Key: id, Value: registrationValue{RecordID: rec.ID, RegisteringState: str(body["registering_state"]),
		RegistrationNumber: str(body["registration_number"]), ValidFrom: str(body["valid_from"]),
		ValidUntil: str(body["valid_until"]), Status: str(body["status"])}}}
}

type brokeringValue struct {
	RecordID    string           `json:"record_id"`
	Broker      string           `json:"broker"`
	Destination string           `json:"destination"`
	Status      string           `json:"status"`
	ValidFrom   string           `json:"valid_from"`
	ValidUntil  string           `json:"valid_until"`
	Items       map[string]int64 `json:"items"`
}

func brokeringLicenceEntries(rec *records.Record) []KeyedEntry {
	body := bodyOf(rec, records.KindBrokeringLicence)
	if body == nil {
		return nil
	}
	b, _ := body["broker"].(map[string]any)
	return []KeyedEntry{{Key: rec.ID, Value: brokeringValue{RecordID: rec.ID, Broker: str(b["entity_id"]),
		Destination: str(body["destination"]), Status: str(body["status"]), ValidFrom: str(body["valid_from"]),
		ValidUntil: str(body["valid_until"]), Items: goodsOf(body["items"])}}}
}

// brokerLookup: a licence or an export declaration naming a broker reads
// the entry under the broker's field.
func brokerLookup(field string) func(*records.Record) []string {
	return func(rec *records.Record) []string {
		var body map[string]any
		switch {
		case rec.Kind == records.KindLicence:
			body = rec.Body()
		case rec.Kind == records.KindTrackingEvent && str(rec.Body()["type"]) == "EXPORT_DECLARED":
			body = rec.Body()
		}
		b, _ := body["broker"].(map[string]any)
		if v := str(b[field]); v != "" {
			return []string{v}
		}
		return nil
	}
}

// bodyOf is rec's body when it is of kind, else nil.
func bodyOf(rec *records.Record, kind string) map[string]any {
	if rec == nil || rec.Kind != kind {
		return nil
	}
	return rec.Body()
}

// goodsOf sums a list of goods' quantities per ML category.
func goodsOf(v any) map[string]int64 {
	out := map[string]int64{}
	list, _ := v.([]any)
	for _, it := range list {
		m, _ := it.(map[string]any)
		if cat := str(m["ml_category"]); cat != "" {
			out[cat] += quantity(m["quantity"], 0)
		}
	}
	return out
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok && s != "" {
			if out == nil {
				out = make([]string, 0, len(list))
			}
			out = append(out, s)
		}
	}
	return out
}

// followConditions: an export declaration reads, in its licence's
// conditions as the first read returned them, the entry pick names.
func followConditions(pick func(conditionsValue) string) func(*records.Record, *Snapshot) []string {
	return func(rec *records.Record, snap *Snapshot) []string {
		lic, ok := exportLicence(rec)
		if !ok {
			return nil
		}
		c, ok := snap.licenceConditions(lic)
		if !ok {
			return nil
		}
		if v := pick(c); v != "" {
			return []string{v}
		}
		return nil
	}
}

// licenceConditions reads what the snapshot holds of a licence's
// conditions (the licence puts one entry, under its own id).
func (s *Snapshot) licenceConditions(lic string) (conditionsValue, bool) {
	v, ok := s.KeyedEntries(licenceConditions.Name, lic)[lic]
	if !ok {
		return conditionsValue{}, false
	}
	var c conditionsValue
	if err := json.Unmarshal(v.Value, &c); err != nil {
		return conditionsValue{}, false
	}
	return c, true
}
