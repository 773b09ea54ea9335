package policy

import (
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
	// Everything but the keyed registers' entries and the screening is
	// what Doc builds from the snapshot without them; KeyedDoc, the
	// builder Doc itself uses, then puts the entries on it, each decoded
	// once per chunk.
	bare := *s
	bare.Keyed, bare.Screening = nil, nil
	doc := bare.Doc()
	if s.Screening != nil {
		_, declared := doc["screening"]
		if _, found := s.Keyed["screening"]; declared || found {
			// Doc puts the screening over a keyed register of its name;
			// rather than copy that order here, such a snapshot is built
			// as Doc builds it.
			full := s.Doc()
			return full, convertible(full)
		}
		// No keyed register shares its name, so where it goes first
		// or last makes the same document.
		doc["screening"] = s.Screening
	}
	ok := convertible(doc)
	s.KeyedDoc(doc, func(raw json.RawMessage) (any, bool) {
		e := r.entry(raw)
		if e.decoded && !e.convertible {
			ok = false
		}
		return e.v, e.decoded
	})
	return doc, ok
}

// entry decodes raw as Doc does (registers.DecodeKeyed), once for each
// distinct raw.
func (r *regsDoc) entry(raw []byte) decodedEntry {
	if e, ok := r.entries[string(raw)]; ok {
		return e
	}
	e := decodedEntry{}
	if x, ok := registers.DecodeKeyed(raw); ok {
		e = decodedEntry{v: x, decoded: true, convertible: convertible(x)}
	}
	if r.entries == nil {
		r.entries = map[string]decodedEntry{}
	}
	r.entries[string(raw)] = e
	return e
}
