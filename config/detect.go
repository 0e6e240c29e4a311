package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v4"

	"github.com/dagster-dev/dagster-dev/internal/yamlpos"
)

// Detected is a code location found in a project directory by
// DetectLocations, with where it was found.
type Detected struct {
	Location CodeLocation
	From     string // "pyproject.toml [tool.dagster]", "workspace.yaml", "definitions.py"
}

// DetectLocations looks for a Dagster project in dir, the way Dagster's
// own tools find one, in this order: pyproject.toml ([tool.dagster]
// module_name, or a dg project's [tool.dg.project] root_module),
// workspace.yaml (python_module / python_file entries), then a
// definitions.py at the top or one package down. Paths in the result are
// relative to dir. None found is not an error.
func DetectLocations(dir string) ([]Detected, error) {
	if found, err := fromPyproject(dir); found != nil || err != nil {
		return found, err
	}
	if found, err := fromWorkspace(dir); found != nil || err != nil {
		return found, err
	}
	return fromDefinitionsFile(dir), nil
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// locationName turns a Python or directory name into a valid location name.
func locationName(s string) string {
	n := strings.Trim(nonName.ReplaceAllString(strings.ToLower(strings.ReplaceAll(s, "_", "-")), "-"), "-")
	if len(n) > maxLocationName {
		n = strings.Trim(n[:maxLocationName], "-")
	}
	if n == "" {
		return "code"
	}
	return n
}

func fromPyproject(dir string) ([]Detected, error) {
	data, err := os.ReadFile(filepath.Join(dir, "pyproject.toml"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var py struct {
		Project struct {
			Name string `toml:"name"`
		} `toml:"project"`
		Tool struct {
			Dagster struct {
				ModuleName       string `toml:"module_name"`
				CodeLocationName string `toml:"code_location_name"`
				Attribute        string `toml:"attribute"`
			} `toml:"dagster"`
			DG struct {
				DirectoryType string `toml:"directory_type"`
				Project       struct {
					RootModule string `toml:"root_module"`
				} `toml:"project"`
			} `toml:"dg"`
		} `toml:"tool"`
	}
	if _, err := toml.Decode(string(data), &py); err != nil {
		return nil, fmt.Errorf("pyproject.toml: %w", err)
	}
	d := py.Tool.Dagster
	module, from := d.ModuleName, "pyproject.toml [tool.dagster]"
	if module == "" && py.Tool.DG.Project.RootModule != "" {
		module, from = py.Tool.DG.Project.RootModule+".definitions", "pyproject.toml [tool.dg.project]"
	}
	if module == "" {
		return nil, nil
	}
	name := d.CodeLocationName
	if name == "" {
		name = py.Project.Name
	}
	if name == "" {
		name = strings.Split(module, ".")[0]
	}
	return []Detected{{Location: CodeLocation{
		Name:      locationName(name),
		Path:      moduleRoot(dir, module),
		Module:    module,
		Attribute: d.Attribute,
	}, From: from}}, nil
}

// moduleRoot is the directory the module's top package is in, relative to
// dir: "." for a flat layout, "src" for a src layout.
func moduleRoot(dir, module string) string {
	top := strings.Split(module, ".")[0]
	for _, root := range []string{".", "src"} {
		if st, err := os.Stat(filepath.Join(dir, root, top)); err == nil && st.IsDir() {
			return root
		}
		if st, err := os.Stat(filepath.Join(dir, root, top+".py")); err == nil && !st.IsDir() {
			return root
		}
	}
	return "."
}

func fromWorkspace(dir string) ([]Detected, error) {
	data, err := os.ReadFile(filepath.Join(dir, "workspace.yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// Each entry is {python_module: NAME | {module_name, location_name,
	// attribute, working_directory}} or the python_file equivalent.
	var ws struct {
		LoadFrom []map[string]yaml.Node `yaml:"load_from"`
	}
	if err := yaml.Unmarshal(data, &ws); err != nil {
		return nil, workspaceError(err)
	}
	var out []Detected
	for _, entry := range ws.LoadFrom {
		for kind, node := range entry {
			var target struct {
				ModuleName       string `yaml:"module_name"`
				RelativePath     string `yaml:"relative_path"`
				LocationName     string `yaml:"location_name"`
				Attribute        string `yaml:"attribute"`
				WorkingDirectory string `yaml:"working_directory"`
			}
			if node.Kind == yaml.ScalarNode {
				if kind == "python_module" {
					target.ModuleName = node.Value
				} else {
					target.RelativePath = node.Value
				}
			} else if err := node.Decode(&target); err != nil {
				return nil, workspaceError(err)
			}
			loc := CodeLocation{Attribute: target.Attribute, Path: "."}
			if target.WorkingDirectory != "" {
				loc.Path = filepath.ToSlash(filepath.Clean(target.WorkingDirectory))
			}
			switch kind {
			case "python_module", "python_package":
				loc.Module = target.ModuleName
				if target.WorkingDirectory == "" {
					loc.Path = moduleRoot(dir, loc.Module)
				}
			case "python_file":
				loc.File = filepath.ToSlash(target.RelativePath)
				if target.WorkingDirectory != "" {
					if rel, err := filepath.Rel(target.WorkingDirectory, target.RelativePath); err == nil {
						loc.File = filepath.ToSlash(rel)
					}
				}
			default:
				continue // grpc_server entries have no code here
			}
			name := target.LocationName
			if name == "" {
				name = strings.TrimSuffix(filepath.Base(loc.Module+loc.File), ".py")
				name = strings.Split(name, ".")[0]
			}
			loc.Name = locationName(name)
			out = append(out, Detected{Location: loc, From: "workspace.yaml"})
		}
	}
	return out, nil
}

// workspaceError words a YAML error in workspace.yaml as "workspace.yaml
// line N: ...", the line found the way the config's own errors are.
func workspaceError(err error) error {
	p := yamlpos.Problems(err)[0]
	if p.Line > 0 {
		return fmt.Errorf("workspace.yaml line %d: %s", p.Line, p.Msg)
	}
	return fmt.Errorf("workspace.yaml: %s", p.Msg)
}

func fromDefinitionsFile(dir string) []Detected {
	if st, err := os.Stat(filepath.Join(dir, "definitions.py")); err == nil && !st.IsDir() {
		return []Detected{{Location: CodeLocation{Name: locationName(filepath.Base(dir)), Path: ".", File: "definitions.py"}, From: "definitions.py"}}
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*", "definitions.py"))
	for _, m := range matches {
		pkg := filepath.Base(filepath.Dir(m))
		if _, err := os.Stat(filepath.Join(dir, pkg, "__init__.py")); err == nil {
			return []Detected{{Location: CodeLocation{Name: locationName(pkg), Path: ".", Module: pkg + ".definitions"}, From: pkg + "/definitions.py"}}
		}
	}
	return nil
}

// StarterWith is Starter with the detected locations filled in.
func StarterWith(found []Detected) string {
	if len(found) == 0 {
		return Starter
	}
	var b strings.Builder
	b.WriteString("codeLocations:\n")
	for _, d := range found {
		l := d.Location
		fmt.Fprintf(&b, "  - name: %s # found in %s\n", l.Name, d.From)
		fmt.Fprintf(&b, "    path: %s\n", yamlString(l.Path))
		if l.Module != "" {
			fmt.Fprintf(&b, "    module: %s\n", l.Module)
		} else {
			fmt.Fprintf(&b, "    file: %s\n", yamlString(l.File))
		}
		if l.Attribute != "" {
			fmt.Fprintf(&b, "    attribute: %s\n", l.Attribute)
		}
		b.WriteString("    # image: my-team/" + l.Name + ":dev  # an image with the project's Python dependencies\n")
	}
	return strings.Replace(Starter, starterLocations, b.String(), 1)
}

func yamlString(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil {
		return s
	}
	return strings.TrimSpace(string(out))
}
