package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestValidateGolden(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "invalid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.dir = "" // paths in the golden file stay relative
	err = cfg.Validate()
	if err == nil {
		t.Fatal("invalid config validated")
	}
	got := err.Error() + "\n"
	golden := filepath.Join("testdata", "invalid.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("validation errors differ from %s (run with -update to accept):\n got:\n%s\nwant:\n%s", golden, got, want)
	}
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if !strings.Contains(line, ": ") {
			t.Errorf("error without a field path: %q", line)
		}
	}
}

func TestUnknownKeysAndTypes(t *testing.T) {
	_, err := Parse([]byte("listen: x\nbogus: 1\ntls:\n  min_version: [1]\n"), "")
	if err == nil {
		t.Fatal("unknown key accepted")
	}
	for _, want := range []string{`line 2: unknown key "bogus"`, "line 4: cannot unmarshal"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestEmptyFileGivesDefaults(t *testing.T) {
	cfg, err := Parse(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8443" || cfg.TLS.MinVersion != "1.3" {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

func TestEnvOverridesOnlySecretsAndAddresses(t *testing.T) {
	env := map[string]string{
		"URA_LISTEN":          "127.0.0.1:9000",
		"URA_REDIS_ADDR":      "10.0.0.1:6379,10.0.0.2:6379",
		"URA_REDIS_PASSWORD":  "s3cret",
		"URA_VAULT_TOKEN":     "hvs.token",
		"URA_POSTGRES_DSN":    "postgres://x",
		"URA_TLS_MIN_VERSION": "1.0", // not an override: must be ignored
	}
	cfg := Default()
	cfg.Redis.PasswordFile = "file"
	cfg.applyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if cfg.Listen != "127.0.0.1:9000" || len(cfg.Redis.Addrs) != 2 || cfg.Redis.Password != "s3cret" ||
		cfg.Redis.PasswordFile != "" || cfg.Vault.Token != "hvs.token" || cfg.Store.DSN != "postgres://x" {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	if cfg.TLS.MinVersion != "1.3" {
		t.Error("a non-secret setting was overridden from the environment")
	}
}

func TestDevConfigValidates(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "dev", "ura.yaml")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// The dev PKI may not exist in a fresh clone: check only structure here.
	err = cfg.Validate()
	for _, e := range splitErrors(err) {
		if !strings.Contains(e, "cannot read") {
			t.Errorf("dev config: %s", e)
		}
	}
}

func splitErrors(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// TestExampleConfigParses keeps the documented example in step with the code:
// a key documented there but unknown to the code fails here.
func TestExampleConfigParses(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "ura.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(raw, ""); err != nil {
		t.Fatalf("deploy/ura.example.yaml: %v", err)
	}
}

// TestMain clears URA_* overrides: `make test` runs with the development
// stack's environment, which must not leak into the golden files.
func TestMain(m *testing.M) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "URA_") {
			_ = os.Unsetenv(name)
		}
	}
	os.Exit(m.Run())
}

// TestDataDirMovesOnlyPerReplicaFiles: URA_DATA_DIR gives a replica its own
// outbox file and CRL state, keeping their names, and nothing else.
func TestDataDirMovesOnlyPerReplicaFiles(t *testing.T) {
	cfg := Default()
	cfg.Upstream.Outbox.Path = "../../var/data/outbox.db"
	cfg.Store.Path = "../../var/data/ura.db"
	cfg.applyEnv(func(k string) (string, bool) {
		if k == "URA_DATA_DIR" {
			return "/srv/ura/replica-2", true
		}
		return "", false
	})
	if cfg.Upstream.Outbox.Path != "/srv/ura/replica-2/outbox.db" || cfg.TLS.CRLStateFile != "/srv/ura/replica-2/crl-numbers.json" {
		t.Errorf("outbox %q, crl state %q", cfg.Upstream.Outbox.Path, cfg.TLS.CRLStateFile)
	}
	if cfg.Store.Path != "../../var/data/ura.db" {
		t.Errorf("the store moved to %q", cfg.Store.Path)
	}
}

func TestShutdownDrainDelay(t *testing.T) {
	for _, tc := range []struct {
		drain, timeout time.Duration
		want           string
	}{
		{0, 15 * time.Second, ""},
		{5 * time.Second, 15 * time.Second, ""},
		{15 * time.Second, 15 * time.Second, "shutdown.drain_delay: must be shorter than shutdown.timeout"},
		{-time.Second, 15 * time.Second, "shutdown.drain_delay: must not be negative"},
	} {
		cfg := Default()
		cfg.Shutdown.DrainDelay, cfg.Shutdown.Timeout = tc.drain, tc.timeout
		var got string
		for _, e := range splitErrors(cfg.Validate()) {
			if strings.HasPrefix(e, "shutdown.") {
				got = e
			}
		}
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("drain %s, timeout %s: %q, want %q", tc.drain, tc.timeout, got, tc.want)
		}
	}
}
