package records

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Redact returns a deep copy of doc without the members and array elements
// that the RFC 6901 JSON pointers name; doc itself is never changed. All
// pointers refer to doc as it is, so removing /a/0 and /a/2 removes the
// first and third elements whatever the order of the pointers. A pointer to
// something absent removes nothing: a policy may redact an optional field
// that this record does not carry. The root pointer "" is refused: a record
// redacted whole is withheld, which is a different decision.
func Redact(doc map[string]any, pointers []string) (map[string]any, error) {
	r, err := NewRedaction(pointers)
	if err != nil {
		return nil, err
	}
	return r.Apply(doc), nil
}

// Redaction is a list of pointers parsed once, to be applied to many
// records (the records of a chunk given one decision).
type Redaction struct{ root *redactNode }

// NewRedaction parses pointers as Redact does.
func NewRedaction(pointers []string) (*Redaction, error) {
	root := &redactNode{}
	for _, p := range pointers {
		tokens, err := ParsePointer(p)
		if err != nil {
			return nil, err
		}
		if len(tokens) == 0 {
			return nil, errors.New("redact: the root pointer would remove the whole record")
		}
		n := root
		for _, t := range tokens {
			if n.kids == nil {
				n.kids = map[string]*redactNode{}
			}
			next := n.kids[t]
			if next == nil {
				next = &redactNode{}
				n.kids[t] = next
			}
			n = next
		}
		n.remove = true
	}
	return &Redaction{root: root}, nil
}

// Apply is Redact with r's pointers: a copy of doc without them.
func (r *Redaction) Apply(doc map[string]any) map[string]any {
	out, _ := redactCopy(doc, r.root).(map[string]any)
	return out
}

// redactNode is one step of the pointers: remove this value, or descend.
type redactNode struct {
	remove bool
	kids   map[string]*redactNode
}

func (n *redactNode) child(token string) *redactNode {
	if n == nil {
		return nil
	}
	return n.kids[token]
}

func redactCopy(v any, n *redactNode) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			c := n.child(k)
			if c != nil && c.remove {
				continue
			}
			out[k] = redactCopy(val, c)
		}
		return out
	case []any:
		out := make([]any, 0, len(t))
		for i, val := range t {
			var c *redactNode
			if n != nil && n.kids != nil {
				c = n.kids[strconv.Itoa(i)]
			}
			if c != nil && c.remove {
				continue
			}
			out = append(out, redactCopy(val, c))
		}
		return out
	default: // strings, json.Number, bool, nil are immutable
		return v
	}
}

// ParsePointer splits an RFC 6901 JSON pointer into its unescaped reference
// tokens; "" is the whole document.
func ParsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("json pointer %q: must start with /", p)
	}
	parts := strings.Split(p[1:], "/")
	for i, part := range parts {
		if !strings.Contains(part, "~") {
			continue
		}
		for j := 0; j < len(part); j++ {
			if part[j] == '~' && (j+1 == len(part) || (part[j+1] != '0' && part[j+1] != '1')) {
				return nil, fmt.Errorf("json pointer %q: ~ must be followed by 0 or 1", p)
			}
		}
		// ~1 first, then ~0: "~01" is "~1", not "/".
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
	}
	return parts, nil
}
