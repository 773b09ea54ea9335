package names

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

// tokensReference is Tokens as its rules state it, step by step, each on a
// slice of its own: abbreviations written out, legal forms dropped (each
// position held to every form), runs of single letters joined. Tokens must
// answer exactly as it does.
func tokensReference(name string) []string {
	words := strings.Fields(Normalise(name))
	var expanded []string
	for _, w := range words {
		if full, ok := abbreviations[w]; ok {
			expanded = append(expanded, strings.Fields(full)...)
			continue
		}
		expanded = append(expanded, w)
	}
	var kept []string
	for i := 0; i < len(expanded); {
		best := 0
		for _, f := range legalForms {
			if len(f) > best && len(f) <= len(expanded)-i && slices.Equal(expanded[i:i+len(f)], f) {
				best = len(f)
			}
		}
		if best > 0 {
			i += best
			continue
		}
		kept = append(kept, expanded[i])
		i++
	}
	if len(kept) == 0 {
		kept = expanded
	}
	var out []string
	run := ""
	for _, w := range kept {
		if len([]rune(w)) == 1 {
			run += w
			continue
		}
		if run != "" {
			out = append(out, run)
			run = ""
		}
		out = append(out, w)
	}
	if run != "" {
		out = append(out, run)
	}
	if len(out) > maxTokens {
		out = out[:maxTokens]
	}
	return out
}

var tokenSamples = []string{
	"", " ", "KAYO sh.a.", "Kayo sh.p.k.", "K.A.Y.O. Industries Inc", "Acme Intl Ltd", "S.A.", "sh p k", "d.o.o.e.l.",
	"Еуроинвест Д.О.О.Е.Л. Скопје", "Југоимпорт СДПР а.д.", "Đorđević Trading d.o.o.", "Impex Bros Mfg Co",
	"a b c Ltd d e f", "sp z o o", "Sp. z o.o. Polska", "s.a.r.l. s.a. sarl", "Ltd", "impex", "x\xffy z",
	"Ministry of Defence", "Mëtaliku Tiranë sh.p.k.", "ＡＣＭＥ　Ｌｔｄ", "名 公 司", "é a Ж",
	strings.Repeat("word ", 40), strings.Repeat("a ", 40) + "end", strings.Repeat("intl ", 20),
}

// TestTokensIsReference: Tokens gives what its rules stated step by step
// give, for the samples and every name of the labelled corpus.
func TestTokensIsReference(t *testing.T) {
	all := slices.Clone(tokenSamples)
	for _, p := range loadPairs(t) {
		all = append(all, p.A, p.B)
	}
	for _, s := range all {
		if got, want := Tokens(s), tokensReference(s); !slices.Equal(got, want) {
			t.Errorf("Tokens(%q) = %q, the reference gives %q", s, got, want)
		}
	}
}

func FuzzTokens(f *testing.F) {
	for _, s := range tokenSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Tokens(s), tokensReference(s); !slices.Equal(got, want) {
			t.Errorf("Tokens(%q) = %q, the reference gives %q", s, got, want)
		}
	})
}

func BenchmarkTokens(b *testing.B) {
	for b.Loop() {
		for _, s := range tokenSamples[:20] {
			Tokens(s)
		}
	}
}

// TestPooledChainsAreFresh: a name normalised by chains that transformed
// other names before (long ones, malformed ones, at the same time on other
// goroutines) comes out as by chains made for it.
func TestPooledChainsAreFresh(t *testing.T) {
	all := slices.Clone(tokenSamples)
	for _, p := range loadPairs(t) {
		all = append(all, p.A, p.B)
	}
	all = append(all, strings.Repeat("Ђорђевић ", 2000), strings.Repeat("e\u0301", 3000), "\xff\xfe", strings.Repeat("ﬁ", 5000)+"x")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, s := range all {
				if got, want := normaliseUnicode(s), normaliseWith(s, newFoldChain(), newMarkChain()); got != want {
					t.Errorf("normaliseUnicode(%.40q) = %.40q, fresh chains give %.40q", s, got, want)
				}
			}
		})
	}
	wg.Wait()
}
