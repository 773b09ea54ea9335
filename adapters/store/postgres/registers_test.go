package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/storetest"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// openReplicas opens n stores on one schema, each with its own pool: n
// gateway replicas sharing one database.
func openReplicas(t *testing.T, n int) []store.Store {
	t.Helper()
	dsn := testenv.Postgres(t)
	schema := schemaName(t)
	t.Cleanup(func() { dropSchema(t, dsn, schema) })
	var out []store.Store
	for range n {
		s, err := Open(context.Background(), Options{DSN: dsn, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		out = append(out, s)
	}
	return out
}

// TestReplicasNeverExceedALicence: declarations against one licence through
// four replicas at once, round after round, never take more than it allows.
func TestReplicasNeverExceedALicence(t *testing.T) {
	storetest.ConcurrentExports(t, openReplicas(t, 4), 20)
}

// TestReplicasUsage: usage batches through four pools on one database, as
// replicas would send them, never use more than a licence allows.
func TestReplicasUsage(t *testing.T) {
	storetest.ConcurrentUsage(t, openReplicas(t, 4), 10)
}

// TestReplicasSeeASuspension: a licence suspended through one replica is
// read suspended, and refused, through another at once.
func TestReplicasSeeASuspension(t *testing.T) {
	rs := openReplicas(t, 2)
	a, b := rs[0], rs[1]
	ctx := context.Background()
	if _, err := a.Put(ctx, storetest.ExportLicence(t, "LIC-1", 1, "issued", 10, "L1", "KAYO"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, storetest.Declaration(t, "DEC-1", 1, "LIC-1", "ML1", 1), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Put(ctx, storetest.ExportLicence(t, "LIC-1", 2, "suspended", 10, "L1", "KAYO"), nil); err != nil {
		t.Fatal(err)
	}
	snap, err := b.Registers(ctx, registers.Refs{Licences: []string{"LIC-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if l := snap.Licences["LIC-1"]; l == nil || l.Status != "suspended" {
		t.Fatalf("replica B reads %+v", l)
	}
	_, err = b.Put(ctx, storetest.Declaration(t, "DEC-2", 1, "LIC-1", "ML1", 1), nil)
	if storetest.LicenceCode(err) != "licence_suspended" {
		t.Fatalf("replica B stored a declaration against a suspended licence: %v", err)
	}
}

// TestBackfillRegisters: a database written before the register indexes
// existed gets them when a gateway that knows them opens it.
func TestBackfillRegisters(t *testing.T) {
	dsn := testenv.Postgres(t)
	schema := schemaName(t)
	t.Cleanup(func() { dropSchema(t, dsn, schema) })
	ctx := context.Background()
	s, err := Open(ctx, Options{DSN: dsn, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*records.Record{
		storetest.ExportLicence(t, "LIC-1", 1, "issued", 10, "L1", "KAYO"),
		storetest.Declaration(t, "DEC-1", 1, "LIC-1", "ML1", 4),
		storetest.Declaration(t, "DEC-1", 2, "LIC-1", "ML1", 6),
		storetest.Exclusion(t, "EXC-1", 1, "L1", "Kayo", "2025-01-01", ""),
	} {
		if _, err := s.Put(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	// Back to the schema of a gateway before the indexes: migration 1 only.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	q := pgx.Identifier{schema}.Sanitize()
	for _, stmt := range []string{
		`DROP TABLE ` + q + `.ura_reg_licences, ` + q + `.ura_reg_entities, ` + q + `.ura_reg_exclusions, ` + q + `.ura_reg_declarations, ` + q + `.ura_reg_exported`,
		`DROP SEQUENCE ` + q + `.ura_reg_entity_ord`,
		`DROP TABLE ` + q + `.ura_reg_keyed, ` + q + `.ura_reg_keyed_versions`,
		`DROP TABLE ` + q + `.ura_releases`,
		`DROP TABLE ` + q + `.ura_usage_lines, ` + q + `.ura_usage_batches, ` + q + `.ura_usage_used`,
		`DELETE FROM ` + q + `.ura_schema_migrations WHERE version >= 2`,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	s, err = Open(ctx, Options{DSN: dsn, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap, err := s.Registers(ctx, registers.Refs{Licences: []string{"LIC-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Licences["LIC-1"] == nil || snap.Exported["LIC-1"]["ML1"] != 6 || snap.ByID["L1"]["EXC-1"] == nil {
		t.Fatalf("after back-fill: licences %v exported %v exclusions %v", snap.Licences, snap.Exported, snap.ByID)
	}
	if _, err := s.Put(ctx, storetest.Declaration(t, "DEC-2", 1, "LIC-1", "ML1", 5), nil); storetest.LicenceCode(err) != "licence_quantity_exceeded" {
		t.Fatalf("the back-filled balance is not enforced: %v", err)
	}
}
