package records

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/ura-gateway/ura/gateway/problem"
)

// Checked is one record of a batch after validation: the record, or the
// field errors that make it invalid (with whatever id and version could be
// read, so the pusher can match the result to what it sent).
type Checked struct {
	Index   int
	Record  *Record
	ID      string
	Version int
	Errors  []problem.FieldError
}

// Valid reports whether the record passed every check.
func (c *Checked) Valid() bool { return c.Record != nil }

// DecodeBatch decodes a push body and validates every record in it. A
// request-level problem (malformed body, limits) is returned as the error;
// otherwise each record has its Checked, valid or not.
func DecodeBatch(body []byte, f Format, lim Limits) ([]Checked, error) {
	decoded, err := Decode(body, f, lim)
	if err != nil {
		return nil, err
	}
	out := make([]Checked, len(decoded))
	for i, d := range decoded {
		out[i] = Validate(d.Value, d.Errors)
		out[i].Index = i
		for j := range out[i].Errors {
			idx := i
			out[i].Errors[j].Record = &idx
		}
	}
	return out, nil
}

// Validate checks one decoded record (numbers as json.Number) against its
// kind's schema and the rules a schema cannot say, and builds the Record.
// scanErrs are errors the decoder already found (duplicate keys); with any
// of them the record is invalid whatever else holds.
func Validate(v any, scanErrs []problem.FieldError) Checked {
	return validate(v, scanErrs, true)
}

// validate is Validate; withPass lets a record that its kind's pass check
// finds certainly valid skip the library (schemacheck.go). Without it every
// record is validated by the library, as the tests compare.
func validate(v any, scanErrs []problem.FieldError, withPass bool) Checked {
	out := Checked{Errors: slices.Clone(scanErrs)}
	doc, ok := v.(map[string]any)
	if !ok {
		out.Errors = append(out.Errors, problem.FieldError{Pointer: "", Detail: "a record must be a JSON object"})
		return out
	}
	out.ID, out.Version = echoIdentity(doc)
	set, err := schemas()
	if err != nil {
		out.Errors = append(out.Errors, problem.FieldError{Pointer: "", Detail: "record schemas are unavailable"})
		return out
	}
	k, _ := doc["kind"].(string)
	sch, ok := set.compiled[k]
	if !ok {
		detail := "must be one of " + strings.Join(Kinds, ", ")
		if _, present := doc["kind"]; !present {
			detail = "is required (" + detail + ")"
		}
		out.Errors = append(out.Errors, problem.FieldError{Pointer: "/kind", Detail: detail})
		return out
	}
	if pc := set.passes[k]; !withPass || pc == nil || pc.check(doc) != pass {
		if err := sch.Validate(doc); err != nil {
			out.Errors = append(out.Errors, schemaErrors(err)...)
		}
	}
	if len(out.Errors) > 0 {
		out.Errors = sortFieldErrors(out.Errors)
		return out
	}
	// The label is read once, for the rules between its fields and for
	// the Record; a label.created that does not parse is still reported
	// only when no such rule fails, where build reported it.
	lbl, _ := doc["label"].(map[string]any)
	label, labelErr := ReadLabel(lbl)
	created, _ := lbl["created"].(string)
	if out.Errors = semanticErrors(k, doc, label, created != "" && labelErr == nil); len(out.Errors) > 0 {
		out.Errors = sortFieldErrors(out.Errors)
		return out
	}
	rec, ferr := build(k, doc, label, labelErr)
	if ferr != nil {
		out.Errors = []problem.FieldError{*ferr}
		return out
	}
	out.Record = rec
	return out
}

// MaxVersion is the highest record version (the schemas' version maximum).
const MaxVersion = 1<<31 - 1

// idPattern is the schemas' record_id pattern.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidID reports whether id is a well-formed record id: what may appear in
// a URL path, a store key, an audit event and a result.
func ValidID(id string) bool { return idMatch(id) }

// idMatch is idPattern's MatchString without the regexp machine.
var idMatch = matcherOf(idPattern)

// echoIdentity is the id and version of a record that may be invalid, as far
// as they are well formed; anything else is left empty. They are echoed in
// the push result and copied into the audit event, so a value the schema
// would refuse (a version of 2^63, an id of control characters) must never
// travel with them.
func echoIdentity(doc map[string]any) (string, int) {
	id, _ := doc["id"].(string)
	if !ValidID(id) {
		id = ""
	}
	var version int
	if n, ok := doc["version"].(json.Number); ok {
		if v, ok := Int(n); ok && v >= 1 && v <= MaxVersion {
			version = int(v)
		}
	}
	return id, version
}

