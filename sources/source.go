package sources

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v4"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/userfile"
	"github.com/dagster-dev/dagster-dev/internal/values"
	"github.com/dagster-dev/dagster-dev/internal/yamlpos"
)

// MaxSourceBytes bounds one source file and one object. Kubernetes stores
// at most 1 MiB per ConfigMap or Secret, and anything that large is not an
// environment; refusing early gives a clear message instead of an etcd
// error.
const MaxSourceBytes = 1 << 20

// Object is the desired content of one ConfigMap or Secret, built from a
// source. Data holds text only: every source ends up as environment
// variables or small config files, and binary input is rejected.
type Object struct {
	Kind string // config.KindConfigMap or config.KindSecret
	Name string
	// Type is the Secret type ("Opaque" unless a manifest says otherwise).
	Type string
	Data map[string]string
	// File is the source path as the user knows it, for messages.
	File string
}

// Key identifies the object within the namespace: "ConfigMap/name".
func (o *Object) Key() string { return o.Kind + "/" + o.Name }

// Hash is a content hash over the sorted data (and Secret type), so equal
// content always gives the same hash, and metadata or timestamps never
// count. Lengths are hashed before each field so that no two different
// maps can produce the same byte stream.
func (o *Object) Hash() string {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s", len(s), s) }
	field(o.Kind)
	field(o.Name)
	field(o.Type)
	keys := make([]string, 0, len(o.Data))
	for k := range o.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field(k)
		field(o.Data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// LoadSource reads and validates one declared source. On any problem it
// returns an error naming the file (and line when there is one) and never
// the content, which may be secret.
func LoadSource(cfg *config.Config, src config.Source) (*Object, error) {
	path := cfg.Resolve(src.Path)
	display := userfile.DisplayPath(path)
	obj := &Object{Kind: src.Kind, Name: src.Name, File: display, Data: map[string]string{}}
	if src.Kind == config.KindSecret {
		obj.Type = "Opaque"
	}
	if src.Kind != config.KindConfigMap && src.Kind != config.KindSecret {
		return nil, fmt.Errorf("%s: kind must be ConfigMap or Secret, not %q", display, src.Kind)
	}
	if errs := validation.IsDNS1123Subdomain(src.Name); len(errs) > 0 {
		return nil, fmt.Errorf("%s: %q is not a valid object name: %s", display, src.Name, strings.Join(errs, "; "))
	}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: source missing (deleted or renamed); %s keeps its last content", display, obj.Key())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", display, unwrapPathError(err))
	}

	format := src.Format
	if format == "" || format == config.FormatAuto {
		if st.IsDir() {
			format = config.FormatDir
		}
	}
	if format == config.FormatDir {
		if !st.IsDir() {
			return nil, fmt.Errorf("%s: format dir needs a directory, this is a file", display)
		}
		if err := loadDir(path, display, obj); err != nil {
			return nil, err
		}
		return obj, checkObject(obj)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory; use format dir (or auto) for one key per file", display)
	}
	data, err := readLimited(path, display)
	if err != nil {
		return nil, err
	}
	if err := userfile.CheckText(display, data); err != nil {
		return nil, err
	}
	if format == "" || format == config.FormatAuto {
		format = detectFormat(path, data)
	}
	switch format {
	case config.FormatDotenv:
		obj.Data, err = values.ParseDotenv(display, data)
	case config.FormatYAML:
		obj.Data, err = parseYAMLMap(display, data)
	case config.FormatManifest:
		err = parseManifest(display, data, obj, cfg.Namespace)
	default:
		err = fmt.Errorf("%s: unknown format %q (use auto, dotenv, yaml, dir or manifest)", display, format)
	}
	if err != nil {
		return nil, err
	}
	return obj, checkObject(obj)
}

// readLimited reads a file, refusing files over MaxSourceBytes without
// reading them whole (a source pointed at a large file by mistake must not
// make watch balloon).
func readLimited(path, display string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", display, unwrapPathError(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSourceBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", display, unwrapPathError(err))
	}
	if len(data) > MaxSourceBytes {
		return nil, fmt.Errorf("%s: file is over 1 MiB, the most Kubernetes stores in one ConfigMap or Secret", display)
	}
	return data, nil
}

// loadDir builds one key per regular file, like `kubectl create configmap
// --from-file=DIR`, except that dotfiles and editor temp files are skipped:
// a swap file or .DS_Store must never become a key.
func loadDir(dir, display string, obj *Object) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", display, unwrapPathError(err))
	}
	total := 0
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || IsEditorTemp(name) {
			continue
		}
		p := filepath.Join(dir, name)
		st, err := os.Stat(p) // follows symlinks, like kubectl
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		fileDisplay := filepath.Join(display, name)
		data, err := readLimited(p, fileDisplay)
		if err != nil {
			return err
		}
		if err := userfile.CheckText(fileDisplay, data); err != nil {
			return err
		}
		if errs := validation.IsConfigMapKey(name); len(errs) > 0 {
			return fmt.Errorf("%s: file name %q is not a valid key: %s", fileDisplay, name, strings.Join(errs, "; "))
		}
		total += len(name) + len(data)
		if total > MaxSourceBytes {
			return fmt.Errorf("%s: files total over 1 MiB, the most Kubernetes stores in one ConfigMap or Secret", display)
		}
		obj.Data[name] = string(data)
	}
	return nil
}

