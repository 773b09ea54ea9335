//go:build !race

package policy

// equivStride: without the race detector TestPolicyEquivalence checks every
// question of the corpus.
const equivStride = 1
