package policy

import (
	"encoding/json"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/ura-gateway/ura/gateway/identity"
)

// lazyInput is the input document as OPA's lazy object over the decoded
// record. A policy reads a handful of a record's fields; the lazy object
// converts a member to AST when a rule first reads it, so the rest of the
// record is never converted at all.
//
// The lazy object reads the record's maps instead of copying them, during
// the decision and during a shadow policy's evaluation of the same input
// afterwards. That relies on Record.Doc never changing once decoded, which
// the records package promises (Redact copies).
//
// A member the lazy object cannot convert would panic in the middle of an
// evaluation, so only documents made of the types encoding/json decodes
// into, every number valid for OPA, are handed over lazily; ok is false for
// anything else, which buildInput converts up front and whose error it
// reports as before.
func lazyInput(in Input) (_ ast.Value, ok bool) {
	var regs map[string]any
	if in.Registers != nil {
		regs = in.Registers.Doc()
	}
	return lazyInputWith(in, regs)
}

// lazyInputWith is lazyInput with regs as input.registers, when in has
// registers: their document built once for a push's group key and input.
func lazyInputWith(in Input, regs map[string]any) (_ ast.Value, ok bool) {
	now, _ := in.nowDoc()
	doc := inputDoc(in, regs, now)
	if !convertible(doc) {
		return nil, false
	}
	return ast.LazyObject(doc), true
}

// lazyInputChecked is lazyInputWith for registers already known
// convertible (regsDoc.doc), now being in.nowDoc(): only the rest of the
// input is checked.
func lazyInputChecked(in Input, regs map[string]any, now string) (_ ast.Value, ok bool) {
	doc := inputDoc(in, regs, now)
	for k, v := range doc {
		if k != "registers" && !convertible(v) {
			return nil, false
		}
	}
	return ast.LazyObject(doc), true
}

// inputDoc is the input document of in, regs its registers and now its
// time as in.nowDoc() gives it ("" for none).
func inputDoc(in Input, regs map[string]any, now string) map[string]any {
	doc := map[string]any{
		"action":   string(in.Action),
		"record":   in.Record.Doc,
		"previous": nil,
	}
	if in.Previous != nil && in.Previous.Doc != nil {
		doc["previous"] = in.Previous.Doc
	}
	// Only a registered member has a caller object; the policy treats its
	// absence as "not a member".
	if in.Caller.ID != "" {
		doc["caller"] = callerDoc(in.Caller)
	}
	if in.Registers != nil {
		doc["registers"] = regs
	}
	if in.Release != nil {
		doc["release"] = in.Release.doc()
	}
	if now != "" {
		doc["now"] = now
	}
	return doc
}

func callerDoc(m identity.Member) map[string]any {
	roles := make([]any, len(m.Roles))
	for i, r := range m.Roles {
		roles[i] = r
	}
	doc := map[string]any{
		"member":    m.ID,
		"nation":    m.Nation,
		"kind":      m.Kind,
		"clearance": m.Clearance,
		"roles":     roles,
	}
	if len(m.Categories) > 0 {
		cats := make(map[string]any, len(m.Categories))
		for name, values := range m.Categories {
			vs := make([]any, len(values))
			for i, v := range values {
				vs[i] = v
			}
			cats[name] = vs
		}
		doc["categories"] = cats
	}
	return doc
}

// convertible reports whether ast.InterfaceToValue converts v directly and
// without error: the types encoding/json decodes into, with UseNumber.
func convertible(v any) bool {
	switch x := v.(type) {
	case nil, bool, string:
		return true
	case json.Number:
		_, err := ast.NumberChecked(string(x))
		return err == nil
	case map[string]any:
		for _, e := range x {
			if !convertible(e) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range x {
			if !convertible(e) {
				return false
			}
		}
		return true
	default:
		return false
	}
}
