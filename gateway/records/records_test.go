package records

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/problem"
)

var refPattern = regexp.MustCompile(`"\$ref":\s*"([^"]*)"`)

var testLimits = Limits{MaxRecords: 1000, MaxDepth: 16, MaxStringLength: 8192}

// sample returns the valid record of kind from testdata, decoded.
func sample(t testing.TB, kind string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "valid", kind+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// edit changes doc at an RFC 6901 pointer: set (value) or delete (del).
func edit(t testing.TB, doc map[string]any, ptr string, value any, del bool) {
	t.Helper()
	tokens, err := ParsePointer(ptr)
	if err != nil || len(tokens) == 0 {
		t.Fatalf("bad pointer %q", ptr)
	}
	var parent any = doc
	for _, tok := range tokens[:len(tokens)-1] {
		switch p := parent.(type) {
		case map[string]any:
			parent = p[tok]
		case []any:
			i, _ := strconv.Atoi(tok)
			parent = p[i]
		}
	}
	last := tokens[len(tokens)-1]
	switch p := parent.(type) {
	case map[string]any:
		if del {
			delete(p, last)
		} else {
			p[last] = value
		}
	case []any:
		i, _ := strconv.Atoi(last)
		p[i] = value
	default:
		t.Fatalf("pointer %q does not reach a container", ptr)
	}
}

func batchOf(t testing.TB, docs ...any) []byte {
	t.Helper()
	b, err := json.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSchemasCompileAndStandAlone(t *testing.T) {
	if err := LoadSchemas(); err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds {
		doc, ok, err := Schema(k)
		if err != nil || !ok {
			t.Fatalf("Schema(%s) = ok %v, %v", k, ok, err)
		}
		var s map[string]any
		if err := json.Unmarshal(doc, &s); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" || s["$id"] != "urn:ura:schema:"+k {
			t.Errorf("%s: $schema %v $id %v", k, s["$schema"], s["$id"])
		}
		// A served schema must stand alone: every $ref points inside it.
		for _, m := range refPattern.FindAllStringSubmatch(string(doc), -1) {
			if !strings.HasPrefix(m[1], "#/$defs/") {
				t.Errorf("%s: $ref %q leaves the document", k, m[1])
			}
			def := strings.TrimPrefix(m[1], "#/$defs/")
			if _, ok := s["$defs"].(map[string]any)[def]; !ok {
				t.Errorf("%s: $ref %q has no definition", k, m[1])
			}
		}
	}
	if _, ok, _ := Schema("weapon"); ok {
		t.Error("Schema(weapon) found a schema for an unknown kind")
	}
}

func TestCountryLists(t *testing.T) {
	cs := Countries()
	if len(cs) != 250 { // 249 ISO 3166-1 codes + XKX
		t.Fatalf("%d countries, want 250", len(cs))
	}
	for _, c := range []string{"ALB", "ITA", "CZE", "HRV", "XKX", "USA", "ZWE", "ALA"} {
		if !IsCountry(c) || !IsNation(c) {
			t.Errorf("%s not accepted", c)
		}
	}
	for _, c := range []string{"NATO", "EU"} {
		if IsCountry(c) || !IsNation(c) {
			t.Errorf("%s: country %v nation %v; want a nation only", c, IsCountry(c), IsNation(c))
		}
	}
	for _, c := range []string{"AL", "alb", "XXX", "KOS", "YUG", ""} {
		if IsCountry(c) || IsNation(c) {
			t.Errorf("%q accepted", c)
		}
	}
}

func TestValidSamples(t *testing.T) {
	for _, k := range Kinds {
		t.Run(k, func(t *testing.T) {
			got, err := DecodeBatch(batchOf(t, sample(t, k)), FormatJSON, testLimits)
			if err != nil {
				t.Fatal(err)
			}
			c := got[0]
			if !c.Valid() {
				t.Fatalf("invalid: %+v", c.Errors)
			}
			r := c.Record
			if r.Kind != k || r.ID == "" || r.Version < 1 || r.Label.Originator == "" || r.Label.Created.IsZero() || len(r.Label.ReleasableTo) == 0 {
				t.Errorf("record fields not filled: %+v", r)
			}
			if r.Body() == nil {
				t.Error("Body() is nil")
			}
			var back map[string]any
			if err := json.Unmarshal(r.Raw, &back); err != nil || back["id"] != r.ID {
				t.Errorf("Raw does not decode back: %v", err)
			}
		})
	}
}

// TestValidationErrors is the table of every kind of invalid field: each
// case breaks one sample record and names the pointer that must be reported.
func TestValidationErrors(t *testing.T) {
	type change struct {
		ptr   string
		value any
		del   bool
	}
	set := func(ptr string, v any) change { return change{ptr: ptr, value: v} }
	del := func(ptr string) change { return change{ptr: ptr, del: true} }
	cases := []struct {
		name    string
		kind    string
		changes []change
		want    map[string]string // pointer → substring of the detail
	}{
		{"unknown top-level field", KindLicence, []change{set("/extra", "x")}, map[string]string{"/extra": "not a known field"}},
		{"unknown nested field", KindLicence, []change{set("/licence/holder/tax_office", "x")}, map[string]string{"/licence/holder/tax_office": "not a known field"}},
		{"unknown label field", KindLicence, []change{set("/label/caveat", "EYES ONLY")}, map[string]string{"/label/caveat": "not a known field"}},
		{"missing body", KindLicence, []change{del("/licence")}, map[string]string{"/licence": "required"}},
		{"missing label", KindEntity, []change{del("/label")}, map[string]string{"/label": "required"}},
		{"missing kind", KindLicence, []change{del("/kind")}, map[string]string{"/kind": "required"}},
		{"unknown kind", KindLicence, []change{set("/kind", "weapon")}, map[string]string{"/kind": "must be one of"}},
		{"kind of wrong type", KindLicence, []change{set("/kind", 7)}, map[string]string{"/kind": "must be one of"}},
		{"body of another kind", KindLicence, []change{set("/kind", KindEntity)}, map[string]string{"/licence": "not a known field", "/entity": "required"}},
		{"version as string", KindLicence, []change{set("/version", "3")}, map[string]string{"/version": "want integer"}},
		{"version zero", KindLicence, []change{set("/version", json.Number("0"))}, map[string]string{"/version": "minimum"}},
		{"version fractional", KindLicence, []change{set("/version", json.Number("1.5"))}, map[string]string{"/version": "want integer"}},
		{"id with slash", KindLicence, []change{set("/id", "AIM/LIC/1")}, map[string]string{"/id": "does not match pattern"}},
		{"bad classification", KindLicence, []change{set("/label/classification", "TOP SECRET")}, map[string]string{"/label/classification": "must be one of UNCLASSIFIED"}},
		{"bad releasability", KindLicence, []change{set("/label/releasable_to", []any{"ALB", "AL"})}, map[string]string{"/label/releasable_to/1": "ISO 3166-1"}},
		{"empty releasability", KindLicence, []change{set("/label/releasable_to", []any{})}, map[string]string{"/label/releasable_to": "minItems"}},
		{"duplicate releasability", KindLicence, []change{set("/label/releasable_to", []any{"ALB", "ALB"})}, map[string]string{"/label/releasable_to": "are equal"}},
		{"bad originator", KindLicence, []change{set("/label/originator", "aim")}, map[string]string{"/label/originator": "does not match pattern"}},
		{"created without zone", KindLicence, []change{set("/label/created", "2026-05-01T10:00:00")}, map[string]string{"/label/created": "date-time"}},
		{"national policy and marking", KindLicence, []change{set("/label/policy_id", "AL"), set("/label/classification", "KONFIDENCIAL")}, nil},
		{"national marking with a diacritic", KindLicence, []change{set("/label/policy_id", "AL"), set("/label/classification", "TEPËR SEKRET")}, nil},
		{"national marking without its policy", KindLicence, []change{set("/label/classification", "KONFIDENCIAL")}, map[string]string{"/label/classification": "must be one of UNCLASSIFIED"}},
		{"national marking under NATO policy", KindLicence, []change{set("/label/policy_id", "NATO"), set("/label/classification", "SEGRETO")}, map[string]string{"/label/classification": "must be one of UNCLASSIFIED"}},
		{"bad policy id", KindLicence, []change{set("/label/policy_id", "al")}, map[string]string{"/label/policy_id": "does not match pattern"}},
		{"categories", KindLicence, []change{set("/label/categories", []any{
			map[string]any{"type": "permissive", "name": "Releasable To", "values": []any{"NATO", "CZE", "ALB"}},
			map[string]any{"type": "restrictive", "name": "Special Category", "values": []any{"CRYPTO"}},
			map[string]any{"type": "informative", "name": "Administrative", "values": []any{"COMMERCIAL IN CONFIDENCE"}}})}, nil},
		{"permissive category disagrees with releasable_to", KindLicence, []change{set("/label/categories", []any{
			map[string]any{"type": "permissive", "name": "Releasable To", "values": []any{"ALB", "ITA"}}})},
			map[string]string{"/label/categories/0/values": "exactly the nations of label.releasable_to"}},
		{"restrictive category with too many values", KindLicence, []change{set("/label/categories", []any{
			map[string]any{"type": "restrictive", "name": "X", "values": manyValues(65)}})}, map[string]string{"/label/categories/0/values": "maxItems"}},
		{"unknown category type", KindLicence, []change{set("/label/categories", []any{
			map[string]any{"type": "mandatory", "name": "X", "values": []any{"Y"}}})}, map[string]string{"/label/categories/0/type": "must be one of"}},
		{"review before created", KindLicence, []change{set("/label/review", "2026-04-01")}, map[string]string{"/label/review": "before label.created"}},
		{"bad date month", KindLicence, []change{set("/licence/valid_until", "2027-13-01")}, map[string]string{"/licence/valid_until": "date"}},
		{"date not a calendar day", KindLicence, []change{set("/licence/valid_from", "2026-02-30")}, map[string]string{"/licence/valid_from": "date"}},
		{"date in other format", KindLicence, []change{set("/licence/valid_from", "01.05.2026")}, map[string]string{"/licence/valid_from": "date"}},
		{"validity ends before it starts", KindLicence, []change{set("/licence/valid_until", "2026-04-30")}, map[string]string{"/licence/valid_until": "before valid_from"}},
		{"bad destination", KindLicence, []change{set("/licence/destination", "CZ")}, map[string]string{"/licence/destination": "ISO 3166-1"}},
		{"NATO is not a destination country", KindLicence, []change{set("/licence/destination", "NATO")}, map[string]string{"/licence/destination": "ISO 3166-1"}},
		{"bad transit", KindLicence, []change{set("/licence/transit", []any{"HRV", "YUG"})}, map[string]string{"/licence/transit/1": "ISO 3166-1"}},
		{"bad ML category", KindLicence, []change{set("/licence/items/0/ml_category", "ML23")}, map[string]string{"/licence/items/0/ml_category": "ML1 to ML22"}},
		{"ML category lower case", KindLicence, []change{set("/licence/items/0/ml_category", "ml3")}, map[string]string{"/licence/items/0/ml_category": "ML1 to ML22"}},
		{"bad ATT category", KindLicence, []change{set("/licence/items/0/att_category", "tanks")}, map[string]string{"/licence/items/0/att_category": "must be one of"}},
		{"bad ATT sub-category", KindLicence, []change{set("/licence/items/1/att_subcategory", "sniper_rifles")}, map[string]string{"/licence/items/1/att_subcategory": "must be one of"}},
		{"bad ATT sub-category of an event", KindTrackingEvent, []change{set("/event/item/att_subcategory", "pistols")}, map[string]string{"/event/item/att_subcategory": "must be one of"}},
		{"negative quantity", KindLicence, []change{set("/licence/items/0/quantity", json.Number("-1"))}, map[string]string{"/licence/items/0/quantity": "minimum"}},
		{"fractional quantity", KindLicence, []change{set("/licence/items/0/quantity", json.Number("2.5"))}, map[string]string{"/licence/items/0/quantity": "want integer"}},
		{"quantity as string", KindLicence, []change{set("/licence/items/0/quantity", "200000")}, map[string]string{"/licence/items/0/quantity": "want integer"}},
		{"HS code outside chapter 93", KindLicence, []change{set("/licence/items/0/hs_code", "8710")}, map[string]string{"/licence/items/0/hs_code": "does not match pattern"}},
		{"no items", KindLicence, []change{set("/licence/items", []any{})}, map[string]string{"/licence/items": "minItems"}},
		{"bad currency", KindLicence, []change{set("/licence/contract_value/currency", "euro")}, map[string]string{"/licence/contract_value/currency": "does not match pattern"}},
		{"absurd amount", KindLicence, []change{set("/licence/contract_value/amount", json.Number("1e400"))}, map[string]string{"/licence/contract_value/amount": "maximum"}},
		{"negative amount", KindLicence, []change{set("/licence/contract_value/amount", json.Number("-10"))}, map[string]string{"/licence/contract_value/amount": "minimum"}},
		{"bad NIPT", KindLicence, []change{set("/licence/holder/entity_id", "61234567")}, map[string]string{"/licence/holder/entity_id": "does not match pattern"}},
		{"bad email", KindLicence, []change{set("/licence/end_user/contact/email", "not-an-address")}, map[string]string{"/licence/end_user/contact/email": "email"}},
		{"bad status", KindLicence, []change{set("/licence/status", "cancelled")}, map[string]string{"/licence/status": "must be one of issued"}},
		{"export without end user", KindLicence, []change{del("/licence/end_user")}, map[string]string{"/licence/end_user": "required"}},
		{"production licence needs no end user", KindLicence, []change{set("/licence/type", "production"), del("/licence/end_user"), del("/licence/destination")}, nil},
		{"two faults at once", KindLicence, []change{set("/licence/items/0/quantity", json.Number("-5")), set("/licence/destination", "XYZ")},
			map[string]string{"/licence/items/0/quantity": "minimum", "/licence/destination": "ISO 3166-1"}},
		{"bad event type", KindTrackingEvent, []change{set("/event/type", "SOLD")}, map[string]string{"/event/type": "must be one of"}},
		{"bad event time", KindTrackingEvent, []change{set("/event/at", "yesterday")}, map[string]string{"/event/at": "date-time"}},
		{"bad marking country", KindTrackingEvent, []change{set("/event/item/marking/country", "Albania")}, map[string]string{"/event/item/marking/country": "ISO 3166-1"}},
		{"marking without serial", KindTrackingEvent, []change{del("/event/item/marking/serial")}, map[string]string{"/event/item/marking/serial": "required"}},
		{"serial with slash", KindTrackingEvent, []change{set("/event/item/marking/serial", "K26/1")}, map[string]string{"/event/item/marking/serial": "does not match pattern"}},
		{"made after the event", KindTrackingEvent, []change{set("/event/item/marking/year", json.Number("2027"))}, map[string]string{"/event/item/marking/year": "after the event"}},
		{"export declared without destination", KindTrackingEvent, []change{del("/event/to")}, map[string]string{"/event/to": "required"}},
		{"trace request without trace", KindTrackingEvent, []change{set("/event/type", "TRACE_REQUEST")}, map[string]string{"/event/trace": "required"}},
		{"trace response without trace", KindTrackingEvent, []change{set("/event/type", "TRACE_RESPONSE")}, map[string]string{"/event/trace": "required"}},
		{"trace request", KindTrackingEvent, []change{set("/event/type", "TRACE_REQUEST"),
			set("/event/trace", map[string]any{"request_id": "IT-TR-2026-0001", "reason": "rifle seized in Bari", "requesting_authority": "Carabinieri, Reparto Operativo di Bari"})}, nil},
		{"trace request without reason or authority", KindTrackingEvent, []change{set("/event/type", "TRACE_REQUEST"), set("/event/trace", map[string]any{"request_id": "IT-TR-2026-0001"})},
			map[string]string{"/event/trace/reason": "required", "/event/trace/requesting_authority": "required"}},
		{"trace request with an empty reason", KindTrackingEvent, []change{set("/event/type", "TRACE_REQUEST"),
			set("/event/trace", map[string]any{"request_id": "IT-TR-2026-0001", "reason": "", "requesting_authority": "Carabinieri"})}, map[string]string{"/event/trace/reason": "minLength"}},
		{"trace request with an endless authority", KindTrackingEvent, []change{set("/event/type", "TRACE_REQUEST"),
			set("/event/trace", map[string]any{"request_id": "IT-TR-2026-0001", "reason": "seized", "requesting_authority": strings.Repeat("x", 257)})},
			map[string]string{"/event/trace/requesting_authority": "maxLength"}},
		{"trace response", KindTrackingEvent, []change{set("/event/type", "TRACE_RESPONSE"),
			set("/event/trace", map[string]any{"request_id": "IT-TR-2026-0001", "requester": "IT/GOV/MOD", "answer": "exported to ITA on 2026-06-02"})}, nil},
		{"trace response without requester", KindTrackingEvent, []change{set("/event/type", "TRACE_RESPONSE"), set("/event/trace", map[string]any{"request_id": "IT-TR-2026-0001"})},
			map[string]string{"/event/trace/requester": "required"}},
		{"trace response to no member", KindTrackingEvent, []change{set("/event/type", "TRACE_RESPONSE"), set("/event/trace", map[string]any{"request_id": "IT-TR-2026-0001", "requester": "Italy"})},
			map[string]string{"/event/trace/requester": "does not match pattern"}},
		{"requested_by is gone", KindTrackingEvent, []change{set("/event/type", "TRACE_RESPONSE"),
			set("/event/trace", map[string]any{"request_id": "IT-TR-2026-0001", "requester": "IT/GOV/MOD", "requested_by": "IT/GOV/MOD"})}, map[string]string{"/event/trace/requested_by": "not a known field"}},
		{"recovered", KindTrackingEvent, []change{set("/event/type", "RECOVERED"), del("/event/licence_id"), del("/event/from"), del("/event/to"), del("/event/customs_declaration")}, nil},
		{"recovered with a bad location", KindTrackingEvent, []change{set("/event/type", "RECOVERED"), set("/event/location", "")}, map[string]string{"/event/location": "minLength"}},
		{"delivery confirmed", KindTrackingEvent, []change{set("/event/type", "DELIVERY_CONFIRMED")}, nil},
		{"delivery confirmed without declaration", KindTrackingEvent, []change{set("/event/type", "DELIVERY_CONFIRMED"), del("/event/customs_declaration")},
			map[string]string{"/event/customs_declaration": "required"}},
		{"delivery confirmed without destination", KindTrackingEvent, []change{set("/event/type", "DELIVERY_CONFIRMED"), del("/event/to")}, map[string]string{"/event/to": "required"}},
		{"exit confirmed without declaration", KindTrackingEvent, []change{set("/event/type", "EXIT_CONFIRMED"), del("/event/customs_declaration")},
			map[string]string{"/event/customs_declaration": "required"}},
		{"export declared without customs declaration", KindTrackingEvent, []change{del("/event/customs_declaration")}, nil},
		{"negative event quantity", KindTrackingEvent, []change{set("/event/quantity", json.Number("-3"))}, map[string]string{"/event/quantity": "minimum"}},
		{"entity unknown activity", KindEntity, []change{set("/entity/activities", []any{"smuggling"})}, map[string]string{"/entity/activities/0": "must be one of"}},
		{"site without address", KindEntity, []change{del("/entity/sites/1/address")}, map[string]string{"/entity/sites/1/address": "required"}},
		{"excluded Albanian entity without NIPT", KindExcludedEntity, []change{set("/excluded_entity/entity_id", "REG-123")}, map[string]string{"/excluded_entity/entity_id": "does not match pattern"}},
		{"foreign excluded entity with its own number", KindExcludedEntity, []change{set("/excluded_entity/country", "SRB"), set("/excluded_entity/entity_id", "REG-123")}, nil},
		{"exclusion ends before it starts", KindExcludedEntity, []change{set("/excluded_entity/excluded_until", "2025-01-01")}, map[string]string{"/excluded_entity/excluded_until": "before excluded_from"}},
		{"exclusion criterion 9", KindExcludedEntity, []change{set("/excluded_entity/criteria", []any{json.Number("9")})}, map[string]string{"/excluded_entity/criteria/0": "maximum"}},
		{"certificate no_reexport missing", KindEndUserCertificate, []change{del("/end_user_certificate/no_reexport")}, map[string]string{"/end_user_certificate/no_reexport": "required"}},
		{"certificate no_reexport as string", KindEndUserCertificate, []change{set("/end_user_certificate/no_reexport", "yes")}, map[string]string{"/end_user_certificate/no_reexport": "want boolean"}},
		{"certificate negative quantity", KindEndUserCertificate, []change{set("/end_user_certificate/items/1/quantity", json.Number("-120"))}, map[string]string{"/end_user_certificate/items/1/quantity": "minimum"}},
		{"denial without criteria", KindDenial, []change{set("/denial/criteria", []any{})}, map[string]string{"/denial/criteria": "minItems"}},
		{"denial criterion 9", KindDenial, []change{set("/denial/criteria", []any{json.Number("9")})}, map[string]string{"/denial/criteria/0": "maximum"}},
		{"denial criterion twice", KindDenial, []change{set("/denial/criteria", []any{json.Number("1"), json.Number("1")})}, map[string]string{"/denial/criteria": "are equal"}},
		{"denial without end user", KindDenial, []change{del("/denial/end_user")}, map[string]string{"/denial/end_user": "required"}},
		{"denial consignee without country", KindDenial, []change{del("/denial/consignee/country")}, map[string]string{"/denial/consignee/country": "required"}},
		{"denial goods without category", KindDenial, []change{del("/denial/goods/0/ml_category")}, map[string]string{"/denial/goods/0/ml_category": "required"}},
		{"denial of unknown status", KindDenial, []change{set("/denial/status", "lapsed")}, map[string]string{"/denial/status": "must be one of"}},
		{"denial revoked without a date", KindDenial, []change{set("/denial/status", "revoked")}, map[string]string{"/denial/revoked_on": "required"}},
		{"denial revoked", KindDenial, []change{set("/denial/status", "revoked"), set("/denial/revoked_on", "2026-09-01")}, nil},
		{"denial revoked before it was made", KindDenial, []change{set("/denial/status", "revoked"), set("/denial/revoked_on", "2025-01-01")}, map[string]string{"/denial/revoked_on": "before date"}},
		{"denial expiring before it was made", KindDenial, []change{set("/denial/expires", "2025-01-01")}, map[string]string{"/denial/expires": "before date"}},
		{"consultation without denial", KindConsultation, []change{del("/consultation/denial_id")}, map[string]string{"/consultation/denial_id": "required"}},
		{"consultation of unknown outcome", KindConsultation, []change{set("/consultation/outcome", "granted")}, map[string]string{"/consultation/outcome": "must be one of"}},
		{"consultation answer without text", KindConsultation, []change{del("/consultation/answer/text")}, map[string]string{"/consultation/answer/text": "required"}},
		{"consultation answered before asked", KindConsultation, []change{set("/consultation/answer/date", "2026-01-01")}, map[string]string{"/consultation/answer/date": "before request.date"}},
		{"certificate expired before issue", KindEndUserCertificate, []change{set("/end_user_certificate/valid_until", "2026-01-01")}, map[string]string{"/end_user_certificate/valid_until": "before issued_on"}},
		{"certificate revoked", KindEndUserCertificate, []change{set("/end_user_certificate/status", "revoked")}, nil},
		{"certificate status unknown", KindEndUserCertificate, []change{set("/end_user_certificate/status", "withdrawn")}, map[string]string{"/end_user_certificate/status": "must be one of"}},
		{"licence naming its authorisations and broker", KindLicence, []change{set("/licence/import_authorisation", "HR-MORH-UV-2026-114"), set("/licence/end_user_certificate_id", "AIM-EUC-2026-0125"),
			set("/licence/broker", map[string]any{"entity_id": "M01523408K", "name": "Shqiponja", "brokering_licence_id": "AIM-BRL-2026-0011"})}, nil},
		{"licence broker without brokering licence", KindLicence, []change{set("/licence/broker", map[string]any{"entity_id": "M01523408K", "name": "Shqiponja"})}, map[string]string{"/licence/broker/brokering_licence_id": "required"}},
		{"licence end user with a bad entity id", KindLicence, []change{set("/licence/end_user/entity_id", "not an id")}, map[string]string{"/licence/end_user/entity_id": "does not match pattern"}},
		{"declaration transit not a country", KindTrackingEvent, []change{set("/event/transit", []any{"MNE", "XX"})}, map[string]string{"/event/transit/1": "ISO 3166-1"}},
		{"import authorisation without reference", KindImportAuthorisation, []change{del("/import_authorisation/reference")}, map[string]string{"/import_authorisation/reference": "required"}},
		{"import authorisation without end user", KindImportAuthorisation, []change{del("/import_authorisation/end_user")}, map[string]string{"/import_authorisation/end_user": "required"}},
		{"import authorisation to a group", KindImportAuthorisation, []change{set("/import_authorisation/destination", "EU")}, map[string]string{"/import_authorisation/destination": "ISO 3166-1"}},
		{"import authorisation ends before it starts", KindImportAuthorisation, []change{set("/import_authorisation/valid_until", "2026-01-01")}, map[string]string{"/import_authorisation/valid_until": "before valid_from"}},
		{"import authorisation valid before issue", KindImportAuthorisation, []change{set("/import_authorisation/valid_from", "2026-06-01")}, map[string]string{"/import_authorisation/valid_from": "before issued_on"}},
		{"transit authorisation without licence", KindTransitAuthorisation, []change{del("/transit_authorisation/licence_id")}, map[string]string{"/transit_authorisation/licence_id": "required"}},
		{"transit authorisation without state", KindTransitAuthorisation, []change{del("/transit_authorisation/transit_state")}, map[string]string{"/transit_authorisation/transit_state": "required"}},
		{"broker registration status unknown", KindBrokerRegistration, []change{set("/broker_registration/status", "pending")}, map[string]string{"/broker_registration/status": "must be one of"}},
		{"broker registration without number", KindBrokerRegistration, []change{del("/broker_registration/registration_number")}, map[string]string{"/broker_registration/registration_number": "required"}},
		{"brokering licence without destination", KindBrokeringLicence, []change{del("/brokering_licence/destination")}, map[string]string{"/brokering_licence/destination": "required"}},
		{"brokering licence ends before it starts", KindBrokeringLicence, []change{set("/brokering_licence/valid_until", "2026-01-01")}, map[string]string{"/brokering_licence/valid_until": "before valid_from"}},
		{"brokering licence unknown field", KindBrokeringLicence, []change{set("/brokering_licence/commission", "5%")}, map[string]string{"/brokering_licence/commission": "not a known field"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := sample(t, tc.kind)
			for _, c := range tc.changes {
				edit(t, doc, c.ptr, c.value, c.del)
			}
			got, err := DecodeBatch(batchOf(t, sample(t, KindEntity), doc), FormatJSON, testLimits)
			if err != nil {
				t.Fatal(err)
			}
			if !got[0].Valid() {
				t.Fatalf("the untouched record 0 became invalid: %+v", got[0].Errors)
			}
			c := got[1]
			if tc.want == nil {
				if !c.Valid() {
					t.Fatalf("want valid, got %+v", c.Errors)
				}
				return
			}
			if c.Valid() || c.Record != nil {
				t.Fatal("an invalid record produced a Record")
			}
			byPtr := map[string]string{}
			for _, e := range c.Errors {
				if e.Record == nil || *e.Record != 1 {
					t.Errorf("error %q names record %v, want 1", e.Pointer, e.Record)
				}
				byPtr[e.Pointer] += e.Detail + "; "
			}
			for ptr, sub := range tc.want {
				if !strings.Contains(byPtr[ptr], sub) {
					t.Errorf("pointer %s: got %q, want it to mention %q (all: %v)", ptr, byPtr[ptr], sub, byPtr)
				}
			}
			for ptr := range byPtr {
				if _, ok := tc.want[ptr]; !ok {
					t.Errorf("unexpected error at %s: %s", ptr, byPtr[ptr])
				}
			}
			if c.ID == "" && tc.kind == KindLicence && !slices.ContainsFunc(tc.changes, func(ch change) bool { return ch.ptr == "/id" }) {
				t.Error("the id of an invalid record was not kept for its result")
			}
		})
	}
}

func TestLongEnumsAreNamedNotListed(t *testing.T) {
	doc := sample(t, KindLicence)
	edit(t, doc, "/licence/destination", "ZZZ", false)
	got, _ := DecodeBatch(batchOf(t, doc), FormatJSON, testLimits)
	for _, e := range got[0].Errors {
		if len(e.Detail) > 200 {
			t.Errorf("detail of %d bytes: %.100s…", len(e.Detail), e.Detail)
		}
	}
}

func TestDuplicateKeys(t *testing.T) {
	cases := []struct {
		name, body, ptr string
	}{
		{"top-level", `[{"kind":"licence","kind":"entity"}]`, "/kind"},
		{"in the label", `[{"label":{"originator":"AL/GOV/AIM","originator":"AL/GOV/MOD"}}]`, "/label/originator"},
		{"in an array element", `[{"licence":{"items":[{"quantity":1},{"quantity":1,"quantity":-1}]}}]`, "/licence/items/1/quantity"},
		{"escaped spelling of the same key", `[{"id":"A","\u0069d":"B"}]`, "/id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeBatch([]byte(tc.body), FormatJSON, testLimits)
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Valid() {
				t.Fatal("accepted")
			}
			found := false
			for _, e := range got[0].Errors {
				found = found || (e.Pointer == tc.ptr && strings.Contains(e.Detail, "duplicate key"))
			}
			if !found {
				t.Errorf("no duplicate-key error at %s: %+v", tc.ptr, got[0].Errors)
			}
		})
	}
	// A valid record with a duplicate key stays invalid: the duplicate is
	// the smuggling trick, whatever value would have won.
	doc := sample(t, KindLicence)
	raw, _ := json.Marshal(doc)
	smuggled := bytes.Replace(raw, []byte(`"kind":"licence"`), []byte(`"kind":"licence","kind":"licence"`), 1)
	got, err := DecodeBatch(append(append([]byte("["), smuggled...), ']'), FormatJSON, testLimits)
	if err != nil || got[0].Valid() {
		t.Fatalf("a record with a repeated key was accepted (%v)", err)
	}
}

