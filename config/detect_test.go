package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDetectLocations(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []CodeLocation
	}{
		{"tool.dagster", map[string]string{
			"pyproject.toml":             "[project]\nname = \"my-proj\"\n[tool.dagster]\nmodule_name = \"my_proj.definitions\"\ncode_location_name = \"my_proj\"\n",
			"my_proj/__init__.py":        "",
			"my_proj/definitions.py":     "",
			"workspace.yaml":             "load_from: [{python_file: other.py}]\n",
			"other/definitions.py":       "",
			"other/__init__.py":          "",
			"my_proj_tests/test_defs.py": "",
		}, []CodeLocation{{Name: "my-proj", Path: ".", Module: "my_proj.definitions"}}},
		{"dg src layout", map[string]string{
			"pyproject.toml":          "[project]\nname = \"shop\"\n[tool.dg]\ndirectory_type = \"project\"\n[tool.dg.project]\nroot_module = \"shop\"\n",
			"src/shop/__init__.py":    "",
			"src/shop/definitions.py": "",
		}, []CodeLocation{{Name: "shop", Path: "src", Module: "shop.definitions"}}},
		{"pyproject without dagster falls through", map[string]string{
			"pyproject.toml": "[project]\nname = \"x\"\n",
			"definitions.py": "",
		}, []CodeLocation{{Name: "", Path: ".", File: "definitions.py"}}},
		{"workspace", map[string]string{
			"workspace.yaml": `load_from:
  - python_module: {module_name: sales.defs, location_name: Sales_Team, attribute: defs}
  - python_file: {relative_path: jobs/etl.py, working_directory: jobs}
  - python_module: plain
  - grpc_server: {host: x, port: 1}
`,
		}, []CodeLocation{
			{Name: "sales-team", Path: ".", Module: "sales.defs", Attribute: "defs"},
			{Name: "etl", Path: "jobs", File: "etl.py"},
			{Name: "plain", Path: ".", Module: "plain"},
		}},
		{"package definitions", map[string]string{"pipes/__init__.py": "", "pipes/definitions.py": ""},
			[]CodeLocation{{Name: "pipes", Path: ".", Module: "pipes.definitions"}}},
		{"nothing", map[string]string{"README.md": ""}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, c.files)
			found, err := DetectLocations(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != len(c.want) {
				t.Fatalf("found %+v, want %+v", found, c.want)
			}
			for i, w := range c.want {
				if w.Name == "" {
					w.Name = locationName(filepath.Base(dir))
				}
				if found[i].Location.Name != w.Name || found[i].Location.Path != w.Path || found[i].Location.Module != w.Module ||
					found[i].Location.File != w.File || found[i].Location.Attribute != w.Attribute {
					t.Errorf("location %d = %+v, want %+v", i, found[i].Location, w)
				}
			}
		})
	}
}

// A broken workspace.yaml is reported at the line of the problem.
func TestDetectLocationsWorkspaceError(t *testing.T) {
	for ws, want := range map[string]string{
		"load_from:\n  - python_file: [a\n":                   "workspace.yaml line 3: did not find expected ',' or ']'",
		"load_from:\n  - python_module: {module_name: [1]}\n": "workspace.yaml line 2: cannot construct !!seq into string",
	} {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"workspace.yaml": ws})
		_, err := DetectLocations(dir)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: err = %v, want %s", ws, err, want)
		}
	}
}

// The file init writes for a detected project loads, and its location is
// the detected one.
func TestStarterWithLoads(t *testing.T) {
	if !strings.Contains(Starter, starterLocations) {
		t.Fatal("Starter no longer holds the codeLocations block StarterWith replaces")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"etl/__init__.py": "", "etl/definitions.py": ""})
	found, err := DetectLocations(dir)
	if err != nil || len(found) != 1 {
		t.Fatalf("detect: %v %v", found, err)
	}
	cfg, err := Load(writeConfig(t, dir, StarterWith(found)))
	if err != nil {
		t.Fatalf("starter with a detected location does not load: %v", err)
	}
	if len(cfg.CodeLocations) != 1 || cfg.CodeLocations[0].Module != "etl.definitions" {
		t.Errorf("locations = %+v", cfg.CodeLocations)
	}
}
