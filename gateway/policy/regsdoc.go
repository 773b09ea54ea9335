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
	// docs are the documents built, by what they were built from
	// (built): the questions of a push mostly refer to the same
	// entries, and their registers are built once.
	docs map[string]*builtRegs
	kbuf []byte   // the last key of docs looked up
	keys []string // registers.Snapshot.AppendDocKey's scratch space
}

// builtRegs is one input.registers document, shared by the questions of
// a chunk or batch whose snapshots are alike (built), with the forms the
// group key writes of its registers paths, each written once for all of
// them (keyer.keyPaths).
type builtRegs struct {
	doc map[string]any
	ok  bool // every value in doc is convertible
	// forms are the key's forms of the read set rs's registers paths,
	// by index: rs.paths, then rs.presence.
	rs    *readSet
	forms []regsForm
}

// regsForm is one path's form in a key: canonical's or shape's bytes,
// or missing, and whether they tell the value apart (canonical's ok).
type regsForm struct {
	b    []byte
	ok   bool
	done bool
}

// built is input.registers of a question whose registers are s, built
// by doc once for all snapshots of one key: what Doc reads of the
// snapshot (registers.Snapshot.AppendDocKey), then the canonical form of
// its screening, which the push sets for each record. Two snapshots of
// one key have one document, so a record whose screening or entries
// differ from an earlier one's gets its own (TestRegsDocSharedOnlyByEqual).
// A screening canonical cannot tell apart is not convertible either: its
// document is built for the question alone.
func (r *regsDoc) built(s *registers.Snapshot, scratch *[]member) *builtRegs {
	k := append(s.AppendDocKey(r.kbuf[:0], &r.keys), 0)
	if s.Screening == nil {
		k = append(k, missing...)
	} else {
		ok := true
		if k = canonical(k, s.Screening, scratch, &ok); !ok {
			r.kbuf = k
			doc, ok := r.doc(s)
			return &builtRegs{doc: doc, ok: ok}
		}
	}
	r.kbuf = k
	if br, ok := r.docs[string(k)]; ok {
		return br
	}
	doc, ok := r.doc(s)
	br := &builtRegs{doc: doc, ok: ok}
	if r.docs == nil {
		r.docs = map[string]*builtRegs{}
	}
	r.docs[string(k)] = br
	return br
}

// form is the key's form of the value at rs's i-th registers path (its
// paths, then its presence paths), written once per document.
func (br *builtRegs) form(rs *readSet, i int, scratch *[]member) regsForm {
	if br.rs != rs {
		br.rs, br.forms = rs, make([]regsForm, len(rs.paths)+len(rs.presence))
	}
	f := &br.forms[i]
	if f.done {
		return *f
	}
	presence := i >= len(rs.paths)
	var p []string
	if presence {
		p = rs.presence[i-len(rs.paths)]
	} else {
		p = rs.paths[i]
	}
	f.ok, f.done = true, true
	switch v, found := lookup(br.doc, p[1:]); {
	case !found:
		f.b = []byte(missing)
	case presence:
		f.b = shape(nil, v, scratch, &f.ok)
	default:
		f.b = canonical(nil, v, scratch, &f.ok)
	}
	return *f
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
