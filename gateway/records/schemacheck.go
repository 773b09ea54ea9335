package records

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// A passCheck is a kind's compiled schema read back once as a plan that
// answers one question without allocating: does a decoded record certainly
// pass? jsonschema/v6 builds a validator, a scope and an evaluation record
// for every subschema it enters and compares an enum value by value, which
// is most of what validating a record costs (gateway/ARCHITECTURE.md,
// Record schemas). The library stays the judge: a record the plan does not
// find certainly valid is validated by the library, which gives the
// verdict and every field error, so the plan can only save work on a
// record the library accepts. A plan is therefore exact where it answers
// pass, and answers unsure for anything it does not model (a keyword the
// schemas do not use, a number it cannot compare without the library's
// arithmetic, a Go value no decoder produces); a kind whose schema has a
// keyword outside the plan gets no plan at all.
type passCheck struct {
	// boolean is a true or false schema: 0 when the schema is an object.
	boolean int8
	// types are the allowed types (typeBits); 0 allows any.
	types uint8
	// constant is a const that is a string.
	constant *string
	// enum is an enum whose values are all strings.
	enum   map[string]struct{}
	format func(any) error

	minProps, maxProps int // -1: none
	// required are the required names that props does not check;
	// requiredProps counts those it does, each marked in its property.
	// A record's member names are distinct, so counting the required
	// properties met while checking the members answers required
	// without looking each name up again.
	required      []string
	requiredProps int
	allRequired   []string
	props         map[string]property
	// closed is additionalProperties: false; additional, a schema for the
	// others.
	closed     bool
	additional *passCheck

	minItems, maxItems int // -1: none
	unique             bool
	items              *passCheck

	minLen, maxLen int // -1: none
	// match is the pattern's MatchString (matcherOf when the library
	// compiled it with Go's regexp).
	match func(string) bool

	minimum, maximum, exclMinimum, exclMaximum, multipleOf *big.Rat
	// minInt and maxInt are minimum and maximum when they are integers
	// that fit: compared without big.Rat.
	minInt, maxInt       int64
	hasMinInt, hasMaxInt bool

	allOf           []*passCheck
	not             *passCheck
	cond, then, els *passCheck
}

// property is one named property's check.
type property struct {
	check    *passCheck
	required bool
}

// verdict is a plan's answer: only pass lets a record skip the library.
type verdict int8

const (
	pass verdict = iota
	fail
	unsure
)

const (
	typeNull uint8 = 1 << iota
	typeBoolean
	typeNumber
	typeInteger
	typeString
	typeArray
	typeObject
)

var typeBits = map[string]uint8{"null": typeNull, "boolean": typeBoolean, "number": typeNumber, "integer": typeInteger,
	"string": typeString, "array": typeArray, "object": typeObject}

// errUnplanned is a keyword (or a form of one) that passCheck does not model.
var errUnplanned = errors.New("keyword outside the pass check")

// planOf reads a compiled schema back as a passCheck.
func planOf(s *jsonschema.Schema) (*passCheck, error) {
	return (&planner{done: map[*jsonschema.Schema]*passCheck{}}).plan(s)
}

type planner struct {
	done map[*jsonschema.Schema]*passCheck
}

