package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsWithoutFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.Name != DefaultClusterName || cfg.Namespace != "dagster" || cfg.Release != "dagster" {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if cfg.Dagit.HostPort != 3000 || cfg.Dagit.NodePort != 30080 || cfg.Cluster.Nodes != 1 {
		t.Errorf("port/node defaults wrong: %+v", cfg)
	}
	if cfg.Timeout.Duration != 10*time.Minute || cfg.Watch.Debounce.Duration != 200*time.Millisecond {
		t.Errorf("durations wrong: %v %v", cfg.Timeout, cfg.Watch.Debounce)
	}
	if cfg.Dir != dir || cfg.Path != "" {
		t.Errorf("dir=%q path=%q", cfg.Dir, cfg.Path)
	}
	if cfg.KubeContext() != "kind-dagster-dev" || cfg.DagitURL() != "http://127.0.0.1:3000" {
		t.Errorf("context %q url %q", cfg.KubeContext(), cfg.DagitURL())
	}
}

func TestExplicitMissingFileIsAnError(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "dagster-dev init") {
		t.Fatalf("want a hint to run init, got %v", err)
	}
}

func TestStarterLoadsCleanly(t *testing.T) {
	cfg, err := Parse("starter.yaml", []byte(Starter))
	if err != nil {
		t.Fatalf("starter file does not load: %v", err)
	}
	if cfg.Cluster.Name != DefaultClusterName || cfg.Dagit.HostPort != DefaultHostPort {
		t.Errorf("starter disagrees with defaults: %+v", cfg)
	}
}

func TestLoadResolvesPathsAgainstFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "dd.yaml")
	body := "valuesFiles: [values/dev.yaml]\nwatch:\n  sources:\n    - {name: team, kind: Secret, path: secrets.env, attach: [dagit]}\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Resolve(cfg.ValuesFiles[0]); got != filepath.Join(dir, "values/dev.yaml") {
		t.Errorf("resolve = %q", got)
	}
	if cfg.Resolve("/abs") != "/abs" {
		t.Error("absolute paths must stay as they are")
	}
	if cfg.Watch.Sources[0].Format != FormatAuto {
		t.Errorf("format default = %q", cfg.Watch.Sources[0].Format)
	}
}