func TestRequestLevelErrors(t *testing.T) {
	small := Limits{MaxRecords: 3, MaxDepth: 5, MaxStringLength: 64}
	long := strings.Repeat("x", 65)
	deep := `[{"a":` + strings.Repeat(`[`, 5) + strings.Repeat(`]`, 5) + `}]`
	cases := []struct {
		name   string
		format Format
		body   string
		status int
		typ    string
		ptr    string // pointer of the single field error, if any
		record int
	}{
		{"empty body", FormatJSON, ``, 400, problem.TypeBadRequest, "", -1},
		{"empty array", FormatJSON, `[]`, 400, problem.TypeBadRequest, "", -1},
		{"single object instead of array", FormatJSON, `{"kind":"licence"}`, 400, problem.TypeBadRequest, "", -1},
		{"malformed", FormatJSON, `[{"kind":"licence",}]`, 400, problem.TypeBadRequest, "", -1},
		{"unterminated", FormatJSON, `[{"kind":"licence"`, 400, problem.TypeBadRequest, "", -1},
		{"trailing data", FormatJSON, `[{}] {}`, 400, problem.TypeBadRequest, "", -1},
		{"two arrays", FormatJSON, `[{}][{}]`, 400, problem.TypeBadRequest, "", -1},
		{"invalid UTF-8", FormatJSON, "[{\"name\":\"\xff\xfe\"}]", 400, problem.TypeBadRequest, "", -1},
		{"too many records", FormatJSON, `[{},{},{},{}]`, 413, problem.TypeTooManyRecords, "", -1},
		{"too many NDJSON records", FormatNDJSON, "{}\n{}\n{}\n{}\n", 413, problem.TypeTooManyRecords, "", -1},
		{"too deep", FormatJSON, deep, 422, problem.TypeTooDeep, "/a/0/0/0/0", 0},
		{"too deep in the second record", FormatNDJSON, "{}\n" + `{"x":{"y":{"z":{"w":{"v":{}}}}}}`, 422, problem.TypeTooDeep, "/x/y/z/w/v", 1},
		{"string too long", FormatJSON, `[{"name":"` + long + `"}]`, 422, problem.TypeStringTooLong, "/name", 0},
		{"key too long", FormatJSON, `[{},{"` + long + `":1}]`, 422, problem.TypeStringTooLong, "/" + long, 1},
		{"NDJSON record over two lines", FormatNDJSON, "{\"a\":\n1}\n", 400, problem.TypeBadRequest, "", 0},
		{"NDJSON two records on one line", FormatNDJSON, "{} {}\n", 400, problem.TypeBadRequest, "", 1},
		{"NDJSON malformed line", FormatNDJSON, "{}\n{\"a\"}\n", 400, problem.TypeBadRequest, "", -1},
		{"NDJSON empty", FormatNDJSON, "\n\n", 400, problem.TypeBadRequest, "", -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeBatch([]byte(tc.body), tc.format, small)
			p, ok := err.(*problem.Error)
			if !ok {
				t.Fatalf("error %v (%T), want *problem.Error", err, err)
			}
			if p.Status != tc.status || p.Type != tc.typ {
				t.Fatalf("got %d %s (%s), want %d %s", p.Status, p.Type, p.Detail, tc.status, tc.typ)
			}
			if tc.ptr != "" {
				if len(p.Errors) != 1 || p.Errors[0].Pointer != tc.ptr || p.Errors[0].Record == nil || *p.Errors[0].Record != tc.record {
					t.Fatalf("errors %+v, want record %d pointer %s", p.Errors, tc.record, tc.ptr)
				}
			}
			if p.Cause != nil && strings.Contains(p.Detail, p.Cause.Error()) {
				t.Errorf("detail leaks the internal cause: %q", p.Detail)
			}
		})
	}
}

