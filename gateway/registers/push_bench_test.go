package registers

import (
	"context"
	"encoding/json"
	"maps"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/records"
)

// benchLicenceJSON is a licence as deploy/bench's push100 sends it
// (gateway/api/exchange's benchLicence), its holder's name replaced by
// holder.
func benchLicenceJSON(id, holder string) string {
	return `{"kind":"licence","id":"` + id + `","version":1,"label":{"classification":"RESTRICTED","releasable_to":["ALB","NATO"],` +
		`"originator":"AL/GOV/AIM","created":"2026-05-01T10:00:00Z"},` +
		`"licence":{"type":"export","status":"issued",` +
		`"holder":{"entity_id":"L61234567A","name":"` + holder + `"},` +
		`"valid_from":"2026-05-01","valid_until":"2027-04-30",` +
		`"items":[{"ml_category":"ML3","description":"7.62x39mm cartridges","quantity":200000,"unit":"rounds"}],` +
		`"end_user":{"name":"Ministry of Defence","country":"CZE","contact":{"name":"Jana Novakova","email":"jana.novakova@example.cz"}},` +
		`"destination":"CZE","transit":["HRV"],"conditions":["no re-export without consent"],` +
		`"contract_value":{"amount":1840000,"currency":"EUR"}}}`
}

// decodeRecord reads a record document as the push's decoder leaves it
// (numbers as json.Number).
func decodeRecord(tb testing.TB, doc string) *records.Record {
	tb.Helper()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		tb.Fatal(err)
	}
	label, _ := m["label"].(map[string]any)
	v, _ := m["version"].(json.Number).Int64()
	return &records.Record{Kind: str(m["kind"]), ID: str(m["id"]), Version: int(v),
		Label: records.Label{Originator: str(label["originator"])}, Doc: m}
}

// benchHolders are names as officers write them, for the batch whose
// every licence names another holder.
var benchHolders = []string{
	"KAYO sh.a.", "Đorđević Trading d.o.o.", "Ђорђевић Трејдинг", "Shadow Arms sh.p.k.", "Çeliku i Elbasanit SH.P.K.",
	"Northwind Munitions Ltd", "Еуроинвест Д.О.О.Е.Л. Скопје", "K.A.Y.O. Industries Inc", "Mëtaliku Tiranë", "Acme Intl Ltd",
}

// pushBatch is 100 licences of one push: alike but for their ids (push100),
// or each naming another holder (distinct).
func pushBatch(tb testing.TB, distinct bool) []*records.Record {
	recs := make([]*records.Record, 100)
	for i := range recs {
		holder := "KAYO sh.a."
		if distinct {
			holder = benchHolders[i%len(benchHolders)] + " " + strconv.Itoa(i)
		}
		recs[i] = decodeRecord(tb, benchLicenceJSON("AIM-LIC-2026-"+strconv.Itoa(i), holder))
	}
	return recs
}

// benchStore is what the store holds that a push100 batch refers to: the
// holder on the register of entities, an excluded entity whose name
// shares a block key with it, the transit state's non-objection of no
// licence of the batch, and a denial for the destination.
func benchStore(tb testing.TB) func(context.Context, Refs) (*Snapshot, error) {
	held := []*records.Record{
		decodeRecord(tb, `{"kind":"entity","id":"ENT-1","version":1,"label":{"originator":"AL/GOV/AIM"},`+
			`"entity":{"entity_id":"L61234567A","name":"KAYO sh.a.","status":"active"}}`),
		decodeRecord(tb, `{"kind":"excluded_entity","id":"X-1","version":1,"label":{"originator":"AL/GOV/AIM"},`+
			`"excluded_entity":{"entity_id":"K99","name":"Kayak Arms","excluded_from":"2025-01-01"}}`),
		decodeRecord(tb, `{"kind":"denial","id":"IT-DEN-1","version":1,"label":{"originator":"IT/GOV/MOD"},`+
			`"denial":{"denying_state":"ITA","date":"2026-05-10","criteria":[2],"destination":"CZE","status":"active",`+
			`"end_user":{"name":"Other","country":"CZE"},"goods":[{"ml_category":"ML1"}]}}`),
	}
	all := NewOverlay(nil)
	for _, r := range held {
		all.Apply(r)
	}
	return func(_ context.Context, refs Refs) (*Snapshot, error) {
		// A store answers with a new snapshot of the entries under refs.
		out := NewSnapshot()
		for _, id := range refs.EntityIDs {
			if e, ok := all.s.Entities[id]; ok {
				out.Entities[id] = e
			}
			if l, ok := all.s.ByID[id]; ok {
				out.ByID[id] = maps.Clone(l)
			}
		}
		for _, n := range refs.Names {
			if l, ok := all.s.ByName[n]; ok {
				out.ByName[n] = maps.Clone(l)
			}
		}
		for _, k := range refs.Keyed {
			for id, v := range all.s.Keyed[k.Register][k.Key] {
				out.AddKeyed(k.Register, k.Key, id, v)
			}
		}
		return out, nil
	}
}

var benchSink *Snapshot

// cpuTime is the CPU time this process has used: on a machine shared with
// other work, wall-clock time says more about the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPushRegisters is the registers' part of a push of 100 licences
// (gateway/api/exchange's ask): one Read for the batch, then for each
// record what its decision is given (For) and, but for the last, the
// record put on the overlay (Apply). ns/record is per record of the batch,
// cpu-ns/record the process's CPU per record.
//
//	go test -run '^$' -bench BenchmarkPushRegisters -cpu 1 ./gateway/registers/
func BenchmarkPushRegisters(b *testing.B) {
	for _, c := range []struct {
		name     string
		distinct bool
	}{{"push100", false}, {"distinct", true}} {
		b.Run(c.name, func(b *testing.B) {
			recs := pushBatch(b, c.distinct)
			read := benchStore(b)
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				snap, err := Read(ctx, recs, read)
				if err != nil {
					b.Fatal(err)
				}
				o := NewOverlay(snap)
				for i, r := range recs {
					benchSink = o.For(r)
					if i < len(recs)-1 {
						o.Apply(r)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*len(recs)), "cpu-ns/record")
		})
	}
}
