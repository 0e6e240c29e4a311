package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/dagster-dev/dagster-dev/internal/yamlpos"
)

// Error is one problem in a config file, located by line and key.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	loc := e.File
	if loc == "" {
		loc = DefaultFile
	}
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Errors is every problem found in one file; Load reports all of them at
// once so a user fixes the file in one pass.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads the config at path. An empty path means DefaultFile in the
// working directory, and there a missing file is not an error: defaults
// apply. A path given explicitly must exist.
func Load(path string) (*Config, error) {
	explicit := path != ""
	if !explicit {
		path = DefaultFile
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		wd, werr := os.Getwd()
		if werr != nil {
			return nil, fmt.Errorf("finding the working directory: %w", werr)
		}
		cfg := &Config{Dir: wd}
		cfg.applyDefaults()
		return cfg, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading config: %w (create it with `dagster-dev init` or pass --config FILE)", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", path, err)
	}
	return parse(path, abs, data)
}

// Parse decodes and validates config data; file is only used in messages.
// Relative paths in it are checked against the working directory.
func Parse(file string, data []byte) (*Config, error) {
	return parse(file, "", data)
}

// parse is Parse for the config file at abs (the file's absolute path, or
// "" when the data has no file): paths in it are resolved against its
// directory, and the directories it names are checked to exist.
func parse(file, abs string, data []byte) (*Config, error) {
	doc, err := yamlpos.Document(data)
	if err != nil {
		return nil, yamlErrors(file, "invalid YAML: ", err)
	}
	cfg := &Config{}
	if abs != "" {
		cfg.Path, cfg.Dir = abs, filepath.Dir(abs)
	}
	if doc == nil { // empty file: all defaults
		cfg.applyDefaults()
		return cfg, nil
	}
	if doc.Kind != yaml.MappingNode {
		return nil, Errors{{File: file, Line: doc.Line, Msg: "the file must be a YAML mapping of settings (see `dagster-dev init`)"}}
	}
	var errs Errors
	lines := map[string]int{}
	checkKeys(file, doc, reflect.TypeOf(Config{}), "", lines, &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	path, dir := cfg.Path, cfg.Dir
	if err := doc.Decode(cfg); err != nil {
		return nil, yamlErrors(file, "wrong type: ", err)
	}
	// Zero means "use the default" only when the key is absent: an explicit
	// 0 is a mistake worth reporting, not something to paper over.
	explicitZero := map[string]bool{
		"cluster.nodes":  cfg.Cluster.Nodes == 0,
		"dagit.hostPort": cfg.Dagit.HostPort == 0,
		"dagit.nodePort": cfg.Dagit.NodePort == 0,
	}
	cfg.Path, cfg.Dir = path, dir
	cfg.applyDefaults()
	for key, zero := range explicitZero {
		if _, set := lines[key]; set && zero {
			switch key {
			case "cluster.nodes":
				cfg.Cluster.Nodes = 0
			case "dagit.hostPort":
				cfg.Dagit.HostPort = 0
			case "dagit.nodePort":
				cfg.Dagit.NodePort = 0
			}
		}
	}
	errs = append(errs, validate(cfg, file, lines)...)
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// yamlErrors turns a YAML error into one Error per positioned problem.
func yamlErrors(file, prefix string, err error) Errors {
	var errs Errors
	for _, p := range yamlpos.Problems(err) {
		errs = append(errs, &Error{File: file, Line: p.Line, Msg: prefix + p.Msg})
	}
	return errs
}

// checkKeys walks the YAML mapping against the struct's yaml tags, reporting
// unknown keys (with a suggestion) and recording each key's line for the
// semantic checks that follow.
func checkKeys(file string, n *yaml.Node, t reflect.Type, prefix string, lines map[string]int, errs *Errors) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && t != reflect.TypeOf(Duration{}):
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return
			}
			*errs = append(*errs, &Error{File: file, Line: n.Line, Key: strings.TrimSuffix(prefix, "."), Msg: "must be a mapping"})
			return
		}
		fields := map[string]reflect.StructField{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			fields[name] = f
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := prefix + k.Value
			f, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &Error{File: file, Line: k.Line, Key: key, Msg: "unknown key" + suggest(k.Value, fields)})
				continue
			}
			lines[key] = k.Line
			checkKeys(file, v, f.Type, key+".", lines, errs)
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			lines[prefix+n.Content[i].Value] = n.Content[i].Line
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			key := fmt.Sprintf("%s[%d]", strings.TrimSuffix(prefix, "."), i)
			lines[key] = item.Line
			checkKeys(file, item, t.Elem(), key+".", lines, errs)
		}
	}
}

func suggest(key string, fields map[string]reflect.StructField) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.EqualFold(name, key) || strings.EqualFold(strings.ReplaceAll(name, "_", ""), strings.ReplaceAll(key, "_", "")) {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	for _, name := range names {
		if editDistance(strings.ToLower(name), strings.ToLower(key)) <= 2 {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	return "; known keys: " + strings.Join(names, ", ")
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// UnmarshalYAML accepts Go duration strings ("90s", "10m").
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (write e.g. 90s or 10m)", s) // yamlpos adds the line
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration back as a string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }
