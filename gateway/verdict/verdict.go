// Package verdict holds what the gateway records about a decision on a
// record, apart from the engine that makes it: the audit log, the console,
// the exchange responses and the command line carry reasons given by the
// policy and by the gateway's own checks alike, without depending on the
// policy engine.
package verdict

import "encoding/json"

// Reason explains a decision with a stable code.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Redaction is one field removed from a released record: its JSON pointer
// and the ID of the policy rule that removed it, never the value it held.
type Redaction struct {
	Pointer string `json:"pointer"`
	Rule    string `json:"rule"`
}

// MarshalJSON writes a redaction without a rule as its bare pointer: the
// form audit events took before redactions named their rule, so that such
// an event re-encodes to the bytes its hash covers.
func (r Redaction) MarshalJSON() ([]byte, error) {
	if r.Rule == "" {
		return json.Marshal(r.Pointer)
	}
	type plain Redaction
	return json.Marshal(plain(r))
}

// UnmarshalJSON reads either form MarshalJSON writes.
func (r *Redaction) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*r = Redaction{}
		return json.Unmarshal(b, &r.Pointer)
	}
	type plain Redaction
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*r = Redaction(p)
	return nil
}

// AppendRedactions appends rs as a JSON array the way MarshalJSON writes
// each redaction, every string written by str. It is the one writer of
// that array: the signed delivery (gateway/release) passes encoding/json's
// form, the audit event (gateway/audit) RFC 8785's, and the two differ in
// nothing else.
func AppendRedactions(b []byte, rs []Redaction, str func([]byte, string) []byte) []byte {
	b = append(b, '[')
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		if r.Rule == "" {
			b = str(b, r.Pointer)
			continue
		}
		b = str(append(b, `{"pointer":`...), r.Pointer)
		b = str(append(b, `,"rule":`...), r.Rule)
		b = append(b, '}')
	}
	return append(b, ']')
}

// Pointers lists the pointers of rs, in their order.
func Pointers(rs []Redaction) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Pointer
	}
	return out
}

// Marking is a label's classification in the security policy it is
// expressed in (STANAG 4774: policy identifier and classification).
type Marking struct {
	PolicyID       string `json:"policy_id"`
	Classification string `json:"classification"`
}

// Translation is one step by which a delivered label's marking was
// translated from one security policy to another, with the ID of the
// marking map entry that made it (gateway/ARCHITECTURE.md, Records).
type Translation struct {
	From Marking `json:"from"`
	To   Marking `json:"to"`
	Rule string  `json:"rule"`
}