func TestNDJSON(t *testing.T) {
	var b bytes.Buffer
	for _, k := range Kinds {
		raw, _ := json.Marshal(sample(t, k))
		b.Write(raw)
		b.WriteString("\r\n\n") // blank lines and CRLF are tolerated
	}
	got, err := DecodeBatch(b.Bytes(), FormatNDJSON, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(Kinds) {
		t.Fatalf("%d records, want %d", len(got), len(Kinds))
	}
	for i, c := range got {
		if !c.Valid() || c.Record.Kind != Kinds[i] || c.Index != i {
			t.Errorf("record %d: %+v", i, c)
		}
	}
}

func TestNonObjectRecords(t *testing.T) {
	got, err := DecodeBatch([]byte(`[1,"x",null,[],{}]`), FormatJSON, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range got[:4] {
		if c.Valid() || len(c.Errors) != 1 || c.Errors[0].Pointer != "" || *c.Errors[0].Record != i {
			t.Errorf("record %d: %+v", i, c.Errors)
		}
	}
	if got[4].Valid() || got[4].Errors[0].Pointer != "/kind" {
		t.Errorf("empty object: %+v", got[4].Errors)
	}
}

func TestCanonicalRaw(t *testing.T) {
	doc := sample(t, KindLicence)
	compact, _ := json.Marshal(doc)
	pretty, _ := json.MarshalIndent(doc, "", "    ")
	// Same content, other key order and escapes.
	reordered := []byte(strings.Replace(string(compact), `{"kind":"licence",`, `{"version":3,"kind":"licence",`, 1))
	reordered = bytes.Replace(reordered, []byte(`"version":3,"label"`), []byte(`"label"`), 1)
	reordered = bytes.Replace(reordered, []byte(`KAYO sh.a.`), []byte(`KAYO sh\u002ea.`), 1)
	var raws []string
	for _, body := range [][]byte{compact, pretty, reordered} {
		got, err := DecodeBatch(append(append([]byte("["), body...), ']'), FormatJSON, testLimits)
		if err != nil || !got[0].Valid() {
			t.Fatalf("%v %+v", err, got)
		}
		raws = append(raws, string(got[0].Record.Raw))
	}
	if raws[0] != raws[1] || raws[0] != raws[2] {
		t.Fatalf("Raw differs across layouts:\n%s\n%s\n%s", raws[0], raws[1], raws[2])
	}
	if strings.ContainsAny(raws[0], "\n\t") || !strings.HasPrefix(raws[0], `{"id":`) {
		t.Errorf("Raw is not compact with sorted keys: %.80s", raws[0])
	}
	if strings.Contains(raws[0], `\u0026`) {
		t.Error("Raw has HTML escaping")
	}
}

func TestRedact(t *testing.T) {
	doc := map[string]any{
		"licence": map[string]any{
			"contract_value": map[string]any{"amount": json.Number("1840000"), "currency": "EUR"},
			"end_user":       map[string]any{"name": "MoD", "contact": map[string]any{"name": "Jan Novák", "email": "jan@army.cz"}},
			"items":          []any{"first", "second", "third", "fourth"},
			"a/b":            "slash-secret",
			"m~n":            "tilde-secret",
		},
		"id": "L1",
	}
	before, _ := Canonical(doc)
	cases := []struct {
		name     string
		pointers []string
		gone     []string
		kept     []string
		err      bool
	}{
		{"object member", []string{"/licence/contract_value"}, []string{"1840000", "EUR", "contract_value"}, []string{"Jan Novák", "first"}, false},
		{"nested personal data", []string{"/licence/end_user/contact"}, []string{"Jan Novák", "jan@army.cz"}, []string{`"name":"MoD"`}, false},
		{"array elements, any order", []string{"/licence/items/2", "/licence/items/0"}, []string{"first", "third"}, []string{"second", "fourth"}, false},
		{"~1 escape", []string{"/licence/a~1b"}, []string{"slash-secret"}, []string{"tilde-secret"}, false},
		{"~0 escape", []string{"/licence/m~0n"}, []string{"tilde-secret"}, []string{"slash-secret"}, false},
		{"absent field", []string{"/licence/not_here", "/licence/items/9", "/id/x"}, nil, []string{"EUR", "fourth", "L1"}, false},
		{"array index with leading zero matches nothing", []string{"/licence/items/01"}, nil, []string{"second"}, false},
		{"root refused", []string{""}, nil, nil, true},
		{"no leading slash", []string{"licence"}, nil, nil, true},
		{"bad escape", []string{"/licence/m~2n"}, nil, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Redact(doc, tc.pointers)
			if tc.err {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := Canonical(out)
			for _, s := range tc.gone {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%q still in the bytes: %s", s, b)
				}
			}
			for _, s := range tc.kept {
				if !bytes.Contains(b, []byte(s)) {
					t.Errorf("%q lost: %s", s, b)
				}
			}
			after, _ := Canonical(doc)
			if !bytes.Equal(before, after) {
				t.Fatal("Redact changed its input")
			}
		})
	}
}

func TestLicenceLifecycle(t *testing.T) {
	allowed := map[string][]string{
		"issued":    {"renewed", "suspended", "revoked", "expired"},
		"renewed":   {"suspended", "revoked", "expired", "renewed"},
		"suspended": {"issued", "renewed", "revoked", "expired"},
		"revoked":   {},
		"expired":   {},
	}
	statuses := []string{"issued", "renewed", "suspended", "revoked", "expired"}
	lic := func(version int, status string) *Record {
		doc := sample(t, KindLicence)
		edit(t, doc, "/licence/status", status, false)
		return &Record{Kind: KindLicence, ID: "AIM-LIC-2026-000123", Version: version, Doc: doc}
	}
	for _, from := range statuses {
		for _, to := range statuses {
			t.Run(from+"→"+to, func(t *testing.T) {
				err := LifecycleCheck(lic(2, to))(lic(1, from))
				want := slices.Contains(allowed[from], to)
				if want && err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !want {
					var te *TransitionError
					if err == nil || !errorsAs(err, &te) || te.From != from || te.To != to {
						t.Fatalf("allowed (err %v)", err)
					}
				}
			})
		}
	}
	if err := LifecycleCheck(lic(1, "revoked"))(nil); err != nil {
		t.Errorf("first version refused: %v", err)
	}
	// Equal and older versions are the store's decision, not a transition.
	if err := LifecycleCheck(lic(1, "issued"))(lic(1, "revoked")); err != nil {
		t.Errorf("same version checked as a transition: %v", err)
	}
	ent := &Record{Kind: KindEntity, ID: "AIM-LIC-2026-000123", Version: 3}
	if err := LifecycleCheck(ent)(lic(2, "issued")); err == nil || !strings.Contains(err.Error(), "kind") {
		t.Errorf("kind change: %v", err)
	}
	ent2 := &Record{Kind: KindEntity, ID: "E", Version: 2}
	if err := LifecycleCheck(ent2)(&Record{Kind: KindEntity, ID: "E", Version: 1}); err != nil {
		t.Errorf("entity update refused: %v", err)
	}
}

func TestItemMarking(t *testing.T) {
	got, _ := DecodeBatch(batchOf(t, sample(t, KindTrackingEvent), sample(t, KindLicence)), FormatJSON, testLimits)
	m, ok := got[0].Record.ItemMarking()
	if !ok || m != (Marking{Country: "ALB", Manufacturer: "KAYO", Serial: "K26-000123"}) {
		t.Errorf("marking %+v %v", m, ok)
	}
	if at, ok := got[0].Record.EventTime(); !ok || at.Format("2006-01-02T15:04") != "2026-06-02T07:55" {
		t.Errorf("event time %v %v", at, ok)
	}
	if _, ok := got[1].Record.ItemMarking(); ok {
		t.Error("a licence has an item marking")
	}
}

func BenchmarkDecodeBatch100(b *testing.B) {
	var docs []any
	for i := range 100 {
		doc := sample(b, Kinds[i%len(Kinds)])
		doc["id"] = fmt.Sprintf("BENCH-%06d", i)
		docs = append(docs, doc)
	}
	body := batchOf(b, docs...)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		got, err := DecodeBatch(body, FormatJSON, testLimits)
		if err != nil || !got[99].Valid() {
			b.Fatal(err, got[99].Errors)
		}
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(100*b.N), "cpu-ns/record")
}