func (p *planner) plan(s *jsonschema.Schema) (*passCheck, error) {
	if s == nil {
		return nil, nil
	}
	if n, ok := p.done[s]; ok {
		return n, nil
	}
	n := &passCheck{minProps: -1, maxProps: -1, minItems: -1, maxItems: -1, minLen: -1, maxLen: -1}
	p.done[s] = n
	unplanned := func(what string) (*passCheck, error) {
		return nil, fmt.Errorf("%s %s: %w", s.Location, what, errUnplanned)
	}
	if s.Bool != nil {
		n.boolean = -1
		if *s.Bool {
			n.boolean = 1
		}
		return n, nil
	}
	// The keywords that only the library evaluates: any of them and the
	// kind is validated by the library alone.
	switch {
	case s.DraftVersion < 2020:
		return unplanned("draft")
	case s.Ref != nil || s.RecursiveRef != nil || s.DynamicRef != nil:
		return unplanned("$ref")
	case len(s.AnyOf) > 0 || len(s.OneOf) > 0:
		return unplanned("anyOf/oneOf")
	case s.PropertyNames != nil || len(s.PatternProperties) > 0 || len(s.Dependencies) > 0 ||
		len(s.DependentRequired) > 0 || len(s.DependentSchemas) > 0 || s.UnevaluatedProperties != nil:
		return unplanned("object keyword")
	case s.Contains != nil || s.Items != nil || s.AdditionalItems != nil || len(s.PrefixItems) > 0 || s.UnevaluatedItems != nil:
		return unplanned("array keyword")
	case s.ContentEncoding != nil || s.ContentMediaType != nil || s.ContentSchema != nil:
		return unplanned("content keyword")
	case len(s.Extensions) > 0:
		return unplanned("extension")
	case s.Format != nil && s.Format.Name == "regex":
		return unplanned("format regex")
	}
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			n.types |= typeBits[t]
		}
	}
	if s.Const != nil {
		c, ok := (*s.Const).(string)
		if !ok {
			return unplanned("const")
		}
		n.constant = &c
	}
	if s.Enum != nil {
		n.enum = make(map[string]struct{}, len(s.Enum.Values))
		for _, v := range s.Enum.Values {
			str, ok := v.(string)
			if !ok {
				return unplanned("enum")
			}
			n.enum[str] = struct{}{}
		}
	}
	if s.Format != nil {
		n.format = s.Format.Validate
		if s.Format.Name == "date-time" {
			n.format = dateTimeFormat(s.Format.Validate)
		}
	}
	if s.MinProperties != nil {
		n.minProps = *s.MinProperties
	}
	if s.MaxProperties != nil {
		n.maxProps = *s.MaxProperties
	}
	if len(s.Properties) > 0 {
		n.props = make(map[string]property, len(s.Properties))
		for name, sub := range s.Properties {
			c, err := p.plan(sub)
			if err != nil {
				return nil, err
			}
			n.props[name] = property{check: c}
		}
	}
	n.allRequired = s.Required
	for _, name := range s.Required {
		prop, ok := n.props[name]
		switch {
		case !ok:
			n.required = append(n.required, name)
		case !prop.required: // a name required twice is counted once
			prop.required = true
			n.props[name] = prop
			n.requiredProps++
		}
	}
	switch a := s.AdditionalProperties.(type) {
	case nil:
	case bool:
		n.closed = !a
	case *jsonschema.Schema:
		c, err := p.plan(a)
		if err != nil {
			return nil, err
		}
		n.additional = c
	default:
		return unplanned("additionalProperties")
	}
	if s.MinItems != nil {
		n.minItems = *s.MinItems
	}
	if s.MaxItems != nil {
		n.maxItems = *s.MaxItems
	}
	n.unique = s.UniqueItems
	if s.MinLength != nil {
		n.minLen = *s.MinLength
	}
	if s.MaxLength != nil {
		n.maxLen = *s.MaxLength
	}
	switch re := s.Pattern.(type) {
	case nil:
	case *regexp.Regexp:
		n.match = matcherOf(re)
	default:
		n.match = s.Pattern.MatchString
	}
	n.minimum, n.maximum, n.exclMinimum, n.exclMaximum, n.multipleOf = s.Minimum, s.Maximum, s.ExclusiveMinimum, s.ExclusiveMaximum, s.MultipleOf
	n.minInt, n.hasMinInt = ratInt(s.Minimum)
	n.maxInt, n.hasMaxInt = ratInt(s.Maximum)
	var err error
	if n.items, err = p.plan(s.Items2020); err != nil {
		return nil, err
	}
	for _, sub := range s.AllOf {
		c, err := p.plan(sub)
		if err != nil {
			return nil, err
		}
		n.allOf = append(n.allOf, c)
	}
	if n.not, err = p.plan(s.Not); err != nil {
		return nil, err
	}
	if n.cond, err = p.plan(s.If); err != nil {
		return nil, err
	}
	if n.then, err = p.plan(s.Then); err != nil {
		return nil, err
	}
	if n.els, err = p.plan(s.Else); err != nil {
		return nil, err
	}
	return n, nil
}

func ratInt(r *big.Rat) (int64, bool) {
	if r == nil || !r.IsInt() || !r.Num().IsInt64() {
		return 0, false
	}
	return r.Num().Int64(), true
}