func TestFullConfig(t *testing.T) {
	body := `
cluster: {name: team-a, nodeImage: "kindest/node:v1.34.0", nodes: 3}
dagit: {hostPort: 8080, nodePort: 30999}
namespace: data
release: dg
timeout: 90s
images: [my/code:dev, "reg.example:5000/x/y:1.2@sha256:abababababababababababababababababababababababababababababababab"]
values:
  dagit:
    env: {A: "1"}
watch:
  env: {dagit: .env.dagit, job_runner: .env.jobs}
  debounce: 50ms
  sources:
    - {name: cm-a, kind: ConfigMap, path: a.env, attach: [dagit, job_runner]}
    - {name: sec-b, kind: Secret, path: b/, format: dir, attach: [job_runner]}
`
	cfg, err := Parse("f.yaml", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.Nodes != 3 || cfg.Dagit.HostPort != 8080 || cfg.Timeout.Duration != 90*time.Second {
		t.Errorf("parsed wrong: %+v", cfg)
	}
	if cfg.Values["dagit"].(map[string]any)["env"].(map[string]any)["A"] != "1" {
		t.Errorf("values = %v", cfg.Values)
	}
	if cfg.Watch.Env.JobRunner != ".env.jobs" || cfg.Watch.Sources[1].Format != FormatDir {
		t.Errorf("watch = %+v", cfg.Watch)
	}
}

func TestErrorsNameFileLineAndKey(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
	}{
		{"unknown key with suggestion", "cluster:\n  nodeimage: x\n", []string{"f.yaml:2: cluster.nodeimage: unknown key", `did you mean "nodeImage"`}},
		{"typo top level", "namepsace: x\n", []string{"f.yaml:1: namepsace: unknown key", `"namespace"`}},
		{"unknown nested in list", "watch:\n  sources:\n    - name: a\n      knd: Secret\n", []string{"f.yaml:4: watch.sources[0].knd: unknown key", `"kind"`}},
		{"wrong type", "cluster:\n  nodes: many\n", []string{"f.yaml:2:", "wrong type", "many"}},
		{"bad duration", "timeout: soon\n", []string{"f.yaml:1: wrong type: \"soon\" is not a duration"}},
		{"syntax", "cluster:\n  name: [unclosed\n", []string{"f.yaml:2: invalid YAML"}},
		// The same line internal/values reports for the same mistake (yamlpos).
		{"key inside a list", "x:\n  - a\n  b: 1\n", []string{"f.yaml:3: invalid YAML: did not find expected '-' indicator"}},
		{"second document", "namespace: a\n---\nnamespace: b\n", []string{"f.yaml:2: invalid YAML: expected one YAML document"}},
		{"not a mapping", "- a\n- b\n", []string{"f.yaml:1:", "mapping"}},
		{"nodes out of range", "cluster:\n  nodes: 0\n", []string{"f.yaml:2: cluster.nodes: must be between 1 and 10"}},
		{"run launcher", "runLauncher: k8s\n", []string{"f.yaml:1: runLauncher: \"k8s\" is not a run launcher: use CeleryK8sRunLauncher", "K8sRunLauncher (a Job per run and per step, no broker)"}},
		{"host port", "dagit:\n  hostPort: 70000\n", []string{"f.yaml:2: dagit.hostPort"}},
		{"node port", "dagit:\n  nodePort: 8080\n", []string{"f.yaml:2: dagit.nodePort", "30000-32767"}},
		{"cluster name", "cluster:\n  name: My_Cluster\n", []string{"f.yaml:2: cluster.name"}},
		{"release too long", "release: " + strings.Repeat("a", 54) + "\n", []string{"f.yaml:1: release", "53"}},
		{"latest image", "images:\n  - foo/bar:latest\n  - foo/baz\n", []string{"f.yaml:2: images[0]", "f.yaml:3: images[1]", "explicit tag"}},
		{"image grammar", "images:\n  - My/App:1\n  - app:1\n  - \"a b:1\"\n", []string{"f.yaml:2: images[0]: \"My/App:1\" is not an image reference: invalid reference format: repository name (App) must be lowercase", "f.yaml:4: images[2]", "not an image reference"}},
		{"image digest", "images: [\"app@sha256:12\"]\n", []string{"f.yaml:1: images[0]", "not an image reference"}},
		{"namespace too long", "namespace: " + strings.Repeat("a", 64) + "\n", []string{"f.yaml:1: namespace", "at most 63"}},
		{"namespace dots", "namespace: a.b\n", []string{"f.yaml:1: namespace", "not a valid namespace"}},
		{"context with nodeImage", "cluster:\n  context: prod\n  nodeImage: x\n", []string{"f.yaml:3: cluster.nodeImage", "cluster.context"}},
		{"source kind", "watch:\n  sources:\n    - {name: a, kind: Config, path: x, attach: [dagit]}\n", []string{"f.yaml:3: watch.sources[0].kind", "ConfigMap or Secret"}},
		{"source attach", "watch:\n  sources:\n    - name: a\n      kind: Secret\n      path: x\n      attach: [webserver]\n", []string{"f.yaml:6: watch.sources[0].attach[0]", "dagit or job_runner"}},
		{"source dup", "watch:\n  sources:\n    - {name: a, kind: Secret, path: x, attach: [dagit]}\n    - {name: a, kind: Secret, path: y, attach: [dagit]}\n", []string{"f.yaml:4: watch.sources[1].name", "declared twice"}},
		{"source name", "watch:\n  sources:\n    - {name: Bad_Name, kind: Secret, path: x, attach: [dagit]}\n", []string{"watch.sources[0].name", "not a valid object name"}},
		{"source format", "watch:\n  sources:\n    - {name: a, kind: Secret, path: x, format: ini, attach: [dagit]}\n", []string{"watch.sources[0].format"}},
		{"source path", "watch:\n  sources:\n    - {name: a, kind: Secret, attach: [dagit]}\n", []string{"watch.sources[0].path", "required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.body))
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Errorf("error is %T, want config.Errors", err)
			}
		})
	}
}

func TestAllErrorsReportedAtOnce(t *testing.T) {
	_, err := Parse("f.yaml", []byte("cluster:\n  nodes: 0\ndagit:\n  hostPort: 0\n  nodePort: 1\n"))
	var es Errors
	if !errors.As(err, &es) || len(es) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
}

func TestEmptyFileMeansDefaults(t *testing.T) {
	cfg, err := Parse("f.yaml", []byte("# nothing yet\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Release != DefaultRelease {
		t.Errorf("release = %q", cfg.Release)
	}
}

func TestExistingClusterContext(t *testing.T) {
	cfg, err := Parse("f.yaml", []byte("cluster:\n  context: prod-east\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.ExistingCluster() || cfg.KubeContext() != "prod-east" {
		t.Errorf("context mode not detected: %+v", cfg.Cluster)
	}
}
