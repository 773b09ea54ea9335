//go:build race

package policy

// equivStride: under the race detector, which slows OPA's evaluation
// several times over, TestPolicyEquivalence checks every sixteenth question of
// the corpus; `make test` also runs it without the detector, on all of them.
const equivStride = 16