// check judges v. fail is as certain as pass (an if chooses its branch by
// it); unsure is neither.
func (n *passCheck) check(v any) verdict {
	switch n.boolean {
	case 1:
		return pass
	case -1:
		return fail
	}
	var (
		bit    uint8
		intVal int64
		isInt  bool
		rat    *big.Rat
	)
	switch x := v.(type) {
	case nil:
		bit = typeNull
	case bool:
		bit = typeBoolean
	case string:
		bit = typeString
	case json.Number:
		bit = typeNumber
		if intVal, isInt = integerOf(x); !isInt {
			// 1.0, 1e2 and 2.5 are read as the library reads them.
			if rat = ratOf(x); rat == nil {
				return unsure
			}
		}
	case []any:
		bit = typeArray
	case map[string]any:
		bit = typeObject
	default:
		return unsure
	}
	if n.types != 0 && n.types&bit == 0 {
		switch {
		case bit != typeNumber || n.types&typeInteger == 0:
			return fail
		case !isInt && !rat.IsInt():
			return fail
		}
	}
	if n.constant != nil {
		// A value of another type never equals a string.
		if s, ok := v.(string); !ok || s != *n.constant {
			return fail
		}
	}
	if n.enum != nil {
		s, ok := v.(string)
		if !ok {
			return fail
		}
		if _, in := n.enum[s]; !in {
			return fail
		}
	}
	if n.format != nil && n.format(v) != nil {
		return fail
	}
	var r verdict
	switch x := v.(type) {
	case map[string]any:
		r = n.checkObject(x)
	case []any:
		r = n.checkArray(x)
	case string:
		r = n.checkString(x)
	case json.Number:
		r = n.checkNumber(intVal, isInt, rat)
	}
	if r != pass {
		return r
	}
	for _, c := range n.allOf {
		if r := c.check(v); r != pass {
			return r
		}
	}
	if n.not != nil {
		switch n.not.check(v) {
		case pass:
			return fail
		case unsure:
			return unsure
		}
	}
	if n.cond != nil {
		branch := n.els
		switch n.cond.check(v) {
		case pass:
			branch = n.then
		case unsure:
			return unsure
		}
		if branch != nil {
			return branch.check(v)
		}
	}
	return pass
}

func (n *passCheck) checkObject(obj map[string]any) verdict {
	if n.minProps >= 0 && len(obj) < n.minProps || n.maxProps >= 0 && len(obj) > n.maxProps {
		return fail
	}
	for _, name := range n.required {
		if _, ok := obj[name]; !ok {
			return fail
		}
	}
	met := 0
	for name, val := range obj {
		prop, ok := n.props[name]
		sub := prop.check
		if prop.required {
			met++
		}
		switch {
		case ok:
		case n.closed:
			return fail
		case n.additional != nil:
			sub = n.additional
		default:
			continue
		}
		if r := sub.check(val); r != pass {
			// A missing required member is a certain fail, as it was
			// before any member was checked.
			if r == unsure && n.missingRequired(obj) {
				return fail
			}
			return r
		}
	}
	if met < n.requiredProps {
		return fail
	}
	return pass
}

func (n *passCheck) missingRequired(obj map[string]any) bool {
	for _, name := range n.allRequired {
		if _, ok := obj[name]; !ok {
			return true
		}
	}
	return false
}

func (n *passCheck) checkArray(arr []any) verdict {
	if n.minItems >= 0 && len(arr) < n.minItems || n.maxItems >= 0 && len(arr) > n.maxItems {
		return fail
	}
	if n.unique && len(arr) > 1 {
		if r := uniqueItems(arr); r != pass {
			return r
		}
	}
	if n.items != nil {
		for _, e := range arr {
			if r := n.items.check(e); r != pass {
				return r
			}
		}
	}
	return pass
}

// uniqueItems decides uniqueItems for arrays of strings and of integers,
// which are all the schemas declare unique; anything else is unsure.
func uniqueItems(arr []any) verdict {
	if len(arr) <= 16 {
		for i := 1; i < len(arr); i++ {
			for j := range i {
				switch eq := sameScalar(arr[i], arr[j]); eq {
				case pass:
					return fail
				case unsure:
					return unsure
				}
			}
		}
		return pass
	}
	strs := make(map[string]struct{}, len(arr))
	ints := map[int64]struct{}{}
	for _, e := range arr {
		switch x := e.(type) {
		case string:
			if _, dup := strs[x]; dup {
				return fail
			}
			strs[x] = struct{}{}
		case json.Number:
			i, ok := integerOf(x)
			if !ok {
				return unsure
			}
			if _, dup := ints[i]; dup {
				return fail
			}
			ints[i] = struct{}{}
		default:
			return unsure
		}
	}
	return pass
}

// sameScalar is pass when a and b are equal strings or integers, fail when
// they certainly differ, unsure for other values.
func sameScalar(a, b any) verdict {
	switch x := a.(type) {
	case string:
		switch y := b.(type) {
		case string:
			return boolVerdict(x == y)
		case json.Number:
			return fail
		}
	case json.Number:
		switch y := b.(type) {
		case string:
			return fail
		case json.Number:
			xi, xok := integerOf(x)
			yi, yok := integerOf(y)
			if xok && yok {
				return boolVerdict(xi == yi)
			}
			// 1 and 1.0 are the same item to the library.
			xr, yr := ratOf(x), ratOf(y)
			if xr == nil || yr == nil {
				return unsure
			}
			return boolVerdict(xr.Cmp(yr) == 0)
		}
	}
	return unsure
}