// checkObject applies the rules every format shares.
func checkObject(obj *Object) error {
	total := 0
	keys := make([]string, 0, len(obj.Data))
	for k := range obj.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if errs := validation.IsConfigMapKey(k); len(errs) > 0 {
			return fmt.Errorf("%s: %q is not a valid key: %s", obj.File, k, strings.Join(errs, "; "))
		}
		total += len(k) + len(obj.Data[k])
	}
	if total > MaxSourceBytes {
		return fmt.Errorf("%s: the %s would hold over 1 MiB, the most Kubernetes stores in one object", obj.File, obj.Kind)
	}
	return nil
}

var dotenvLine = regexp.MustCompile(`^(export[ \t]+)?[A-Za-z_][A-Za-z0-9_]*[ \t]*=`)

// detectFormat picks dotenv, yaml or manifest for a file: by name first
// (.env, *.env, .env.*, *.yaml, *.yml, *.json), else by the first line that
// is not a comment. A YAML mapping with apiVersion and kind is a manifest.
func detectFormat(path string, data []byte) string {
	base := strings.ToLower(filepath.Base(path))
	ext := filepath.Ext(base)
	switch {
	case base == ".env" || strings.HasPrefix(base, ".env.") || ext == ".env":
		return config.FormatDotenv
	case ext == ".yaml" || ext == ".yml" || ext == ".json":
		if looksLikeManifest(data) {
			return config.FormatManifest
		}
		return config.FormatYAML
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if dotenvLine.MatchString(line) {
			return config.FormatDotenv
		}
		break
	}
	if looksLikeManifest(data) {
		return config.FormatManifest
	}
	return config.FormatYAML
}

func looksLikeManifest(data []byte) bool {
	var probe struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
	}
	if err := yaml.Unmarshal(data, &probe); err != nil {
		return false
	}
	return probe.APIVersion != "" && probe.Kind != ""
}

// parseYAMLMap reads a flat mapping of keys to scalars. Scalars keep the
// text as written ("1.50" stays "1.50", not 1.5), since the value becomes a
// string in the object anyway.
func parseYAMLMap(file string, data []byte) (map[string]string, error) {
	root, err := oneDocument(file, data)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if root == nil {
		return out, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, &userfile.Error{File: file, Line: root.Line, Msg: "expected a mapping of KEY: value"}
	}
	if err := scalarMap(file, root, "", out); err != nil {
		return nil, err
	}
	return out, nil
}

// scalarMap copies a mapping of scalars into out; what names the mapping in
// messages ("data" for manifests, empty for plain YAML).
func scalarMap(file string, m *yaml.Node, what string, out map[string]string) error {
	prefix := ""
	if what != "" {
		prefix = what + ": "
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return &userfile.Error{File: file, Line: k.Line, Msg: prefix + "keys must be plain strings"}
		}
		if k.Value == "<<" {
			return &userfile.Error{File: file, Line: k.Line, Msg: prefix + "merge keys (<<) are not supported here"}
		}
		if prev, dup := seen[k.Value]; dup {
			return &userfile.Error{File: file, Line: k.Line, Msg: fmt.Sprintf("%skey %q is already defined at line %d", prefix, k.Value, prev)}
		}
		seen[k.Value] = k.Line
		for v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		if v.Kind != yaml.ScalarNode {
			return &userfile.Error{File: file, Line: v.Line, Msg: fmt.Sprintf("%sthe value of %q must be a string, number or boolean, not a %s", prefix, k.Value, nodeKind(v))}
		}
		if v.Tag == "!!null" {
			out[k.Value] = ""
			continue
		}
		if v.Tag == "!!binary" {
			return &userfile.Error{File: file, Line: v.Line, Msg: fmt.Sprintf("%sthe value of %q is binary; only text can become environment variables", prefix, k.Value)}
		}
		out[k.Value] = v.Value
	}
	return nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "non-scalar"
	}
}

// oneDocument parses data as a single YAML document; nil for an empty one.
// Positions come from yamlpos, the one helper config and values use too.
func oneDocument(file string, data []byte) (*yaml.Node, error) {
	root, err := yamlpos.Document(data)
	if errors.Is(err, yamlpos.ErrSecondDocument) {
		return nil, &userfile.Error{File: file, Line: yamlpos.Problems(err)[0].Line, Msg: yamlpos.ErrSecondDocument.Error()}
	}
	if err != nil {
		return nil, values.YAMLError(file, err)
	}
	return root, nil
}

