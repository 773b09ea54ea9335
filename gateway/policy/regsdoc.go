package policy

import (
	"bytes"
	"encoding/json"

	"github.com/ura-gateway/ura/gateway/registers"
)

// regsDoc builds input.registers for the questions of one chunk or batch
// as registers.Snapshot.Doc does, except that an entry of a keyed register
// is decoded once per chunk: the records of a push refer to the same
// conditions and certificates, and decoding them again for each record
// was most of what building a push's key cost. An entry is cached by its
// bytes, not by where it is, so an overlay that changes an entry between
// two records of a batch gives a new entry, never a stale one.
//
// The decoded values are shared by the documents of the chunk: like a
// record's document, input.registers is read and never written.
type regsDoc struct {
	entries map[string]decodedEntry
}

// decodedEntry is one keyed register entry as Doc decodes it; decoded is
// false for bytes Doc leaves out, convertible whether the lazy input may
// hold it.
type decodedEntry struct {
	v           any
	decoded     bool
	convertible bool
}

// doc is s.Doc() and whether every value in it is convertible (a lazy
// input may hold it).
func (r *regsDoc) doc(s *registers.Snapshot) (map[string]any, bool) {
	if len(s.Keyed) == 0 {
		doc := s.Doc()
		return doc, convertible(doc)
	}
	if _, clash := s.Keyed["screening"]; clash && s.Screening != nil {
		// Doc puts the screening over a keyed register of its name;
		// rather than copy that order here, such a snapshot is built
		// as Doc builds it.
		doc := s.Doc()
		return doc, convertible(doc)
	}
	// Everything but the keyed registers' entries is what Doc builds: the
	// snapshot without them. Doc puts every keyed register there, empty.
	bare := *s
	bare.Keyed = nil
	doc := bare.Doc()
	ok := convertible(doc)
	for reg, keys := range s.Keyed {
		m := make(map[string]any, len(keys))
		for key, list := range keys {
			if len(list) == 0 {
				continue
			}
			entries := make(map[string]any, len(list))
			for id, v := range list {
				e := r.entry(v.Value)
				if !e.decoded {
					continue
				}
				ok = ok && e.convertible
				entries[id] = e.v
			}
			m[key] = entries
		}
		doc[reg] = m
	}
	return doc, ok
}

// entry decodes raw as keyedDoc does (registers/keyed.go): its first JSON
// value, numbers as json.Number.
func (r *regsDoc) entry(raw []byte) decodedEntry {
	if e, ok := r.entries[string(raw)]; ok {
		return e
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	e := decodedEntry{}
	if err := dec.Decode(&x); err == nil {
		e = decodedEntry{v: x, decoded: true, convertible: convertible(x)}
	}
	if r.entries == nil {
		r.entries = map[string]decodedEntry{}
	}
	r.entries[string(raw)] = e
	return e
}
