package policy

import (
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/ura-gateway/ura/gateway/verdict"
)

// keepAST is the result conversion the engine asks OPA for: none. The
// decision stays the AST value topdown built, and parseResult reads the few
// members it needs from it.
func keepAST(t *ast.Term, _ *rego.EvalContext) (any, error) { return t.Value, nil }

var (
	keyAllow      = ast.InternedTerm("allow")
	keyRedact     = ast.InternedTerm("redact")
	keyReasons    = ast.InternedTerm("reasons")
	keyRedactions = ast.InternedTerm("redactions")
	keyPointer    = ast.InternedTerm("pointer")
	keyRule       = ast.InternedTerm("rule")
	keyCode       = ast.InternedTerm("code")
	keyMessage    = ast.InternedTerm("message")
	keyByAuth     = ast.InternedTerm("releasable_by_authority")
	keyTranslate  = ast.InternedTerm("translations")
)

// parseDecisionAST reads a well-formed decision straight from the AST. It
// answers ok only for the exact shape parseResult accepts; anything else,
// sets included, goes through the JSON conversion and parseResult's checks,
// so that the errors and the order of elements stay exactly theirs.
func parseDecisionAST(v ast.Value) (res result, ok bool) {
	obj, isObj := v.(ast.Object)
	if !isObj {
		return result{}, false
	}
	a := obj.Get(keyAllow)
	if a == nil {
		return result{}, false
	}
	b, isBool := a.Value.(ast.Boolean)
	if !isBool {
		return result{}, false
	}
	res.allow = bool(b)
	if t := obj.Get(keyByAuth); t != nil {
		ba, isBool := t.Value.(ast.Boolean)
		if !isBool {
			return result{}, false
		}
		res.byAuthority = bool(ba)
	}
	// Translations are rare (a national marking leaving for another
	// policy): parseResult reads them, checks included.
	if obj.Get(keyTranslate) != nil {
		return result{}, false
	}
	if t := obj.Get(keyRedact); t != nil {
		switch list := t.Value.(type) {
		case ast.Null:
		case *ast.Array:
			if list.Len() > 0 {
				res.redact = make([]string, 0, list.Len())
			}
			for i := range list.Len() {
				s, isStr := list.Elem(i).Value.(ast.String)
				if !isStr || !isPointer(string(s)) {
					return result{}, false
				}
				res.redact = append(res.redact, string(s))
			}
		default:
			return result{}, false
		}
	}
	if t := obj.Get(keyRedactions); t != nil {
		switch list := t.Value.(type) {
		case ast.Null:
		case *ast.Array:
			if list.Len() > 0 {
				res.redactions = make([]verdict.Redaction, 0, list.Len())
			}
			for i := range list.Len() {
				r, isObj := list.Elem(i).Value.(ast.Object)
				if !isObj {
					return result{}, false
				}
				pointer, ok1 := stringMember(r, keyPointer)
				rule, ok2 := stringMember(r, keyRule)
				if !ok1 || !ok2 || !isPointer(pointer) || rule == "" {
					return result{}, false
				}
				res.redactions = append(res.redactions, verdict.Redaction{Pointer: pointer, Rule: rule})
			}
		default:
			return result{}, false
		}
	}
	if t := obj.Get(keyReasons); t != nil {
		switch list := t.Value.(type) {
		case ast.Null:
		case *ast.Array:
			if list.Len() > 0 {
				res.reasons = make([]verdict.Reason, 0, list.Len())
			}
			for i := range list.Len() {
				r, isObj := list.Elem(i).Value.(ast.Object)
				if !isObj {
					return result{}, false
				}
				code, ok1 := stringMember(r, keyCode)
				msg, ok2 := stringMember(r, keyMessage)
				if !ok1 || !ok2 || code == "" {
					return result{}, false
				}
				res.reasons = append(res.reasons, verdict.Reason{Code: code, Message: msg})
			}
		default:
			return result{}, false
		}
	}
	return res, true
}

// result is a decision as the policy gave it, its shape checked.
type result struct {
	allow      bool
	redact     []string
	redactions []verdict.Redaction
	reasons    []verdict.Reason
	// byAuthority is releasable_by_authority.
	byAuthority bool
	// translations are the label's translation steps (label.rego).
	translations []verdict.Translation
}

// isPointer reports whether s is a JSON pointer below the document's root.
func isPointer(s string) bool { return strings.HasPrefix(s, "/") && len(s) >= 2 }

// provenanceMatches reports whether redactions names, in order, exactly the
// pointers of redact: every removed field has the rule that removed it, and
// no rule claims a field that was not removed.
func provenanceMatches(redact []string, redactions []verdict.Redaction) bool {
	if len(redact) != len(redactions) {
		return false
	}
	for i, p := range redact {
		if redactions[i].Pointer != p {
			return false
		}
	}
	return true
}

func stringMember(obj ast.Object, key *ast.Term) (string, bool) {
	t := obj.Get(key)
	if t == nil {
		return "", false
	}
	s, ok := t.Value.(ast.String)
	return string(s), ok
}
