package records

import (
	"fmt"
	"testing"
)

// BenchmarkValidate100 is validation alone (schema, semantic checks,
// canonical form and digest) of 100 records of every kind, decoded once.
func BenchmarkValidate100(b *testing.B) {
	decoded := benchDecoded(b)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		for _, d := range decoded {
			if c := Validate(d.Value, d.Errors); !c.Valid() {
				b.Fatal(c.Errors)
			}
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(100*b.N), "cpu-ns/record")
}

// BenchmarkSchemaValidate100 is the schema check alone, as Validate makes
// it, of the same 100 records.
func BenchmarkSchemaValidate100(b *testing.B) {
	decoded := benchDecoded(b)
	set, err := schemas()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		for _, d := range decoded {
			doc := d.Value.(map[string]any)
			if err := set.compiled[doc["kind"].(string)].Validate(doc); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(100*b.N), "cpu-ns/record")
}

func benchDecoded(b *testing.B) []Decoded {
	b.Helper()
	var docs []any
	for i := range 100 {
		doc := sample(b, Kinds[i%len(Kinds)])
		doc["id"] = fmt.Sprintf("BENCH-%06d", i)
		docs = append(docs, doc)
	}
	decoded, err := Decode(batchOf(b, docs...), FormatJSON, testLimits)
	if err != nil {
		b.Fatal(err)
	}
	return decoded
}
