// Package helm_test checks the Helm chart in deploy/helm/ura: helm lint, the
// rendered objects against Kubernetes' own schemas (kubeconform -strict), and
// what the objects must say — replicas, probes, the pod's confinement, the
// network policy, secrets only by reference, and a ura.yaml that ura itself
// accepts.
package helm_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/testenv"
)

const (
	chartDir = "ura"
	// The schemas come from this Kubernetes release (K8S_SCHEMA_VERSION).
	kubeVersion = "1.27.0"
)

func helm(t *testing.T) string {
	t.Helper()
	return testenv.Tool(t, "helm", testenv.Pin(t, "HELM_VERSION"))
}

// render runs helm template with extra arguments (--set, -f) and returns
// its output; failing rendering is returned as an error with helm's words.
func render(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helm(t), append([]string{"template", "ura", chartDir, "--namespace", "ura", "--kube-version", kubeVersion}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, errors.New(strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func mustRender(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := render(t, args...)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	return out
}

// variants are the value sets every check runs on: the defaults, and a
// Redis Sentinel deployment with TLS to Redis, a peer and upstream.
var variants = map[string][]string{
	"defaults": nil,
	"sentinel": {"-f", filepath.Join("testdata", "sentinel-values.yaml")},
}

type object = map[string]any

func objects(t *testing.T, manifest []byte) map[string]object {
	t.Helper()
	out := map[string]object{}
	dec := yaml.NewDecoder(bytes.NewReader(manifest))
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("rendered YAML: %v", err)
		}
		if o == nil {
			continue
		}
		kind, _ := o["kind"].(string)
		if _, dup := out[kind]; dup {
			t.Fatalf("two objects of kind %s", kind)
		}
		out[kind] = o
	}
	return out
}

// at walks a path of map keys and list indexes.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a map at %q", path, k)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no element %d", path, k)
			}
			v = l[k]
		}
	}
	return v
}

