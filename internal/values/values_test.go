package values

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/dagster-dev/dagster-dev/config"
)

// load writes files into a temp dir, then loads body as dagster-dev.yaml.
func load(t *testing.T, body string, files map[string]string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "dagster-dev.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func yamlOf(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestForMergesInOrder(t *testing.T) {
	cfg := load(t, `
valuesFiles: [a.yaml, sub/b.yaml]
values:
  image: {tag: inline}
  dagit:
    env: {FROM_INLINE: "1", SHARED: inline}
watch:
  env: {dagit: .env.dagit, job_runner: .env.jr}
  sources:
    - {name: team, kind: ConfigMap, path: team.env, attach: [dagit, job_runner]}
    - {name: creds, kind: Secret, path: creds.env, attach: [job_runner]}
    - {name: more, kind: ConfigMap, path: more.env, attach: [dagit]}
`, map[string]string{
		"a.yaml": `
image: {repository: a, tag: a}
dagit:
  env: {FROM_A: a, SHARED: a, PORT: 8080}
  env_config_maps: [user-cm, more]
  replicas: 1
job_runner:
  env_secrets: [user-secret]
list: [1, 2]
`,
		"sub/b.yaml": "image: {tag: b}\nlist: [3]\ndagit: {replicas: 2}\n",
		".env.dagit": "SHARED=dotenv\nFROM_DOTENV=yes\n",
		".env.jr":    "# only a comment\nJR=1\n",
	})
	got, err := For(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"image": map[string]any{"repository": "a", "tag": "inline"},
		"list":  []any{3},
		"dagit": map[string]any{
			"replicas": 2,
			"env":      map[string]any{"FROM_A": "a", "PORT": 8080, "FROM_INLINE": "1", "SHARED": "dotenv", "FROM_DOTENV": "yes"},
			// user's list first; "more" keeps its first place.
			"env_config_maps": []any{"user-cm", "more", "team"},
			"service":         map[string]any{"type": "NodePort", "nodePort": 30080},
		},
		"job_runner": map[string]any{
			"env":             map[string]any{"JR": "1"},
			"env_config_maps": []any{"team"},
			"env_secrets":     []any{"user-secret", "creds"},
		},
		// The chart's example (its probe job) is off unless asked; dagster-dev asks.
		"userCode": map[string]any{"example": map[string]any{"enabled": true}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", yamlOf(t, got), yamlOf(t, want))
	}

	// Deterministic and not aliased: a second call gives the same values
	// even after the first result was modified.
	got["dagit"].(map[string]any)["env"].(map[string]any)["X"] = "mutated"
	again, err := For(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, want) {
		t.Errorf("second call differs:\n%s", yamlOf(t, again))
	}
	if cfg.Values["dagit"].(map[string]any)["env"].(map[string]any)["X"] != nil {
		t.Error("For modified cfg.Values")
	}
}

func TestForExistingClusterLeavesServiceAlone(t *testing.T) {
	cfg := load(t, "cluster: {context: prod-like}\nvalues: {dagit: {service: {type: LoadBalancer}}}\n", nil)
	got, err := For(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"dagit": map[string]any{"service": map[string]any{"type": "LoadBalancer"}},
		"userCode": map[string]any{"example": map[string]any{"enabled": true}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
}

func TestForKindModeForcesNodePort(t *testing.T) {
	cfg := load(t, "dagit: {nodePort: 31000}\nvalues: {dagit: {service: {type: ClusterIP, port: 80}}}\n", nil)
	got, err := For(cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc := got["dagit"].(map[string]any)["service"]
	want := map[string]any{"type": "NodePort", "nodePort": 31000, "port": 80}
	if !reflect.DeepEqual(svc, want) {
		t.Errorf("service = %v, want %v", svc, want)
	}
}

func TestForErrors(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		files map[string]string
		want  string
	}{
		{"invalid yaml", "valuesFiles: [v.yaml]\n", map[string]string{"v.yaml": "a: 1\nb: [unclosed\n"}, "v.yaml:2: invalid YAML: did not find expected ',' or ']'"},
		{"invalid yaml (scanner)", "valuesFiles: [v.yaml]\n", map[string]string{"v.yaml": "a: 1\nb: 2\n  c: 3\n"}, "v.yaml:3: invalid YAML: mapping values"},
		// The example: the same line config reports (yamlpos).
		{"key inside a list", "valuesFiles: [v.yaml]\n", map[string]string{"v.yaml": "x:\n  - a\n  b: 1\n"}, "v.yaml:3: invalid YAML: did not find expected '-' indicator"},
		{"sequence in mapping", "valuesFiles: [v.yaml]\n", map[string]string{"v.yaml": "a: 1\n- b\n"}, "v.yaml:2: invalid YAML: did not find expected key"},
		{"not a mapping", "valuesFiles: [v.yaml]\n", map[string]string{"v.yaml": "# hi\n- a\n- b\n"}, "v.yaml:2: chart values must be a YAML mapping"},
		{"duplicate key", "valuesFiles: [v.yaml]\n", map[string]string{"v.yaml": "a: 1\nb: 2\na: 3\n"}, "v.yaml:3: invalid YAML"},
		{"two documents", "valuesFiles: [v.yaml]\n", map[string]string{"v.yaml": "a: 1\n---\nb: 2\n"}, "v.yaml:2: a values file holds one YAML document"},
		{"missing values file", "valuesFiles: [nope.yaml]\n", nil, "values file nope.yaml: no such file or directory"},
		{"missing dotenv", "watch: {env: {dagit: .env.nope}}\n", nil, "watch.env.dagit: .env.nope: no such file"},
		{"bad dotenv", "watch: {env: {job_runner: .env}}\n", map[string]string{".env": "OK=1\n1BAD=2\n"}, ".env:2: invalid variable name \"1BAD\""},
		{"env not a map", "valuesFiles: [v.yaml]\nwatch: {env: {dagit: .env}}\n", map[string]string{"v.yaml": "dagit: {env: [{name: A, value: b}]}\n", ".env": "A=1\n"}, "chart value dagit.env must be a mapping"},
		{"list not a list", "valuesFiles: [v.yaml]\nwatch: {sources: [{name: s, kind: Secret, path: s.env, attach: [dagit]}]}\n", map[string]string{"v.yaml": "dagit: {env_secrets: one}\n"}, "chart value dagit.env_secrets must be a list"},
		{"list of non-strings", "valuesFiles: [v.yaml]\nwatch: {sources: [{name: s, kind: ConfigMap, path: s.env, attach: [job_runner]}]}\n", map[string]string{"v.yaml": "job_runner: {env_config_maps: [{name: x}]}\n"}, "job_runner.env_config_maps[0] must be an object name"},
		{"dagit not a map", "valuesFiles: [v.yaml]\n", map[string]string{"v.yaml": "dagit: true\n"}, "chart value dagit must be a mapping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := load(t, tc.body, tc.files)
			t.Chdir(cfg.Dir) // error messages use paths relative to the working directory
			_, err := For(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseEmptyAndComments(t *testing.T) {
	for _, body := range []string{"", "# nothing\n", "---\n"} {
		v, err := Parse("v.yaml", []byte(body))
		if err != nil || len(v) != 0 {
			t.Errorf("%q: got %v, %v", body, v, err)
		}
	}
}

func TestParseNonStringKeys(t *testing.T) {
	v, err := Parse("v.yaml", []byte("codes: {1: one, true: yes}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"codes": map[string]any{"1": "one", "true": "yes"}}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("got %#v", v)
	}
}

func TestMergeReplacesListsAndScalarsMergesMaps(t *testing.T) {
	dst := map[string]any{"a": map[string]any{"x": 1, "y": []any{1}}, "b": 1, "c": map[string]any{"k": 1}}
	src := map[string]any{"a": map[string]any{"y": []any{2}, "z": nil}, "b": map[string]any{"n": 1}, "c": "scalar"}
	got := Merge(dst, src)
	want := map[string]any{"a": map[string]any{"x": 1, "y": []any{2}, "z": nil}, "b": map[string]any{"n": 1}, "c": "scalar"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	src["a"].(map[string]any)["y"].([]any)[0] = 99
	if got["a"].(map[string]any)["y"].([]any)[0] != 2 {
		t.Error("Merge aliased a list of src")
	}
}

func TestForRunLauncher(t *testing.T) {
	for launcher, wantRabbit := range map[string]any{"": nil, config.RunLauncherCelery: nil, config.RunLauncherK8s: false} {
		cfg := &config.Config{RunLauncher: launcher, Release: "dagster", Namespace: "dagster"}
		vals, err := For(cfg)
		if err != nil {
			t.Fatalf("%q: %v", launcher, err)
		}
		rl, _ := vals["runLauncher"].(map[string]any)
		if launcher == "" && rl != nil {
			t.Errorf("no runLauncher in the config, values say %v", rl)
		}
		if launcher != "" && rl["type"] != launcher {
			t.Errorf("%q: runLauncher = %v", launcher, rl)
		}
		rabbit, _ := vals["rabbitmq"].(map[string]any)
		if got := rabbit["enabled"]; got != wantRabbit {
			t.Errorf("%q: rabbitmq.enabled = %v, want %v", launcher, got, wantRabbit)
		}
	}
	// An explicit rabbitmq.enabled stays (the chart names the conflict).
	cfg := &config.Config{RunLauncher: config.RunLauncherK8s, Values: map[string]any{"rabbitmq": map[string]any{"enabled": true}}}
	vals, err := For(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if vals["rabbitmq"].(map[string]any)["enabled"] != true {
		t.Errorf("rabbitmq.enabled overridden: %v", vals["rabbitmq"])
	}
}

// The example is asked for unless the values decide: set either way, or the single-location API.
func TestForAsksForTheExample(t *testing.T) {
	for doc, want := range map[string]any{
		"": true,
		"values: {userCode: {example: {enabled: false}}}\n": false,
		"values: {userCode: {pythonFile: /app/defs.py}}\n":  nil,
	} {
		got, err := For(load(t, doc, nil))
		if err != nil {
			t.Fatal(err)
		}
		uc, _ := got["userCode"].(map[string]any)
		ex, _ := uc["example"].(map[string]any)
		if ex["enabled"] != want {
			t.Errorf("%q: userCode.example.enabled = %v, want %v", doc, ex["enabled"], want)
		}
	}
}
