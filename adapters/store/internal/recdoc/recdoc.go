// Package recdoc turns the bytes a store keeps back into records and pulls
// out the fields the stores index. Both stores use it so that a record reads
// back, and matches a query, the same way whichever driver is configured.
package recdoc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/records"
)

// Decode rebuilds a record from its stored JSON. The bytes were validated on
// the way in, so this only re-reads them; it does not validate again.
func Decode(raw []byte) (*records.Record, error) {
	rec, err := records.DecodeStoredRecord(raw)
	if err != nil {
		return nil, err
	}
	doc := rec.Doc
	rec.Kind, _ = doc["kind"].(string)
	rec.ID, _ = doc["id"].(string)
	if n, ok := doc["version"].(json.Number); ok {
		v, ok := records.Int(n)
		if !ok {
			return nil, fmt.Errorf("stored record %q: version %q is not an integer", rec.ID, n)
		}
		rec.Version = int(v)
	}
	if lbl, ok := doc["label"].(map[string]any); ok {
		rec.Label, err = label(lbl)
		if err != nil {
			return nil, fmt.Errorf("stored record %q: %w", rec.ID, err)
		}
	}
	if rec.Kind == "" || rec.ID == "" {
		return nil, errors.New("stored record has no kind or id")
	}
	return rec, nil
}

func label(m map[string]any) (records.Label, error) {
	l, err := records.ReadLabel(m)
	if err != nil {
		return l, fmt.Errorf("label.created: %w", err)
	}
	return l, nil
}

// Index is what a store keeps beside a record to answer queries without
// decoding it.
type Index struct {
	Kind       string
	Originator string
	Created    time.Time
	// LicenceID is the licence a record refers to (a tracking event's
	// event.licence_id); empty if none.
	LicenceID string
	// Marking is the item a record is about (a tracking event's
	// event.item.marking); nil if none.
	Marking *store.Marking
}

// IndexOf extracts the indexed fields of a record.
func IndexOf(rec *records.Record) (Index, error) {
	ix := Index{Kind: rec.Kind, Originator: rec.Label.Originator, Created: rec.Label.Created}
	doc := rec.Doc
	if doc == nil {
		var err error
		if doc, err = records.DecodeStored(rec.Raw); err != nil {
			return ix, err
		}
	}
	for k, v := range doc {
		switch k {
		case "kind", "id", "version", "label":
			continue
		}
		body, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if id, ok := body["licence_id"].(string); ok && id != "" {
			ix.LicenceID = id
		}
		if item, ok := body["item"].(map[string]any); ok {
			if mk, ok := item["marking"].(map[string]any); ok {
				m := store.Marking{}
				m.Country, _ = mk["country"].(string)
				m.Manufacturer, _ = mk["manufacturer"].(string)
				m.Serial, _ = mk["serial"].(string)
				if m.Country != "" && m.Manufacturer != "" && m.Serial != "" {
					ix.Marking = &m
				}
			}
		}
	}
	return ix, nil
}

// Matches reports whether a record with these fields answers q.
func (ix *Index) Matches(q *store.Query) bool {
	switch {
	case q.Kind != "" && ix.Kind != q.Kind,
		q.Originator != "" && ix.Originator != q.Originator,
		q.LicenceID != "" && ix.LicenceID != q.LicenceID,
		!q.Since.IsZero() && ix.Created.Before(q.Since):
		return false
	case q.Marking != nil:
		return ix.Marking != nil && *ix.Marking == *q.Marking
	}
	return true
}

// SameContent reports whether two stored forms of a record say the same
// thing: identical bytes, or the same JSON value written differently (key
// order, whitespace), so that a re-push of the same record is "unchanged"
// rather than a conflict.
func SameContent(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	da, err := records.DecodeStored(a)
	if err != nil {
		return false
	}
	db, err := records.DecodeStored(b)
	if err != nil {
		return false
	}
	return reflect.DeepEqual(da, db)
}

// CheckInput rejects what no store can keep; the record decoder already
// refuses all of it, so this only guards against a caller that skipped it.
func CheckInput(rec *records.Record) error {
	switch {
	case rec == nil:
		return errors.New("store: nil record")
	case rec.ID == "" || rec.Kind == "":
		return errors.New("store: record without id or kind")
	case rec.Version < 1 || rec.Version > math.MaxInt32:
		return fmt.Errorf("store: record %q: version %d is out of range", rec.ID, rec.Version)
	case len(rec.Raw) == 0:
		return fmt.Errorf("store: record %q has no raw JSON", rec.ID)
	}
	return nil
}

// Hit is one stored record a scan found: its stored bytes and its position.
type Hit struct {
	Seq uint64
	Raw []byte
}

// Emit hands each hit of one batch to fn in order, decoded and with its
// cursor, and reports how many it handed over. Both stores page through
// their scans this way, so a query reads back the same whichever driver is
// configured.
func Emit(ctx context.Context, hits []Hit, fn func(*records.Record, string) error) (int, error) {
	for i, h := range hits {
		if err := ctx.Err(); err != nil {
			return i, err
		}
		rec, err := Decode(h.Raw)
		if err != nil {
			return i, err
		}
		if err := fn(rec, store.EncodeCursor(h.Seq)); err != nil {
			return i, err
		}
	}
	return len(hits), nil
}
