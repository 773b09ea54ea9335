package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/internal/recdoc"
	"github.com/ura-gateway/ura/adapters/store/internal/regindex"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
)

// regState is what a write transaction knows of the register indexes its
// batch touches: the licences it locked, their exported sums, and what the
// batch's declarations counted. Earlier items of the batch update it, so a
// later item is checked as if they were stored.
type regState struct {
	licences map[string]*registers.Licence
	exported map[string]map[string]int64
	decls    map[string]*registers.Export
}

// lockRegisters locks the index rows of every licence the batch declares
// exports against or stores (FOR UPDATE, in id order), then reads their
// sums and the batch's declarations. Locking a stored licence's row too
// keeps the order every writer takes: licence rows first, then the sequence
// lock (putTx) before any index write, so no two writers wait on each other
// in a cycle.
func lockRegisters(ctx context.Context, tx pgx.Tx, items []store.Item, valid []bool, entries []registers.Entries) (*regState, error) {
	st := &regState{licences: map[string]*registers.Licence{}, exported: map[string]map[string]int64{}, decls: map[string]*registers.Export{}}
	var lics, decls []string
	for i, e := range entries {
		if !valid[i] {
			continue
		}
		switch {
		case e.Licence != nil:
			lics = append(lics, items[i].Record.ID)
		case e.Event:
			decls = append(decls, items[i].Record.ID)
			if e.Export != nil {
				lics = append(lics, e.Export.Licence)
			}
		}
	}
	if len(lics) == 0 && len(decls) == 0 {
		return st, nil
	}
	slices.Sort(lics)
	lics = slices.Compact(lics)
	if len(lics) > 0 {
		rows, err := tx.Query(ctx, `SELECT to_jsonb(l) FROM ura_reg_licences l WHERE id = ANY($1) ORDER BY id FOR UPDATE`, lics)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var raw []byte
			if err := rows.Scan(&raw); err != nil {
				rows.Close()
				return nil, err
			}
			l, err := decodeLicence(raw)
			if err != nil {
				rows.Close()
				return nil, err
			}
			st.licences[l.ID] = l
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		// Read after the lock: a declaration committed by the writer that
		// held it is counted.
		rows, err = tx.Query(ctx, `SELECT licence_id, category, quantity FROM ura_reg_exported WHERE licence_id = ANY($1)`, lics)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var lic, cat string
			var q int64
			if err := rows.Scan(&lic, &cat, &q); err != nil {
				rows.Close()
				return nil, err
			}
			st.add(lic, cat, q)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if len(decls) > 0 {
		rows, err := tx.Query(ctx, `SELECT record_id, version, licence_id, category, quantity FROM ura_reg_declarations WHERE record_id = ANY($1)`, decls)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			x := &registers.Export{}
			if err := rows.Scan(&x.RecordID, &x.Version, &x.Licence, &x.Category, &x.Quantity); err != nil {
				rows.Close()
				return nil, err
			}
			st.decls[x.RecordID] = x
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func (st *regState) add(lic, cat string, q int64) {
	if st.exported[lic] == nil {
		st.exported[lic] = map[string]int64{}
	}
	st.exported[lic][cat] += q
}

// check refuses an export declaration its licence does not allow (a
// *store.LicenceError), as the batch stands before it.
func (st *regState) check(e registers.Entries) error {
	if e.Export == nil {
		return nil
	}
	x := *e.Export
	return regindex.CheckExport(x, st.licences[x.Licence], st.exported[x.Licence][x.Category], st.decls[x.RecordID])
}

// apply counts an accepted record in the batch's state and returns what its
// declaration counted before (nil if nothing).
func (st *regState) apply(rec *records.Record, e registers.Entries) *registers.Export {
	switch {
	case e.Licence != nil:
		st.licences[rec.ID] = e.Licence
	case e.Event:
		prev := st.decls[rec.ID]
		delete(st.decls, rec.ID)
		if prev != nil {
			st.add(prev.Licence, prev.Category, -prev.Quantity)
		}
		if x := e.Export; x != nil {
			st.add(x.Licence, x.Category, x.Quantity)
			st.decls[rec.ID] = x
		}
		return prev
	}
	return nil
}

// queueIndex queues the index writes of one stored record; prev is what its
// declaration counted before.
func queueIndex(b *pgx.Batch, rec *records.Record, e registers.Entries, prev *registers.Export) error {
	switch {
	case e.Licence != nil:
		l := e.Licence
		items, err := json.Marshal(l.Items)
		if err != nil {
			return err
		}
		var hid, hname, hnorm *string
		if l.Holder != nil {
			n := registers.NormaliseName(l.Holder.Name)
			hid, hname, hnorm = &l.Holder.EntityID, &l.Holder.Name, &n
		}
		b.Queue(`INSERT INTO ura_reg_licences (id, version, originator, type, status, valid_from, valid_until, destination,
			holder_entity_id, holder_name, holder_name_norm, items) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, originator = EXCLUDED.originator, type = EXCLUDED.type,
			status = EXCLUDED.status, valid_from = EXCLUDED.valid_from, valid_until = EXCLUDED.valid_until,
			destination = EXCLUDED.destination, holder_entity_id = EXCLUDED.holder_entity_id, holder_name = EXCLUDED.holder_name,
			holder_name_norm = EXCLUDED.holder_name_norm, items = EXCLUDED.items`,
			rec.ID, rec.Version, l.Originator, l.Type, l.Status, l.ValidFrom, l.ValidUntil, l.Destination, hid, hname, hnorm, string(items))
	case e.Entity != nil:
		x := e.Entity
		b.Queue(`INSERT INTO ura_reg_entities (record_id, version, entity_id, name, name_norm, status, ord)
			VALUES ($1, $2, $3, $4, $5, $6, nextval('ura_reg_entity_ord'))
			ON CONFLICT (record_id) DO UPDATE SET version = EXCLUDED.version, entity_id = EXCLUDED.entity_id,
			name = EXCLUDED.name, name_norm = EXCLUDED.name_norm, status = EXCLUDED.status, ord = EXCLUDED.ord`,
			rec.ID, rec.Version, x.EntityID, x.Name, registers.NormaliseName(x.Name), x.Status)
	case e.Exclusion != nil:
		x := e.Exclusion
		b.Queue(`INSERT INTO ura_reg_exclusions (record_id, version, entity_id, name_norm, excluded_from, excluded_until)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (record_id) DO UPDATE SET version = EXCLUDED.version, entity_id = EXCLUDED.entity_id,
			name_norm = EXCLUDED.name_norm, excluded_from = EXCLUDED.excluded_from, excluded_until = EXCLUDED.excluded_until`,
			rec.ID, rec.Version, x.EntityID, x.Name, x.From, x.Until)
	case e.Event:
		if prev != nil {
			b.Queue(`DELETE FROM ura_reg_declarations WHERE record_id = $1`, rec.ID)
			queueExported(b, prev.Licence, prev.Category, -prev.Quantity)
		}
		if x := e.Export; x != nil {
			b.Queue(`INSERT INTO ura_reg_declarations (record_id, version, licence_id, category, quantity) VALUES ($1, $2, $3, $4, $5)`,
				rec.ID, rec.Version, x.Licence, x.Category, x.Quantity)
			queueExported(b, x.Licence, x.Category, x.Quantity)
		}
	}
	return nil
}

func queueExported(b *pgx.Batch, lic, cat string, q int64) {
	b.Queue(`INSERT INTO ura_reg_exported (licence_id, category, quantity) VALUES ($1, $2, $3)
		ON CONFLICT (licence_id, category) DO UPDATE SET quantity = ura_reg_exported.quantity + EXCLUDED.quantity`, lic, cat, q)
}

// licenceRow is a ura_reg_licences row as to_jsonb writes it.
type licenceRow struct {
	ID             string           `json:"id"`
	Version        int              `json:"version"`
	Originator     string           `json:"originator"`
	Type           string           `json:"type"`
	Status         string           `json:"status"`
	ValidFrom      string           `json:"valid_from"`
	ValidUntil     string           `json:"valid_until"`
	Destination    string           `json:"destination"`
	HolderEntityID *string          `json:"holder_entity_id"`
	HolderName     *string          `json:"holder_name"`
	Items          map[string]int64 `json:"items"`
}

func decodeLicence(raw []byte) (*registers.Licence, error) {
	var r licenceRow
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("register licence row: %w", err)
	}
	l := &registers.Licence{ID: r.ID, Version: r.Version, Originator: r.Originator, Type: r.Type, Status: r.Status,
		ValidFrom: r.ValidFrom, ValidUntil: r.ValidUntil, Destination: r.Destination, Items: r.Items}
	if r.HolderEntityID != nil {
		l.Holder = &registers.Holder{EntityID: *r.HolderEntityID}
		if r.HolderName != nil {
			l.Holder.Name = *r.HolderName
		}
	}
	if l.Items == nil {
		l.Items = map[string]int64{}
	}
	return l, nil
}

// registersQuery reads everything a batch's Refs name in one statement
// (see registers.Refs): $1 licence ids, $2 entity ids, $3 normalised names,
// $4 declaration ids. Each row is a tag and the entry as JSON.
const registersQuery = `
WITH lic AS (
	SELECT * FROM ura_reg_licences WHERE id = ANY($1)
), ids AS (
	SELECT unnest($2::text[]) AS entity_id
	UNION SELECT holder_entity_id FROM lic WHERE holder_entity_id <> ''
), ent AS (
	SELECT DISTINCT ON (e.entity_id) e.* FROM ura_reg_entities e
	WHERE e.entity_id IN (SELECT entity_id FROM ids) ORDER BY e.entity_id, e.ord DESC
), names AS (
	SELECT unnest($3::text[]) AS name_norm
	UNION SELECT holder_name_norm FROM lic WHERE holder_name_norm <> ''
	UNION SELECT name_norm FROM ent WHERE name_norm <> ''
)
SELECT 'l', to_jsonb(lic) FROM lic
UNION ALL SELECT 'e', to_jsonb(ent) FROM ent
UNION ALL SELECT 'x', to_jsonb(x) FROM ura_reg_exclusions x
	WHERE (x.entity_id <> '' AND x.entity_id IN (SELECT entity_id FROM ids))
	   OR (x.name_norm <> '' AND x.name_norm IN (SELECT name_norm FROM names))
UNION ALL SELECT 'q', to_jsonb(q) FROM ura_reg_exported q WHERE q.licence_id = ANY($1) AND q.quantity > 0
UNION ALL SELECT 'd', to_jsonb(d) FROM ura_reg_declarations d WHERE d.record_id = ANY($4)`

// Registers reads what refs name in one query (see registers.Refs).
func (s *Store) Registers(ctx context.Context, refs registers.Refs) (*registers.Snapshot, error) {
	out := registers.NewSnapshot()
	if err := readKeyed(ctx, s.pool, refs.Keyed, out); err != nil {
		return nil, fmt.Errorf("postgres store: registers: %w", err)
	}
	if len(refs.Licences)+len(refs.EntityIDs)+len(refs.Names)+len(refs.Declarations) == 0 {
		return out, nil
	}
	arr := func(v []string) []string {
		if v == nil {
			return []string{}
		}
		return v
	}
	rows, err := s.pool.Query(ctx, registersQuery, arr(refs.Licences), arr(refs.EntityIDs), arr(refs.Names), arr(refs.Declarations))
	if err != nil {
		return nil, fmt.Errorf("postgres store: registers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tag string
		var raw []byte
		if err := rows.Scan(&tag, &raw); err != nil {
			return nil, fmt.Errorf("postgres store: registers: %w", err)
		}
		if err := addRow(out, tag, raw); err != nil {
			return nil, fmt.Errorf("postgres store: registers: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: registers: %w", err)
	}
	return out, nil
}

func addRow(out *registers.Snapshot, tag string, raw []byte) error {
	switch tag {
	case "l":
		l, err := decodeLicence(raw)
		if err != nil {
			return err
		}
		out.Licences[l.ID] = l
	case "e":
		var r struct {
			RecordID string `json:"record_id"`
			Version  int    `json:"version"`
			EntityID string `json:"entity_id"`
			Name     string `json:"name"`
			Status   string `json:"status"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		out.Entities[r.EntityID] = &registers.Entity{RecordID: r.RecordID, Version: r.Version, EntityID: r.EntityID, Name: r.Name, Status: r.Status}
	case "x":
		var r struct {
			RecordID string `json:"record_id"`
			Version  int    `json:"version"`
			EntityID string `json:"entity_id"`
			Name     string `json:"name_norm"`
			From     string `json:"excluded_from"`
			Until    string `json:"excluded_until"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		out.AddExclusion(&registers.Exclusion{RecordID: r.RecordID, Version: r.Version, EntityID: r.EntityID, Name: r.Name, From: r.From, Until: r.Until})
	case "q":
		var r struct {
			Licence  string `json:"licence_id"`
			Category string `json:"category"`
			Quantity int64  `json:"quantity"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		out.AddExported(r.Licence, r.Category, r.Quantity)
	case "d":
		var r struct {
			RecordID string `json:"record_id"`
			Version  int    `json:"version"`
			Licence  string `json:"licence_id"`
			Category string `json:"category"`
			Quantity int64  `json:"quantity"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		out.Declarations[r.RecordID] = &registers.Export{RecordID: r.RecordID, Version: r.Version, Licence: r.Licence, Category: r.Category, Quantity: r.Quantity}
	default:
		return errors.New("unknown row " + tag)
	}
	return nil
}

// backfillChunk is how many records one back-fill query reads: the records
// are streamed by id, never held all at once.
const backfillChunk = 1000

// backfillRegisters fills the register indexes from every stored record, in
// the transaction that created them (migration 0002), so that a database
// written before they existed has them before any gateway decides on it.
func backfillRegisters(ctx context.Context, tx pgx.Tx) (int, error) {
	n := 0
	err := eachRecordChunk(ctx, tx, []string{"licence", "entity", "excluded_entity", "tracking_event"}, func(recs []*records.Record) error {
		b := &pgx.Batch{}
		for _, rec := range recs {
			// Each id is its latest version, indexed once: nothing was
			// counted before it.
			if err := queueIndex(b, rec, registers.Of(rec), nil); err != nil {
				return err
			}
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		n += len(recs)
		return nil
	})
	return n, err
}

// eachRecordChunk calls fn with every stored record (the latest version of
// each id) of the given kinds (nil: all), by id, backfillChunk at a time:
// the records are streamed, never held all at once.
func eachRecordChunk(ctx context.Context, tx pgx.Tx, kinds []string, fn func([]*records.Record) error) error {
	after := ""
	for {
		rows, err := tx.Query(ctx, `SELECT id, raw FROM ura_records WHERE id > $1
			AND ($3::text[] IS NULL OR kind = ANY($3)) ORDER BY id LIMIT $2`, after, backfillChunk, kinds)
		if err != nil {
			return err
		}
		var recs []*records.Record
		for rows.Next() {
			var id string
			var raw []byte
			if err := rows.Scan(&id, &raw); err != nil {
				rows.Close()
				return err
			}
			rec, err := recdoc.Decode(raw)
			if err != nil {
				rows.Close()
				return fmt.Errorf("record %s: %w", id, err)
			}
			recs = append(recs, rec)
			after = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		if err := fn(recs); err != nil {
			return err
		}
	}
}
