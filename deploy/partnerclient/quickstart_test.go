package partnerclient

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// README's partner quick-start, run: every command line of its shell
// blocks is in quickstart.sh in the same order, and the script, run
// against a real gateway holding the demo's records, exits 0 (it checks
// what each command answered, and that a cut pull is refused).
func TestQuickstart(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("quickstart.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmds := quickstartCommands(t, readme)
	if len(cmds) < 10 {
		t.Fatalf("README's partner quick-start has %d command lines", len(cmds))
	}
	lines := strings.Split(string(script), "\n")
	at := 0
	for _, c := range cmds {
		for at < len(lines) && strings.TrimSpace(lines[at]) != c {
			at++
		}
		if at == len(lines) {
			t.Fatalf("README's quick-start line\n\t%s\nis not in quickstart.sh after the lines before it", c)
		}
		at++
	}

	if testing.Short() {
		t.Skip("starts a gateway")
	}
	for _, tool := range []string{"bash", "curl", "jq", "node", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			need(t, tool+" is not installed")
		}
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "deploy", "jose-verify", "node_modules", "jose")); err != nil {
		need(t, "deploy/jose-verify/node_modules missing: run npm ci --prefix deploy/jose-verify")
	}
	g := startGateway(t)
	jw, err := g.api(t, aimFile).JwksWithResponse(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v, err := newVerifier(jw.Body)
	if err != nil {
		t.Fatal(err)
	}
	pushSeeds(t, g, v)

	cmd := exec.Command("bash", "quickstart.sh")
	cmd.Env = append(slices.Clone(g.Env),
		"URA_URL="+g.URL, "PKI="+g.PKI, "OUT="+t.TempDir(),
		"PATH="+filepath.Dir(g.Bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("quickstart.sh: %v\n%s", err, out)
	}
	for _, want := range []string{`"member":"IT/GOV/MOD"`, "trailer: valid", `"typ":"ura-trailer+jws"`,
		"403 application/problem+json"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("quickstart.sh printed no %q:\n%s", want, out)
		}
	}
}

// quickstartCommands are the command lines of the shell blocks in
// README's "Partner quick-start" section, comments and blank lines left
// out.
func quickstartCommands(t *testing.T, readme []byte) []string {
	t.Helper()
	var cmds []string
	in, block := false, false
	sc := bufio.NewScanner(bytes.NewReader(readme))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## Partner quick-start"
		case in && strings.HasPrefix(line, "```"):
			block = !block && line == "```sh"
		case in && block:
			if c := strings.TrimSpace(line); c != "" && !strings.HasPrefix(c, "#") {
				cmds = append(cmds, c)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cmds
}

// need skips a test whose tool is missing on a workstation and fails it
// in CI, as the repository's other stack tests.
func need(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