// cpuTime is the CPU time this process has used (wall time on a shared
// machine measures the neighbours).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestEchoedIdentityIsBounded: an invalid record's id and version are
// echoed in its result and copied into its audit event, so only values the
// schema itself would accept are kept (a version of 2^63 once made the
// audit log unreadable on the next start).
func TestEchoedIdentityIsBounded(t *testing.T) {
	for _, tc := range []struct {
		body        string
		id          string
		version     int
		description string
	}{
		{`[{"id":"X-1","version":9223372036854775808}]`, "X-1", 0, "2^63"},
		{`[{"id":"X-1","version":9223372036854775807}]`, "X-1", 0, "2^63-1"},
		{`[{"id":"X-1","version":-9223372036854775808}]`, "X-1", 0, "-2^63"},
		{`[{"id":"X-1","version":2147483648}]`, "X-1", 0, "2^31"},
		{`[{"id":"X-1","version":2147483647}]`, "X-1", MaxVersion, "2^31-1"},
		{`[{"id":"X-1","version":0}]`, "X-1", 0, "zero"},
		{`[{"id":"X-1","version":1.5}]`, "X-1", 0, "fraction"},
		{`[{"id":"X-1","version":1e300}]`, "X-1", 0, "exponent"},
		{`[{"id":"X-1","version":"7"}]`, "X-1", 0, "string"},
		{`[{"id":"X\u0000\n","version":3}]`, "", 3, "control characters"},
		{`[{"id":"` + strings.Repeat("A", 129) + `","version":3}]`, "", 3, "id too long"},
		{`[{"id":7,"version":3}]`, "", 3, "id a number"},
		{`[{"id":"../etc","version":3}]`, "", 3, "path"},
	} {
		t.Run(tc.description, func(t *testing.T) {
			got, err := DecodeBatch([]byte(tc.body), FormatJSON, Limits{MaxRecords: 1, MaxDepth: 8, MaxStringLength: 1024})
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Valid() || got[0].ID != tc.id || got[0].Version != tc.version {
				t.Fatalf("valid %v, id %q, version %d; want invalid, %q, %d", got[0].Valid(), got[0].ID, got[0].Version, tc.id, tc.version)
			}
		})
	}
}