// build makes the Record of a schema-valid document. Its fields were
// checked by the schema, so an error here is a field the schema accepts and
// this code cannot read: it still names the field.
func build(k string, doc map[string]any, label Label, labelErr error) (*Record, *problem.FieldError) {
	raw, jcs, err := canonical(doc)
	if err != nil {
		// Decoded JSON always encodes; the whole record is at fault if not.
		return nil, &problem.FieldError{Pointer: "", Detail: err.Error()}
	}
	rec := &Record{Kind: k, Doc: doc, Raw: raw, digest: digestOf(raw, jcs)}
	rec.body, rec.bodyOf = bodyOf(k, doc), doc
	rec.ID, _ = doc["id"].(string)
	n, _ := doc["version"].(json.Number)
	v, ok := Int(n)
	if !ok {
		return nil, &problem.FieldError{Pointer: "/version", Detail: "must be an integer"}
	}
	rec.Version = int(v)
	if labelErr != nil {
		return nil, &problem.FieldError{Pointer: "/label/created", Detail: labelErr.Error()}
	}
	rec.Label = label
	return rec, nil
}

// ReadLabel reads a decoded label: the one reading of a label, for a pushed
// record and a stored one alike. A label naming no policy is NATO's
// (PolicyNATO). Only label.created can fail to read.
func ReadLabel(lbl map[string]any) (Label, error) {
	var l Label
	l.Classification, _ = lbl["classification"].(string)
	l.Originator, _ = lbl["originator"].(string)
	l.Review, _ = lbl["review"].(string)
	if l.PolicyID, _ = lbl["policy_id"].(string); l.PolicyID == "" {
		l.PolicyID = PolicyNATO
	}
	l.Categories = categories(lbl)
	if rel, ok := lbl["releasable_to"].([]any); ok {
		l.ReleasableTo = make([]string, 0, len(rel))
		for _, n := range rel {
			if s, ok := n.(string); ok {
				l.ReleasableTo = append(l.ReleasableTo, s)
			}
		}
	}
	if created, _ := lbl["created"].(string); created != "" {
		t, err := ParseDateTime(created)
		if err != nil {
			return l, err
		}
		l.Created = t
	}
	return l, nil
}

var printer = message.NewPrinter(language.English)

// schemaErrors flattens a validation error to one field error per failing
// leaf, at the JSON pointer of the offending value (for a missing or unknown
// member: the member's own pointer).
func schemaErrors(err error) []problem.FieldError {
	return schemaErrorsWith(err, func(_ *jsonschema.ValidationError, k *kind.Enum) string { return enumDetail(k) })
}

// schemaErrorsWith is schemaErrors with the text of an enumeration's error
// given by enum.
func schemaErrorsWith(err error, enum func(*jsonschema.ValidationError, *kind.Enum) string) []problem.FieldError {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []problem.FieldError{{Pointer: "", Detail: "the record does not match its schema"}}
	}
	var out []problem.FieldError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		at := Pointer(e.InstanceLocation...)
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, m := range k.Missing {
				out = append(out, problem.FieldError{Pointer: at + Pointer(m), Detail: "is required"})
			}
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				out = append(out, problem.FieldError{Pointer: at + Pointer(p), Detail: "is not a known field"})
			}
		case *kind.Enum:
			out = append(out, problem.FieldError{Pointer: at, Detail: enum(e, k)})
		case *kind.Const:
			out = append(out, problem.FieldError{Pointer: at, Detail: fmt.Sprintf("must be %v", k.Want)})
		default:
			out = append(out, problem.FieldError{Pointer: at, Detail: k.LocalizedString(printer)})
		}
	}
	walk(ve)
	return out
}

// enumDetails name the long enumerations instead of listing hundreds of
// values back to the caller.
var enumDetails = map[string]string{
	"country":     "must be an ISO 3166-1 alpha-3 country code (or XKX)",
	"nation":      "must be an ISO 3166-1 alpha-3 country code, XKX, NATO or EU",
	"ml_category": "must be an EU Military List category ML1 to ML22",
}

// enumDetail matches the long enumerations by their values: the compiled
// schemas have their definitions inlined (inlineRefs), so where an enum
// was defined is no longer where it fails.
func enumDetail(k *kind.Enum) string {
	if set, err := schemas(); err == nil {
		if detail, ok := set.enumDetails[enumKey(k.Want)]; ok {
			return fmt.Sprintf("%v: %s", k.Got, detail)
		}
	}
	want := make([]string, len(k.Want))
	for i, w := range k.Want {
		want[i] = fmt.Sprint(w)
	}
	return fmt.Sprintf("%v: must be one of %s", k.Got, strings.Join(want, ", "))
}

func sortFieldErrors(errs []problem.FieldError) []problem.FieldError {
	slices.SortStableFunc(errs, func(a, b problem.FieldError) int {
		if c := strings.Compare(a.Pointer, b.Pointer); c != 0 {
			return c
		}
		return strings.Compare(a.Detail, b.Detail)
	})
	// Two schema branches can report the same fault twice.
	return slices.CompactFunc(errs, func(a, b problem.FieldError) bool { return a.Pointer == b.Pointer && a.Detail == b.Detail })
}

