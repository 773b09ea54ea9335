// Package verdict holds what the gateway records about a decision on a
// record, apart from the engine that makes it: the audit log, the console,
// the exchange responses and the command line carry reasons given by the
// policy and by the gateway's own checks alike, without depending on the
// policy engine.
package verdict

// Reason explains a decision with a stable code.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
