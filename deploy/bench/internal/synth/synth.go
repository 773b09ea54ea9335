// Package synth makes the records the benchmark sends and the upstream
// serves: shaped like the licences and tracking events in
// gateway/ARCHITECTURE.md ("Records"), so that schema validation, policy and
// signing do the work they would do on real traffic, and varied only in the
// fields that must be unique.
package synth

import (
	"bytes"
	"strconv"
	"time"
)

// Created is the label time of every synthetic record. A fixed time keeps
// bodies byte-identical between runs, so the systems see the same input.
var Created = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// Licence appends one export licence, originated by AL/GOV/AIM and
// releasable to ALB and NATO, to dst.
func Licence(dst []byte, id string, version int) []byte {
	dst = append(dst, `{"kind":"licence","id":"`...)
	dst = append(dst, id...)
	dst = append(dst, `","version":`...)
	dst = strconv.AppendInt(dst, int64(version), 10)
	dst = append(dst, `,"label":{"classification":"RESTRICTED","releasable_to":["ALB","NATO"],"originator":"AL/GOV/AIM","created":"`...)
	dst = Created.AppendFormat(dst, time.RFC3339)
	dst = append(dst, `"},"licence":{"type":"export","status":"issued",`+
		`"holder":{"entity_id":"L61234567A","name":"KAYO sh.a."},`+
		`"valid_from":"2026-05-01","valid_until":"2027-04-30",`+
		`"items":[{"ml_category":"ML3","description":"7.62x39mm cartridges","quantity":200000,"unit":"rounds"}],`+
		`"end_user":{"name":"Ministry of Defence","country":"CZE","contact":{"name":"Jana Novakova","email":"jana.novakova@example.cz"}},`+
		`"destination":"CZE","transit":["HRV"],"conditions":["no re-export without consent"],`+
		`"contract_value":{"amount":1840000,"currency":"EUR"}}}`...)
	return dst
}

// Batch is a JSON array of n licences with IDs prefix-000000… in order.
func Batch(prefix string, first, n int) []byte {
	b := make([]byte, 0, n*900+2)
	b = append(b, '[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = Licence(b, ID(prefix, first+i), 1)
	}
	return append(b, ']')
}

// NDJSON is n licences, one per line, IDs prefix-000000… in order.
func NDJSON(prefix string, n int) []byte {
	b := make([]byte, 0, n*900)
	for i := 0; i < n; i++ {
		b = Licence(b, ID(prefix, i), 1)
		b = append(b, '\n')
	}
	return b
}

// ID is a licence ID in AIM's style with a zero-padded sequence number, so
// that IDs sort in the order they were made.
func ID(prefix string, n int) string {
	s := strconv.Itoa(n)
	if len(s) < 9 {
		s = string(bytes.Repeat([]byte{'0'}, 9-len(s))) + s
	}
	return prefix + "-" + s
}
