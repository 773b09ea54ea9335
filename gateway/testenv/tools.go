package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
)

const toolsHint = "run `make tools` (deploy/dev/tools.sh)"

// Pin returns a version pinned in deploy/dev/lib.sh (NAME="${NAME:-value}"),
// so that tests and the scripts that install tools share one pin.
func Pin(t testing.TB, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "dev", "lib.sh"))
	if err != nil {
		t.Fatalf("testenv: reading the pins: %v", err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `="\$\{` + regexp.QuoteMeta(name) + `:-([^}]+)\}"`).FindSubmatch(raw)
	if m == nil {
		t.Fatalf("testenv: no pin %s in deploy/dev/lib.sh", name)
	}
	return string(m[1])
}

// Tool returns a tool that deploy/dev/tools.sh builds into the cache as
// bin/NAME-VERSION. Missing, the test is skipped on a workstation and fails
// in CI.
func Tool(t testing.TB, name, version string) string {
	t.Helper()
	bin := filepath.Join(cacheDir(), "bin", name+"-"+version)
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		missingTool(t, "%s %s is not at %s", name, version, bin)
	}
	return bin
}

// CacheDir is where deploy/dev/tools.sh keeps what it builds (URA_CACHE).
func CacheDir() string { return cacheDir() }

// Command returns a program from PATH that the test needs and that .ci/run
// installs from Debian; missing, the test is skipped on a workstation and
// fails in CI.
func Command(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if inCI() {
			t.Fatalf("%s not found; CI is set, so .ci/run must have installed Debian's %s", name, pkg)
		}
		t.Skipf("%s not found: apt-get install %s", name, pkg)
	}
	return p
}

func missingTool(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if inCI() {
		t.Fatalf("%s; CI is set, so the tools must be built: %s", msg, toolsHint)
	}
	t.Skipf("%s: %s", msg, toolsHint)
}

// repoRoot is the module root: this file is gateway/testenv/tools.go.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