func boolVerdict(b bool) verdict {
	if b {
		return pass
	}
	return fail
}

func (n *passCheck) checkString(s string) verdict {
	if n.minLen >= 0 || n.maxLen >= 0 {
		l := utf8.RuneCountInString(s)
		if n.minLen >= 0 && l < n.minLen || n.maxLen >= 0 && l > n.maxLen {
			return fail
		}
	}
	if n.match != nil && !n.match(s) {
		return fail
	}
	return pass
}

// checkNumber checks a number read as the integer i when isInt, else as
// the rational r.
func (n *passCheck) checkNumber(i int64, isInt bool, r *big.Rat) verdict {
	if isInt && n.exclMinimum == nil && n.exclMaximum == nil && n.multipleOf == nil &&
		(n.minimum == nil || n.hasMinInt) && (n.maximum == nil || n.hasMaxInt) {
		if n.hasMinInt && i < n.minInt || n.hasMaxInt && i > n.maxInt {
			return fail
		}
		return pass
	}
	if n.minimum == nil && n.maximum == nil && n.exclMinimum == nil && n.exclMaximum == nil && n.multipleOf == nil {
		return pass
	}
	if r == nil {
		r = new(big.Rat).SetInt64(i)
	}
	switch {
	case n.minimum != nil && r.Cmp(n.minimum) < 0,
		n.maximum != nil && r.Cmp(n.maximum) > 0,
		n.exclMinimum != nil && r.Cmp(n.exclMinimum) <= 0,
		n.exclMaximum != nil && r.Cmp(n.exclMaximum) >= 0,
		n.multipleOf != nil && !new(big.Rat).Quo(r, n.multipleOf).IsInt():
		return fail
	}
	return pass
}

// ratOf is the library's own reading of a number: its text as a big.Rat.
// It is nil for a json.Number that is no number, which no decoder makes.
func ratOf(x json.Number) *big.Rat {
	r, ok := new(big.Rat).SetString(x.String())
	if !ok {
		return nil
	}
	return r
}

// integerOf reads a number written as an optional minus and decimal digits,
// the only form whose value is read here rather than by the library.
func integerOf(x json.Number) (int64, bool) {
	s := string(x)
	if s == "" || s[0] != '-' && (s[0] < '0' || s[0] > '9') {
		return 0, false
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return i, err == nil
}

// dateTimeFormat is the library's date-time format assertion (lib) with a
// shortcut for the form records carry, YYYY-MM-DDTHH:MM:SS, a fraction and
// Z: the library splits the time into strings to read it, an allocation
// for every date-time of every record. A string of that form with a date
// time.Parse reads and a time within 23:59:59 is one the library accepts
// (it refuses only what it cannot read, a time out of range and a leap
// second at another minute than 23:59 UTC); anything else is the
// library's to judge, so the verdict is the library's in every case
// (TestDateTimeFormatIsLibrary, FuzzDateTimeFormat).
func dateTimeFormat(lib func(any) error) func(any) error {
	return func(v any) error {
		if s, ok := v.(string); ok && plainDateTime(s) {
			return nil
		}
		return lib(v)
	}
}

// plainDateTime reports whether s is YYYY-MM-DDTHH:MM:SS, an optional
// fraction of one or more digits, and Z (or t, z), with a valid date and
// hours, minutes and seconds within 23, 59 and 59.
func plainDateTime(s string) bool {
	if len(s) < 20 || s[10] != 'T' && s[10] != 't' || s[13] != ':' || s[16] != ':' {
		return false
	}
	if z := s[len(s)-1]; z != 'Z' && z != 'z' {
		return false
	}
	if _, err := time.Parse(time.DateOnly, s[:10]); err != nil {
		return false
	}
	two := func(i int, max byte) bool {
		a, b := s[i], s[i+1]
		return '0' <= a && a <= '9' && '0' <= b && b <= '9' && (a-'0')*10+(b-'0') <= max
	}
	if !two(11, 23) || !two(14, 59) || !two(17, 59) {
		return false
	}
	frac := s[19 : len(s)-1]
	if frac == "" {
		return true
	}
	if len(frac) < 2 || frac[0] != '.' {
		return false
	}
	for i := 1; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return false
		}
	}
	return true
}