// semanticErrors are the rules between fields that the schemas cannot say:
// a period that ends before it starts, an item made after the event that
// moves it. They run only on schema-valid records, so the fields exist and
// parse. label is the record's label as ReadLabel read it; created tells
// whether it has a created time, read.
func semanticErrors(k string, doc map[string]any, label Label, created bool) []problem.FieldError {
	var errs []problem.FieldError
	// The pointer ("/" + section + "/" + field) is written only for an
	// error: a valid record makes no string here.
	notBefore := func(section, field, later, earlierName, earlier string) {
		if later != "" && earlier != "" && later < earlier {
			errs = append(errs, problem.FieldError{Pointer: "/" + section + "/" + field, Detail: fmt.Sprintf("%s is before %s %s", later, earlierName, earlier)})
		}
	}
	str := func(m map[string]any, key string) string { s, _ := m[key].(string); return s }

	if created && label.Review != "" {
		// label.created's date is written on the stack and compared
		// there; only an error keeps it.
		var buf [len(time.DateOnly) + 4]byte
		day := label.Created.AppendFormat(buf[:0], time.DateOnly)
		if label.Review < string(day) {
			notBefore("label", "review", label.Review, "label.created", string(day))
		}
	}
	errs = append(errs, permissiveMirrorErrors(label)...)

	body, _ := doc[BodyKey(k)].(map[string]any)
	switch k {
	case KindLicence:
		notBefore("licence", "valid_until", str(body, "valid_until"), "valid_from", str(body, "valid_from"))
		notBefore("licence", "valid_from", str(body, "valid_from"), "issue_date", str(body, "issue_date"))
	case KindExcludedEntity:
		notBefore("excluded_entity", "excluded_until", str(body, "excluded_until"), "excluded_from", str(body, "excluded_from"))
	case KindDenial:
		notBefore("denial", "revoked_on", str(body, "revoked_on"), "date", str(body, "date"))
		notBefore("denial", "expires", str(body, "expires"), "date", str(body, "date"))
	case KindConsultation:
		req, _ := body["request"].(map[string]any)
		ans, _ := body["answer"].(map[string]any)
		notBefore("consultation", "answer/date", str(ans, "date"), "request.date", str(req, "date"))
	case KindEndUserCertificate:
		notBefore("end_user_certificate", "valid_until", str(body, "valid_until"), "issued_on", str(body, "issued_on"))
	case KindImportAuthorisation, KindTransitAuthorisation, KindBrokerRegistration, KindBrokeringLicence:
		section := BodyKey(k)
		notBefore(section, "valid_until", str(body, "valid_until"), "valid_from", str(body, "valid_from"))
		if _, ok := body["issued_on"]; ok {
			notBefore(section, "valid_from", str(body, "valid_from"), "issued_on", str(body, "issued_on"))
		}
	case KindTrackingEvent:
		item, _ := body["item"].(map[string]any)
		mk, _ := item["marking"].(map[string]any)
		at, err := ParseDateTime(str(body, "at"))
		yn, _ := mk["year"].(json.Number)
		year, yearOK := Int(yn)
		if err == nil && yearOK && year > int64(at.Year()) {
			errs = append(errs, problem.FieldError{Pointer: "/event/item/marking/year",
				Detail: fmt.Sprintf("the item is marked as made in %d, after the event (%s)", year, at.Format(time.DateOnly))})
		}
		if iy, ok := mk["import_year"].(json.Number); ok {
			if imp, ok := Int(iy); ok && yearOK && imp < year {
				errs = append(errs, problem.FieldError{Pointer: "/event/item/marking/import_year",
					Detail: fmt.Sprintf("import year %d is before the year of manufacture %d", imp, year)})
			}
		}
	}
	return errs
}

// categories reads a schema-valid label's categories.
func categories(lbl map[string]any) []Category {
	list, _ := lbl["categories"].([]any)
	var out []Category
	for _, c := range list {
		m, _ := c.(map[string]any)
		cat := Category{}
		cat.Type, _ = m["type"].(string)
		cat.Name, _ = m["name"].(string)
		cat.Values = stringsOf(m["values"])
		out = append(out, cat)
	}
	return out
}

// stringsOf are the strings of a JSON array.
func stringsOf(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// permissiveMirrorErrors refuses a label whose permissive category says
// something else than releasable_to: Releasable To is one category written
// twice (releasable_to for readers of the label before categories, the
// permissive category for STANAG 4774 readers), and a recipient reading
// either must reach the same answer.
func permissiveMirrorErrors(label Label) []problem.FieldError {
	var errs []problem.FieldError
	var rel []string
	// The sorted copies are made on the stack for the usual few nations,
	// and only for a label that has a permissive category.
	var relBuf, valBuf [16]string
	for i, c := range label.Categories {
		if c.Type != CategoryPermissive {
			continue
		}
		if rel == nil {
			rel = append(relBuf[:0], label.ReleasableTo...)
			slices.Sort(rel)
		}
		vals := append(valBuf[:0], c.Values...)
		slices.Sort(vals)
		if !slices.Equal(vals, rel) {
			errs = append(errs, problem.FieldError{Pointer: fmt.Sprintf("/label/categories/%d/values", i),
				Detail: "a permissive category is Releasable To: it must name exactly the nations of label.releasable_to"})
		}
	}
	return errs
}
