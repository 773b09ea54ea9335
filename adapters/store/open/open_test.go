package open

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/bolt"
	"github.com/ura-gateway/ura/adapters/store/postgres"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/testenv"
)

func TestEmbeddedResolvesPath(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Store{Driver: "embedded", Path: "data/ura.db", Timeout: time.Second}
	s, err := Open(context.Background(), cfg, func(p string) string { return filepath.Join(dir, p) })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*bolt.Store); !ok {
		t.Fatalf("got %T", s)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "ura.db")); err != nil {
		t.Errorf("store file not at the resolved path: %v", err)
	}
	if err := (store.Health{Store: s}).Check(context.Background()); err != nil {
		t.Error(err)
	}
	if (store.Health{}).Name() != "store" {
		t.Error("readiness name must be store")
	}
}

func TestPostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "ura_open_" + hex.EncodeToString(b)
	s, err := Open(context.Background(), config.Store{Driver: "postgres", DSN: dsn, Schema: schema, MaxConns: 3, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		conn, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			_, _ = conn.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
			_ = conn.Close(context.Background())
		}
	})
	if _, ok := s.(*postgres.Store); !ok {
		t.Fatalf("got %T", s)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownDriver(t *testing.T) {
	if _, err := Open(context.Background(), config.Store{Driver: "sqlite"}, nil); err == nil {
		t.Fatal("opened an unknown driver")
	}
}

func TestPostgresDown(t *testing.T) {
	_, err := Open(context.Background(), config.Store{Driver: "postgres", DSN: "postgres://ura:pw@127.0.0.1:1/ura?sslmode=disable", Timeout: time.Second}, nil)
	if err == nil {
		t.Fatal("opened a store with no server behind it")
	}
}