// TestIDPatternIsTheSchemas: ValidID and the published schema agree.
func TestIDPatternIsTheSchemas(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("schemas", "common.json"))
	if err != nil {
		t.Fatal(err)
	}
	var common struct {
		Defs map[string]struct {
			Pattern string `json:"pattern"`
			Maximum int    `json:"maximum"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &common); err != nil {
		t.Fatal(err)
	}
	if got := common.Defs["record_id"].Pattern; got != idPattern.String() {
		t.Errorf("schema record_id pattern %q, ValidID uses %q", got, idPattern.String())
	}
	if got := common.Defs["version"].Maximum; got != MaxVersion {
		t.Errorf("schema version maximum %d, MaxVersion %d", got, MaxVersion)
	}
}

// manyValues is n distinct category values.
func manyValues(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("V%d", i)
	}
	return out
}

// TestBodyCacheFollowsDoc: the body build found is the body read from Doc,
// and a record given another Doc reads that Doc's body.
func TestBodyCacheFollowsDoc(t *testing.T) {
	got, err := DecodeBatch(batchOf(t, sample(t, KindLicence), sample(t, KindTrackingEvent)), FormatJSON, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got {
		r := c.Record
		if !reflect.DeepEqual(r.Body(), bodyOf(r.Kind, r.Doc)) || r.Body() == nil {
			t.Fatalf("%s: cached body differs from Doc's", r.Kind)
		}
		other := maps.Clone(r.Doc)
		other[BodyKey(r.Kind)] = map[string]any{"replaced": true}
		r.Doc = other
		if r.Body()["replaced"] != true {
			t.Errorf("%s: Body() kept the body of the Doc it was built with", r.Kind)
		}
		r.Doc = nil
		if r.Body() != nil {
			t.Errorf("%s: Body() of a nil Doc is not nil", r.Kind)
		}
	}
}
