// Package systemd_test checks deploy/systemd: the unit passes
// `systemd-analyze verify` against a freshly built ura binary, keeps its
// sandbox, and rates as well as it does in `systemd-analyze security`; the
// sysusers.d file is accepted by systemd-sysusers.
package systemd_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ura-gateway/ura/gateway/testenv"
)

const installedBinary = "/usr/local/bin/ura"

// maxExposure is the highest `systemd-analyze security` exposure the unit
// may have (0 = fully confined, 10 = not at all); it is 1.2 now. A change
// that loosens the sandbox past it fails here.
const maxExposure = 1.5

// unitWithBinary writes the unit with ExecStart pointing at a ura binary
// built from this tree, as systemd-analyze verify checks that it exists.
func unitWithBinary(t *testing.T, edit func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	buildOnce.Do(func() {
		binDir, err := os.MkdirTemp("", "ura-systemd-test-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(binDir, "ura")
		build := exec.Command("go", "build", "-o", builtBin, "./cmd/ura")
		build.Dir = filepath.Join("..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	bin := builtBin
	raw, err := os.ReadFile("ura.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(raw), installedBinary, bin)
	if edit != nil {
		unit = edit(unit)
	}
	path := filepath.Join(dir, "ura.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		_ = os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// verify runs systemd-analyze verify; it exits 0 on unknown keys and bad
// values and only prints them, so any output is a failure too.
func verify(t *testing.T, unit string) (string, bool) {
	t.Helper()
	sa := testenv.Command(t, "systemd-analyze", "systemd")
	out, err := exec.Command(sa, "verify", "--man=no", unit).CombinedOutput()
	return string(out), err == nil && len(bytes.TrimSpace(out)) == 0
}

func TestUnitVerifies(t *testing.T) {
	if out, ok := verify(t, unitWithBinary(t, nil)); !ok {
		t.Fatalf("systemd-analyze verify:\n%s", out)
	}
}

// TestVerifyCatchesMistakes shows that the check above bites.
func TestVerifyCatchesMistakes(t *testing.T) {
	for name, edit := range map[string]func(string) string{
		"misspelt key": func(u string) string { return strings.Replace(u, "ProtectHome=yes", "ProtectHomes=yes", 1) },
		"bad value":    func(u string) string { return strings.Replace(u, "ProtectSystem=strict", "ProtectSystem=strickt", 1) },
		"no binary": func(u string) string {
			return regexp.MustCompile(`(?m)^ExecStart=\S+`).ReplaceAllString(u, "ExecStart=/nonexistent/ura")
		},
	} {
		t.Run(name, func(t *testing.T) {
			if out, ok := verify(t, unitWithBinary(t, edit)); ok {
				t.Fatalf("accepted:\n%s", out)
			}
		})
	}
}

// directives reads the [Service] section: key → every value given.
func directives(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("ura.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && section == "[Service]" {
			out[k] = append(out[k], v)
		}
	}
	return out
}

func TestUnitSandbox(t *testing.T) {
	d := directives(t)
	for key, want := range map[string]string{
		"User":                    "ura",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"ReadWritePaths":          "/var/lib/ura",
		"StateDirectory":          "ura",
		"MemoryDenyWriteExecute":  "yes",
		"RestrictNamespaces":      "yes",
		"EnvironmentFile":         "-/etc/ura/ura.env",
	} {
		if got := d[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want exactly %q", key, got, want)
		}
	}
	if !slices.Contains(d["SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter %q lacks @system-service", d["SystemCallFilter"])
	}
	if _, ok := d["DynamicUser"]; ok {
		t.Error("DynamicUser: the secrets in /etc/ura are readable by group ura, which must be a fixed user")
	}
}

// TestUnitSecurityExposure rates the unit offline; no running systemd is
// needed.
func TestUnitSecurityExposure(t *testing.T) {
	sa := testenv.Command(t, "systemd-analyze", "systemd")
	unit := unitWithBinary(t, nil)
	out, err := exec.Command(sa, "security", "--offline=yes", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for ura\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("systemd-analyze security exposure: %.1f (0 = confined, 10 = exposed)", score)
	if score > maxExposure {
		t.Errorf("exposure %.1f, want at most %.1f:\n%s", score, maxExposure, out)
	}
}

func TestSysusers(t *testing.T) {
	su := testenv.Command(t, "systemd-sysusers", "systemd")
	file, err := filepath.Abs("ura.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(su, "--dry-run", "--root", t.TempDir(), file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Creating user 'ura'") {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
}

// TestEnvExample: the example environment file names only variables ura
// reads, and holds no real secret.
func TestEnvExample(t *testing.T) {
	raw, err := os.ReadFile("ura.env.example")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join("..", "ura.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("not VAR=value: %q", line)
			continue
		}
		if !strings.Contains(string(example), "#   "+k+" ") {
			t.Errorf("%s is not one of the overrides deploy/ura.example.yaml lists", k)
		}
		if v != "" && !strings.Contains(v, "CHANGE-ME") {
			t.Errorf("%s has a value that is not a placeholder", k)
		}
	}
}
