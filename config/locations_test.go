package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, DefaultFile)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCodeLocationsValid(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "analytics", "pkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "analytics", "defs.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(writeConfig(t, dir, `
codeLocations:
  - name: analytics
    path: ./analytics
    file: defs.py
    attribute: defs
    env: {TEAM: data}
  - name: ml
    image: my-team/ml:1.4
    module: ml.defs
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.CodeLocations) != 2 || !cfg.HasPathLocations() {
		t.Fatalf("locations = %+v", cfg.CodeLocations)
	}
	if cfg.CodeRoot() != dir {
		t.Errorf("CodeRoot = %s, want the config's directory %s", cfg.CodeRoot(), dir)
	}
	got, err := cfg.LocationNodePath(cfg.CodeLocations[0])
	if err != nil || got != CodeNodePath+"/analytics" {
		t.Errorf("LocationNodePath = %q, %v", got, err)
	}
}

func TestCodeLocationsInvalid(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	cases := []struct{ body, want string }{
		{"codeLocations:\n  - name: a\n", "codeLocations[0]: needs module: (a Python module, e.g. a.definitions) or file:"},
		{"codeLocations:\n  - {name: a, module: x, file: y.py}\n", "codeLocations[0].file: give module: or file:, not both"},
		{"codeLocations:\n  - {name: a, module: x}\n  - {name: a, module: y}\n", `:3: codeLocations[1].name: location "a" is declared twice (also at codeLocations[0])`},
		{"codeLocations:\n  - {name: A_b, module: x}\n", `codeLocations[0].name: "A_b" is not a valid location name`},
		{"codeLocations:\n  - {name: a, module: 1x}\n", `"1x" is not a Python module name`},
		{"codeLocations:\n  - {name: a, module: x, image: team/x}\n", "needs an explicit tag other than latest"},
		{"codeLocations:\n  - {name: a, module: x, path: missing}\n", "codeLocations[0].path: " + filepath.Join(dir, "missing") + " does not exist"},
		{"codeLocations:\n  - {name: a, module: x, path: " + outside + "}\n", "is outside cluster.codeRoot"},
		{"codeLocations:\n  - {name: a, file: nope.py, path: inside}\n", "codeLocations[0].file: nope.py is not a file in inside"},
		{"cluster: {context: prod}\ncodeLocations:\n  - {name: a, module: x, path: inside}\n", "a path location needs a kind cluster"},
		{"codeLocations:\n  - name: a\n    module: x\n    env:\n      ok: 1\n      not-ok: 2\n", ":6: codeLocations[0].env.not-ok:"},
		{"cluster: {codeRoot: nope}\n", "cluster.codeRoot: " + filepath.Join(dir, "nope") + " does not exist"},
	}
	for _, c := range cases {
		_, err := Load(writeConfig(t, dir, c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config:\n%s\nerr = %v\nwant it to contain %q", c.body, err, c.want)
		}
	}
}

func TestCodeLocationBuild(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"analytics/defs.py":          "",
		"analytics/Dockerfile":       "FROM dagster\n",
		"analytics/requirements.txt": "pandas\n",
		"ml/docker/ml.Dockerfile":    "FROM dagster\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := Load(writeConfig(t, dir, `
codeLocations:
  - name: analytics
    path: ./analytics
    file: defs.py
    build: {}
  - name: ml
    image: my-team/ml
    module: ml.defs
    build: {context: ./ml, dockerfile: docker/ml.Dockerfile}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, err := cfg.LocationImage(cfg.CodeLocations[0])
	if err != nil || !strings.HasPrefix(a, BuildRepository+"analytics:dd-") {
		t.Errorf("analytics image %q, %v", a, err)
	}
	spec, _ := cfg.BuildSpec(cfg.CodeLocations[0])
	if !spec.DependenciesOnly || spec.Context != filepath.Join(dir, "analytics") {
		t.Errorf("analytics spec %+v", spec)
	}
	m, err := cfg.LocationImage(cfg.CodeLocations[1])
	if err != nil || !strings.HasPrefix(m, "my-team/ml:dd-") {
		t.Errorf("ml image %q, %v", m, err)
	}

	for _, c := range []struct{ body, want string }{
		{"codeLocations:\n  - name: a\n    module: a.defs\n    image: x/a:1\n    build: {}\n", "codeLocations[0].build.context: is required for a location without path:"},
		{"codeLocations:\n  - name: a\n    path: ./analytics\n    file: defs.py\n    build: {dockerfile: nope/Dockerfile}\n", "codeLocations[0].build.dockerfile: nope/Dockerfile is not a file in the build context"},
		{"codeLocations:\n  - name: a\n    path: ./analytics\n    file: defs.py\n    build: {dockerfile: ../Dockerfile}\n", "must be a path inside the build context"},
		{"codeLocations:\n  - name: a\n    path: ./analytics\n    file: defs.py\n    build: {contxt: .}\n", "contxt"},
	} {
		_, err := Load(writeConfig(t, dir, c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.body, err, c.want)
		}
	}
}