// parseManifest reads a v1 ConfigMap or Secret manifest (YAML or JSON). It
// must describe the declared object: a different kind, name or namespace is
// almost certainly the wrong file, and applying it under the declared name
// would be surprising. Only data, stringData (Secrets) and type are used;
// labels and annotations of the manifest are not applied.
func parseManifest(file string, data []byte, obj *Object, envNamespace string) error {
	root, err := oneDocument(file, data)
	if err != nil {
		return err
	}
	if root == nil || root.Kind != yaml.MappingNode {
		line := 1
		if root != nil {
			line = root.Line
		}
		return &userfile.Error{File: file, Line: line, Msg: "expected a ConfigMap or Secret manifest (a mapping with apiVersion and kind)"}
	}
	fields := map[string]*yaml.Node{}
	keyLine := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		fields[root.Content[i].Value] = root.Content[i+1]
		keyLine[root.Content[i].Value] = root.Content[i].Line
	}
	str := func(n *yaml.Node) string {
		if n == nil || n.Kind != yaml.ScalarNode {
			return ""
		}
		return n.Value
	}
	if v := str(fields["apiVersion"]); v != "v1" {
		return &userfile.Error{File: file, Line: lineOr(fields["apiVersion"], root), Msg: fmt.Sprintf("apiVersion must be v1, not %q", v)}
	}
	if k := str(fields["kind"]); k != obj.Kind {
		return &userfile.Error{File: file, Line: lineOr(fields["kind"], root), Msg: fmt.Sprintf("the manifest is a %q but the source declares a %s", k, obj.Kind)}
	}
	meta := fields["metadata"]
	var name, namespace *yaml.Node
	if meta != nil && meta.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(meta.Content); i += 2 {
			switch meta.Content[i].Value {
			case "name":
				name = meta.Content[i+1]
			case "namespace":
				namespace = meta.Content[i+1]
			}
		}
	}
	if name != nil && str(name) != obj.Name {
		return &userfile.Error{File: file, Line: name.Line, Msg: fmt.Sprintf("metadata.name is %q but the source declares %q; make them equal", str(name), obj.Name)}
	}
	if namespace != nil && str(namespace) != "" {
		if str(namespace) != envNamespace {
			// A manifest naming another namespace is a copy from elsewhere;
			// applying it into this environment would surprise either way.
			return &userfile.Error{File: file, Line: namespace.Line, Msg: fmt.Sprintf("metadata.namespace is %q but the environment's namespace is %q; remove it or make them equal", str(namespace), envNamespace)}
		}
	}
	if n := fields["immutable"]; n != nil && str(n) == "true" {
		return &userfile.Error{File: file, Line: n.Line, Msg: "immutable objects cannot be updated, so they cannot be watched; remove immutable: true"}
	}
	if n := fields["binaryData"]; n != nil && n.Kind == yaml.MappingNode && len(n.Content) > 0 {
		return &userfile.Error{File: file, Line: n.Line, Msg: "binaryData is not supported: only text can become environment variables"}
	}
	if d := fields["data"]; d != nil && !(d.Kind == yaml.ScalarNode && d.Tag == "!!null") {
		if d.Kind != yaml.MappingNode {
			return &userfile.Error{File: file, Line: d.Line, Msg: "data must be a mapping"}
		}
		raw := map[string]string{}
		if err := scalarMap(file, d, "data", raw); err != nil {
			return err
		}
		lines := map[string]int{}
		for i := 0; i+1 < len(d.Content); i += 2 {
			lines[d.Content[i].Value] = d.Content[i+1].Line
		}
		for k, v := range raw {
			if obj.Kind == config.KindSecret {
				dec, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v), ""))
				if err != nil {
					return &userfile.Error{File: file, Line: lines[k], Msg: fmt.Sprintf("data: the value of %q is not valid base64 (Secret data is base64; use stringData for plain text)", k)}
				}
				if err := userfile.CheckText(file, dec); err != nil {
					return &userfile.Error{File: file, Line: lines[k], Msg: fmt.Sprintf("data: the value of %q is binary; only text can become environment variables", k)}
				}
				v = string(dec)
			}
			obj.Data[k] = v
		}
	}
	if sd := fields["stringData"]; sd != nil && !(sd.Kind == yaml.ScalarNode && sd.Tag == "!!null") {
		if obj.Kind != config.KindSecret {
			return &userfile.Error{File: file, Line: keyLine["stringData"], Msg: "stringData is only valid in a Secret"}
		}
		if sd.Kind != yaml.MappingNode {
			return &userfile.Error{File: file, Line: sd.Line, Msg: "stringData must be a mapping"}
		}
		// stringData wins over data, as the API server merges it.
		if err := scalarMap(file, sd, "stringData", obj.Data); err != nil {
			return err
		}
	}
	if t := fields["type"]; t != nil {
		if obj.Kind != config.KindSecret {
			return &userfile.Error{File: file, Line: t.Line, Msg: "type is only valid in a Secret"}
		}
		if str(t) != "" {
			obj.Type = str(t)
		}
	}
	return nil
}

func lineOr(n, fallback *yaml.Node) int {
	if n != nil {
		return n.Line
	}
	return fallback.Line
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
