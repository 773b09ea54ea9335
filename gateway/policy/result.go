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
	keyAllow   = ast.InternedTerm("allow")
	keyRedact  = ast.InternedTerm("redact")
	keyReasons = ast.InternedTerm("reasons")
	keyCode    = ast.InternedTerm("code")
	keyMessage = ast.InternedTerm("message")
)

// parseDecisionAST reads a well-formed decision straight from the AST. It
// answers ok only for the exact shape parseResult accepts; anything else,
// sets included, goes through the JSON conversion and parseResult's checks,
// so that the errors and the order of elements stay exactly theirs.
func parseDecisionAST(v ast.Value) (allow bool, redact []string, reasons []verdict.Reason, ok bool) {
	obj, isObj := v.(ast.Object)
	if !isObj {
		return false, nil, nil, false
	}
	a := obj.Get(keyAllow)
	if a == nil {
		return false, nil, nil, false
	}
	b, isBool := a.Value.(ast.Boolean)
	if !isBool {
		return false, nil, nil, false
	}
	allow = bool(b)
	if t := obj.Get(keyRedact); t != nil {
		switch list := t.Value.(type) {
		case ast.Null:
		case *ast.Array:
			if list.Len() > 0 {
				redact = make([]string, 0, list.Len())
			}
			for i := range list.Len() {
				s, isStr := list.Elem(i).Value.(ast.String)
				if !isStr || !strings.HasPrefix(string(s), "/") || len(s) < 2 {
					return false, nil, nil, false
				}
				redact = append(redact, string(s))
			}
		default:
			return false, nil, nil, false
		}
	}
	if t := obj.Get(keyReasons); t != nil {
		switch list := t.Value.(type) {
		case ast.Null:
		case *ast.Array:
			if list.Len() > 0 {
				reasons = make([]verdict.Reason, 0, list.Len())
			}
			for i := range list.Len() {
				r, isObj := list.Elem(i).Value.(ast.Object)
				if !isObj {
					return false, nil, nil, false
				}
				code, ok1 := stringMember(r, keyCode)
				msg, ok2 := stringMember(r, keyMessage)
				if !ok1 || !ok2 || code == "" {
					return false, nil, nil, false
				}
				reasons = append(reasons, verdict.Reason{Code: code, Message: msg})
			}
		default:
			return false, nil, nil, false
		}
	}
	return allow, redact, reasons, true
}

func stringMember(obj ast.Object, key *ast.Term) (string, bool) {
	t := obj.Get(key)
	if t == nil {
		return "", false
	}
	s, ok := t.Value.(ast.String)
	return string(s), ok
}