func TestChartLint(t *testing.T) {
	for name, args := range variants {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(helm(t), append([]string{"lint", "--strict", chartDir, "--kube-version", kubeVersion}, args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

// TestChartKubeconform validates every rendered object against Kubernetes'
// schemas with unknown fields refused, and shows that the check bites: a
// misspelt field and a wrong type are caught.
func TestChartKubeconform(t *testing.T) {
	kc := testenv.Tool(t, "kubeconform", testenv.Pin(t, "KUBECONFORM_VERSION"))
	schemas := filepath.Join(testenv.CacheDir(), "k8s-schemas", testenv.Pin(t, "K8S_SCHEMA_VERSION")+"-standalone-strict")
	if _, err := os.Stat(filepath.Join(schemas, "deployment-apps-v1.json")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no Kubernetes schemas in %s: make tools writes them", schemas)
		}
		t.Skipf("no Kubernetes schemas in %s: make tools writes them", schemas)
	}
	validate := func(t *testing.T, manifest []byte) (string, error) {
		cmd := exec.Command(kc, "-strict", "-summary", "-kubernetes-version", kubeVersion,
			"-schema-location", filepath.Join(schemas, "{{ .ResourceKind }}{{ .KindSuffix }}.json"), "-")
		cmd.Stdin = bytes.NewReader(manifest)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for name, args := range variants {
		t.Run(name, func(t *testing.T) {
			manifest := mustRender(t, args...)
			out, err := validate(t, manifest)
			if err != nil {
				t.Fatalf("kubeconform: %v\n%s", err, out)
			}
			// Every object was checked against a schema: none skipped for
			// want of one.
			if !strings.Contains(out, "Invalid: 0, Errors: 0, Skipped: 0") || strings.Contains(out, "Valid: 0,") {
				t.Fatalf("kubeconform did not validate every object:\n%s", out)
			}
		})
	}
	manifest := mustRender(t)
	for _, c := range []struct{ name, from, to, want string }{
		{"misspelt field", "readOnlyRootFilesystem:", "readOnlyRootFileSystem:", "additional properties 'readOnlyRootFileSystem' not allowed"},
		{"wrong type", "replicas: 3\n  revisionHistoryLimit", "replicas: \"3\"\n  revisionHistoryLimit", "/spec/replicas"},
		{"unknown kind", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgets", "could not find schema"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := bytes.Replace(manifest, []byte(c.from), []byte(c.to), 1)
			if bytes.Equal(bad, manifest) {
				t.Fatalf("%q is not in the rendered chart", c.from)
			}
			out, err := validate(t, bad)
			if err == nil || !strings.Contains(out, c.want) {
				t.Fatalf("kubeconform accepted %s (err %v):\n%s", c.name, err, out)
			}
		})
	}
}

func TestChartDeployment(t *testing.T) {
	objs := objects(t, mustRender(t))
	for _, kind := range []string{"Deployment", "PodDisruptionBudget", "NetworkPolicy", "ConfigMap", "ServiceAccount", "Service"} {
		if objs[kind] == nil {
			t.Fatalf("no %s rendered", kind)
		}
	}
	d := objs["Deployment"]
	if r := at(t, d, "spec", "replicas"); r != 3 {
		t.Errorf("replicas %v, want 3", r)
	}
	pod := at(t, d, "spec", "template", "spec")
	c := at(t, pod, "containers", 0)
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		if got := at(t, c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path %v, want %s", probe, got, path)
		}
		if got := at(t, c, probe, "httpGet", "port"); got != "ops" {
			t.Errorf("%s port %v, want the ops port", probe, got)
		}
	}
	sc := at(t, c, "securityContext")
	for _, want := range []struct {
		path []any
		v    any
	}{
		{[]any{"runAsNonRoot"}, true},
		{[]any{"readOnlyRootFilesystem"}, true},
		{[]any{"allowPrivilegeEscalation"}, false},
		{[]any{"capabilities", "drop", 0}, "ALL"},
		{[]any{"seccompProfile", "type"}, "RuntimeDefault"},
	} {
		if got := at(t, sc, want.path...); got != want.v {
			t.Errorf("container securityContext %v = %v, want %v", want.path, got, want.v)
		}
	}
	if got := at(t, pod, "securityContext", "seccompProfile", "type"); got != "RuntimeDefault" {
		t.Errorf("pod seccompProfile %v", got)
	}
	if got := at(t, pod, "securityContext", "runAsNonRoot"); got != true {
		t.Errorf("pod runAsNonRoot %v", got)
	}
	if got := at(t, pod, "automountServiceAccountToken"); got != false {
		t.Errorf("automountServiceAccountToken %v: the Kubernetes API token must not be mounted", got)
	}
	req := at(t, c, "resources", "requests")
	if at(t, req, "cpu") == nil || at(t, req, "memory") == nil {
		t.Errorf("resource requests missing: %v", req)
	}
	// The Vault token is a projected token for Vault's audience only.
	var projected map[string]any
	for _, v := range at(t, pod, "volumes").([]any) {
		if v.(map[string]any)["name"] == "vault-token" {
			projected = at(t, v, "projected", "sources", 0, "serviceAccountToken").(map[string]any)
		}
	}
	if projected == nil || projected["audience"] != "vault" {
		t.Errorf("vault-token volume: %v, want a projected token with audience vault", projected)
	}
	pdb := objs["PodDisruptionBudget"]
	if got := at(t, pdb, "spec", "maxUnavailable"); got != 1 {
		t.Errorf("PDB maxUnavailable %v", got)
	}
	sel := at(t, pdb, "spec", "selector", "matchLabels").(map[string]any)
	labels := at(t, d, "spec", "template", "metadata", "labels").(map[string]any)
	for k, v := range sel {
		if labels[k] != v {
			t.Errorf("PDB selector %s=%v does not select the pods (%v)", k, v, labels[k])
		}
	}
}

// TestChartNetworkPolicy: the mTLS port is open to all, the ops port only to
// the monitoring selector, and egress goes to named destinations only.
func TestChartNetworkPolicy(t *testing.T) {
	np := objs(t, "sentinel")["NetworkPolicy"]
	types := at(t, np, "spec", "policyTypes").([]any)
	if !slices.Contains(types, any("Ingress")) || !slices.Contains(types, any("Egress")) {
		t.Fatalf("policyTypes %v: both directions must be restricted", types)
	}
	ingress := at(t, np, "spec", "ingress").([]any)
	if len(ingress) != 2 {
		t.Fatalf("%d ingress rules, want 2", len(ingress))
	}
	if at(t, ingress[0], "from") != nil || at(t, ingress[0], "ports", 0, "port") != "mtls" || len(at(t, ingress[0], "ports").([]any)) != 1 {
		t.Errorf("first ingress rule %v: want the mtls port from anywhere, nothing else", ingress[0])
	}
	if at(t, ingress[1], "ports", 0, "port") != "ops" || len(at(t, ingress[1], "ports").([]any)) != 1 {
		t.Errorf("second ingress rule %v: want the ops port only", ingress[1])
	}
	from := at(t, ingress[1], "from").([]any)
	if len(from) != 1 || at(t, from[0], "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name") != "monitoring" || at(t, from[0], "podSelector") == nil {
		t.Errorf("ops port open to %v: want only the monitoring namespace's selected pods", from)
	}
	// Every egress rule names where it goes: a rule with ports but no `to`
	// would allow those ports to the whole internet.
	ports := map[int]bool{}
	for i, r := range at(t, np, "spec", "egress").([]any) {
		to, _ := at(t, r, "to").([]any)
		if len(to) == 0 {
			t.Errorf("egress rule %d has no destination: %v", i, r)
		}
		ps, _ := at(t, r, "ports").([]any)
		if len(ps) == 0 {
			t.Errorf("egress rule %d allows every port", i)
		}
		for _, p := range ps {
			ports[at(t, p, "port").(int)] = true
		}
	}
	for _, p := range []int{53, 5432, 6379, 26379, 8200, 8443} {
		if !ports[p] {
			t.Errorf("egress to port %d (DNS, PostgreSQL, Redis, Sentinel, Vault, peer) missing: %v", p, ports)
		}
	}
}

func objs(t *testing.T, variant string) map[string]object {
	t.Helper()
	return objects(t, mustRender(t, variants[variant]...))
}

// TestChartConfigIsValid loads the rendered ura.yaml with ura's own config
// package: no unknown key, no invalid value; the only complaints allowed are
// files that do not exist here, and each of them must be under a path the
// pod mounts.
func TestChartConfigIsValid(t *testing.T) {
	for _, env := range []string{"URA_LISTEN", "URA_OPS_LISTEN", "URA_REDIS_ADDR", "URA_REDIS_PASSWORD", "URA_VAULT_ADDR", "URA_VAULT_TOKEN", "URA_LOG_LEVEL"} {
		t.Setenv(env, "")
	}
	// The pod has these from its Secret.
	t.Setenv("URA_POSTGRES_DSN", "postgres://ura@db.example:5432/ura?sslmode=verify-full")
	t.Setenv("URA_AUDIT_DSN", "postgres://ura_audit@db.example:5432/ura?sslmode=verify-full")
	for name := range variants {
		t.Run(name, func(t *testing.T) {
			o := objs(t, name)
			raw := at(t, o["ConfigMap"], "data", "ura.yaml").(string)
			cfg, err := config.Parse([]byte(raw), "/etc/ura/config")
			if err != nil {
				t.Fatalf("ura.yaml does not parse: %v\n%s", err, raw)
			}
			var mounts []string
			for _, m := range at(t, o["Deployment"], "spec", "template", "spec", "containers", 0, "volumeMounts").([]any) {
				mounts = append(mounts, at(t, m, "mountPath").(string)+"/")
			}
			err = cfg.Validate()
			var joined interface{ Unwrap() []error }
			if err != nil && !errors.As(err, &joined) {
				t.Fatalf("validate: %v", err)
			}
			if err == nil {
				return
			}
			for _, e := range joined.Unwrap() {
				var fe *config.FieldError
				if !errors.As(e, &fe) || !strings.HasPrefix(fe.Msg, "cannot read") {
					t.Errorf("ura.yaml: %v", e)
					continue
				}
				path, _ := fieldValue(t, raw, fe.Path).(string)
				if !slices.ContainsFunc(mounts, func(m string) bool { return strings.HasPrefix(path, m) }) {
					t.Errorf("%s: %s is not under any volume mount %v", fe.Path, path, mounts)
				}
			}
			if cfg.RateLimit.Replicas != 3 {
				t.Errorf("ratelimit.replicas %d, want the replica count", cfg.RateLimit.Replicas)
			}
			if cfg.Vault.Auth.Method != config.VaultAuthKubernetes {
				t.Errorf("vault.auth.method %q", cfg.Vault.Auth.Method)
			}
		})
	}
}

// fieldValue is the value at a config field path such as
// tls.client_cas[0].cert_file in the YAML document raw.
func fieldValue(t *testing.T, raw, field string) any {
	t.Helper()
	var doc any
	if err := yaml.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	var path []any
	for _, part := range strings.Split(field, ".") {
		name, index, indexed := strings.Cut(part, "[")
		path = append(path, name)
		if indexed {
			i, err := strconv.Atoi(strings.TrimSuffix(index, "]"))
			if err != nil {
				t.Fatalf("field path %s", field)
			}
			path = append(path, i)
		}
	}
	return at(t, doc, path...)
}

// TestChartSecretsOnlyByReference: the chart renders no Secret and puts no
// secret in the ConfigMap; a secret given in values is refused, and the
// refusal does not repeat it.
func TestChartSecretsOnlyByReference(t *testing.T) {
	for name := range variants {
		o := objs(t, name)
		if o["Secret"] != nil {
			t.Errorf("%s: the chart renders a Secret", name)
		}
		raw := at(t, o["ConfigMap"], "data", "ura.yaml").(string)
		for _, key := range []string{"password:", "token:", "dsn:", "sentinel_password:"} {
			if strings.Contains(raw, "\n"+key) || strings.Contains(raw, " "+key) {
				t.Errorf("%s: ura.yaml holds %s", name, key)
			}
		}
	}
	for _, set := range []string{"config.redis.password", "config.vault.token", "config.store.dsn", "config.audit.dsn", "config.redis.sentinel_password"} {
		t.Run(set, func(t *testing.T) {
			const secret = "hunter2-do-not-print"
			_, err := render(t, "--set", set+"="+secret)
			if err == nil {
				t.Fatalf("--set %s rendered", set)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the refusal repeats the secret: %v", err)
			}
		})
	}
	// values.yaml itself names Secrets, never holds one.
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				lk := strings.ToLower(k)
				if (lk == "password" || lk == "token" || lk == "dsn" || strings.HasSuffix(lk, "secret_id")) && e != nil && e != "" {
					t.Errorf("values.yaml %s.%s holds a value", path, k)
				}
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(path+"[]", e)
			}
		}
	}
	walk("", values)
}
