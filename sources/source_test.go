package sources

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dagster-dev/dagster-dev/config"
)

// testConfig returns a config rooted at a temp dir (also the working
// directory, so messages name files relative to it).
func testConfig(t *testing.T) *config.Config {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	return &config.Config{Dir: dir, Namespace: "dagster", Release: "dagster"}
}

func write(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSourceFormats(t *testing.T) {
	cases := []struct {
		name   string
		kind   string
		format string
		files  map[string]string
		path   string
		want   map[string]string
		typ    string
	}{
		{
			name: "dotenv by name", kind: config.KindConfigMap, path: "team.env",
			files: map[string]string{"team.env": "# c\nA=1\nB='two words'\n"},
			want:  map[string]string{"A": "1", "B": "two words"},
		},
		{
			name: "dotenv .env.x", kind: config.KindSecret, path: ".env.secrets",
			files: map[string]string{".env.secrets": "TOKEN=abc\n"},
			want:  map[string]string{"TOKEN": "abc"}, typ: "Opaque",
		},
		{
			name: "dotenv by content", kind: config.KindConfigMap, path: "settings",
			files: map[string]string{"settings": "\n# comment\nexport LOG_LEVEL=debug\n"},
			want:  map[string]string{"LOG_LEVEL": "debug"},
		},
		{
			name: "yaml map keeps scalars as written", kind: config.KindConfigMap, path: "c.yaml",
			files: map[string]string{"c.yaml": "RATIO: 1.50\nON: true\nEMPTY:\nNAME: \"quoted\"\nBLOCK: |\n  line1\n  line2\napp.conf: x\n"},
			want:  map[string]string{"RATIO": "1.50", "ON": "true", "EMPTY": "", "NAME": "quoted", "BLOCK": "line1\nline2\n", "app.conf": "x"},
		},
		{
			name: "yaml by content", kind: config.KindConfigMap, path: "plain",
			files: map[string]string{"plain": "A: 1\n"},
			want:  map[string]string{"A": "1"},
		},
		{
			name: "json map", kind: config.KindConfigMap, path: "c.json",
			files: map[string]string{"c.json": `{"A": "1", "B": 2}`},
			want:  map[string]string{"A": "1", "B": "2"},
		},
		{
			name: "empty yaml", kind: config.KindConfigMap, path: "e.yaml",
			files: map[string]string{"e.yaml": "# nothing yet\n"},
			want:  map[string]string{},
		},
		{
			name: "directory", kind: config.KindConfigMap, path: "conf",
			files: map[string]string{
				"conf/app.json": `{"a":1}`, "conf/LOG_LEVEL": "info\n",
				"conf/.hidden": "x", "conf/.app.json.swp": "x", "conf/app.json~": "x", "conf/4913": "",
				"conf/sub/nested": "skipped",
			},
			want: map[string]string{"app.json": `{"a":1}`, "LOG_LEVEL": "info\n"},
		},
		{
			name: "configmap manifest", kind: config.KindConfigMap, path: "cm.yaml",
			files: map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: src\n  namespace: dagster\n  labels: {a: b}\ndata:\n  A: \"1\"\n  B: two\n"},
			want:  map[string]string{"A": "1", "B": "two"},
		},
		{
			name: "secret manifest data and stringData", kind: config.KindSecret, path: "s.yaml",
			files: map[string]string{"s.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: src}\ntype: Opaque\ndata:\n  A: aGVsbG8=\n  B: b2xk\nstringData:\n  B: new\n  C: plain\n"},
			want:  map[string]string{"A": "hello", "B": "new", "C": "plain"}, typ: "Opaque",
		},
		{
			name: "secret manifest custom type, no extension", kind: config.KindSecret, path: "manifest",
			files: map[string]string{"manifest": "apiVersion: v1\nkind: Secret\nmetadata: {name: src}\ntype: example.com/token\nstringData: {T: x}\n"},
			want:  map[string]string{"T": "x"}, typ: "example.com/token",
		},
		{
			name: "explicit format overrides the name", kind: config.KindConfigMap, path: "vars.yaml", format: config.FormatDotenv,
			files: map[string]string{"vars.yaml": "A=1\n"},
			want:  map[string]string{"A": "1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			for n, c := range tc.files {
				write(t, cfg.Dir, n, c)
			}
			format := tc.format
			if format == "" {
				format = config.FormatAuto
			}
			obj, err := LoadSource(cfg, config.Source{Name: "src", Kind: tc.kind, Path: tc.path, Format: format})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(obj.Data, tc.want) {
				t.Errorf("data = %q, want %q", obj.Data, tc.want)
			}
			if obj.Type != tc.typ {
				t.Errorf("type = %q, want %q", obj.Type, tc.typ)
			}
			if obj.Key() != tc.kind+"/src" {
				t.Errorf("key %s", obj.Key())
			}
		})
	}
}

func TestLoadSourceBadInput(t *testing.T) {
	big := strings.Repeat("A=1234567890\n", MaxSourceBytes/13+10)
	cases := []struct {
		name   string
		kind   string
		format string
		srcNm  string
		files  map[string]string
		path   string
		want   string
	}{
		{name: "missing", path: "nope.env", want: "nope.env: source missing (deleted or renamed); ConfigMap/src keeps its last content"},
		{name: "invalid yaml", path: "c.yaml", files: map[string]string{"c.yaml": "A: 1\nB: [x\n"}, want: "c.yaml:2: invalid YAML"},
		{name: "yaml not a map", path: "c.yaml", files: map[string]string{"c.yaml": "- a\n"}, want: "c.yaml:1: expected a mapping"},
		{name: "yaml nested value", path: "c.yaml", files: map[string]string{"c.yaml": "A: 1\nB:\n  c: d\n"}, want: `c.yaml:3: the value of "B" must be a string, number or boolean, not a mapping`},
		{name: "yaml list value", path: "c.yaml", files: map[string]string{"c.yaml": "A: [1]\n"}, want: `c.yaml:1: the value of "A" must be a string, number or boolean, not a list`},
		{name: "yaml duplicate key", path: "c.yaml", files: map[string]string{"c.yaml": "A: 1\nA: 2\n"}, want: `c.yaml:2: key "A" is already defined at line 1`},
		{name: "yaml bad key", path: "c.yaml", files: map[string]string{"c.yaml": "A: 1\nbad key: 2\n"}, want: `"bad key" is not a valid key`},
		{name: "yaml two docs", path: "c.yaml", files: map[string]string{"c.yaml": "A: 1\n---\nB: 2\n"}, want: "c.yaml:2: expected one YAML document"},
		{name: "yaml binary tag", path: "c.yaml", files: map[string]string{"c.yaml": "A: !!binary aGk=\n"}, want: `c.yaml:1: the value of "A" is binary`},
		{name: "dotenv bad line", path: "a.env", files: map[string]string{"a.env": "A=1\nnot a pair\n"}, want: "a.env:2: expected KEY=VALUE"},
		{name: "dotenv bad name", path: "a.env", files: map[string]string{"a.env": "A-B=1\n"}, want: `a.env:1: invalid variable name "A-B"`},
		{name: "binary file", path: "a.env", files: map[string]string{"a.env": "A=\x00\x01\x02"}, want: "a.env:1: binary content"},
		{name: "not utf8", path: "c.yaml", files: map[string]string{"c.yaml": "A: \xc3\x28\n"}, want: "c.yaml:1: binary content"},
		{name: "too big", path: "big.env", files: map[string]string{"big.env": big}, want: "big.env: file is over 1 MiB"},
		{name: "dir with binary file", path: "d", files: map[string]string{"d/ok": "x", "d/img.png": "\x89PNG\x00\x00"}, want: "img.png:1: binary content"},
		{name: "dir with bad key", path: "d", files: map[string]string{"d/a b": "x"}, want: `file name "a b" is not a valid key`},
		{name: "dir total too big", path: "d", files: map[string]string{"d/a": strings.Repeat("x", MaxSourceBytes/2+1), "d/b": strings.Repeat("y", MaxSourceBytes/2+1)}, want: "d: files total over 1 MiB"},
		{name: "format dir on a file", path: "a.env", format: config.FormatDir, files: map[string]string{"a.env": "A=1"}, want: "format dir needs a directory"},
		{name: "file format on a dir", path: "d", format: config.FormatYAML, files: map[string]string{"d/x": "1"}, want: "d: is a directory"},
		{name: "bad object name", path: "a.env", srcNm: "Bad_Name", files: map[string]string{"a.env": "A=1"}, want: `"Bad_Name" is not a valid object name`},
		{name: "manifest wrong kind", path: "m.yaml", files: map[string]string{"m.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: src}\n"}, want: `m.yaml:2: the manifest is a "Secret" but the source declares a ConfigMap`},
		{name: "manifest wrong name", path: "m.yaml", files: map[string]string{"m.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n"}, want: `m.yaml:4: metadata.name is "other" but the source declares "src"`},
		{name: "manifest wrong namespace", path: "m.yaml", files: map[string]string{"m.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: src\n  namespace: prod\n"}, want: `m.yaml:5: metadata.namespace is "prod"`},
		{name: "manifest wrong apiVersion", path: "m.yaml", files: map[string]string{"m.yaml": "apiVersion: apps/v1\nkind: ConfigMap\n"}, want: `m.yaml:1: apiVersion must be v1`},
		{name: "manifest binaryData", path: "m.yaml", files: map[string]string{"m.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: src}\nbinaryData:\n  b: AAE=\n"}, want: "m.yaml:5: binaryData is not supported"},
		{name: "manifest immutable", path: "m.yaml", files: map[string]string{"m.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: src}\nimmutable: true\n"}, want: "m.yaml:4: immutable objects cannot be updated"},
		{name: "manifest bad key", path: "m.yaml", files: map[string]string{"m.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: src}\ndata:\n  \"a/b\": x\n"}, want: `"a/b" is not a valid key`},
		{name: "secret manifest bad base64", kind: config.KindSecret, path: "s.yaml", files: map[string]string{"s.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: src}\ndata:\n  A: not-base64!\n"}, want: `s.yaml:5: data: the value of "A" is not valid base64`},
		{name: "secret manifest binary data", kind: config.KindSecret, path: "s.yaml", files: map[string]string{"s.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: src}\ndata:\n  A: AAEC\n"}, want: `s.yaml:5: data: the value of "A" is binary`},
		{name: "configmap stringData", path: "m.yaml", files: map[string]string{"m.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: src}\nstringData: {a: b}\n"}, want: "m.yaml:4: stringData is only valid in a Secret"},
		{name: "manifest not a map", path: "m.yaml", format: config.FormatManifest, files: map[string]string{"m.yaml": "- a\n"}, want: "m.yaml:1: expected a ConfigMap or Secret manifest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			for n, c := range tc.files {
				write(t, cfg.Dir, n, c)
			}
			kind, name, format := tc.kind, tc.srcNm, tc.format
			if kind == "" {
				kind = config.KindConfigMap
			}
			if name == "" {
				name = "src"
			}
			if format == "" {
				format = config.FormatAuto
			}
			obj, err := LoadSource(cfg, config.Source{Name: name, Kind: kind, Path: tc.path, Format: format})
			if err == nil {
				t.Fatalf("loaded %v, want an error containing %q", obj.Data, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// Errors about a Secret's file must not quote its content.
func TestLoadSourceErrorsHideValues(t *testing.T) {
	for _, body := range []string{
		"TOKEN=s3cr3t-value\ns3cr3t-value\n",
		"TOKEN: s3cr3t-value\nOTHER: [s3cr3t-value]\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: src}\ndata: {A: s3cr3t-value}\n",
	} {
		cfg := testConfig(t)
		write(t, cfg.Dir, "s", body)
		_, err := LoadSource(cfg, config.Source{Name: "src", Kind: config.KindSecret, Path: "s", Format: config.FormatAuto})
		if err == nil {
			t.Fatalf("%q loaded", body)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error shows the secret: %v", err)
		}
	}
}

func TestObjectHash(t *testing.T) {
	a := &Object{Kind: "ConfigMap", Name: "x", Data: map[string]string{"A": "1", "B": "2"}}
	b := &Object{Kind: "ConfigMap", Name: "x", Data: map[string]string{"B": "2", "A": "1"}, File: "elsewhere"}
	if a.Hash() != b.Hash() {
		t.Error("hash depends on map order or file")
	}
	for _, other := range []*Object{
		{Kind: "ConfigMap", Name: "x", Data: map[string]string{"A": "1", "B": "3"}},
		{Kind: "ConfigMap", Name: "x", Data: map[string]string{"A": "1"}},
		{Kind: "ConfigMap", Name: "x", Data: map[string]string{"A": "1B", "": "2"}},
		{Kind: "Secret", Name: "x", Data: map[string]string{"A": "1", "B": "2"}},
		{Kind: "ConfigMap", Name: "y", Data: map[string]string{"A": "1", "B": "2"}},
	} {
		if other.Hash() == a.Hash() {
			t.Errorf("%v hashes like %v", other, a)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	cases := map[string]struct{ name, body, want string }{
		"env ext":        {"x.env", "A: 1", config.FormatDotenv},
		".env":           {".env", "", config.FormatDotenv},
		".env.local":     {".env.local", "", config.FormatDotenv},
		"yaml":           {"x.yaml", "A: 1", config.FormatYAML},
		"yml manifest":   {"x.yml", "apiVersion: v1\nkind: ConfigMap\n", config.FormatManifest},
		"json manifest":  {"x.json", `{"apiVersion":"v1","kind":"Secret"}`, config.FormatManifest},
		"sniff dotenv":   {"vars", "# hi\n\nA_B=1", config.FormatDotenv},
		"sniff yaml":     {"vars", "A_B: 1", config.FormatYAML},
		"sniff manifest": {"vars", "kind: Secret\napiVersion: v1\n", config.FormatManifest},
	}
	for name, tc := range cases {
		if got := detectFormat(tc.name, []byte(tc.body)); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}

func TestReadLimitedDoesNotReadHugeFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "huge")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse 1 GiB file: reading it whole would take seconds and a GiB.
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = readLimited(p, "huge")
	if err == nil || !strings.Contains(err.Error(), "over 1 MiB") {
		t.Fatalf("got %v", err)
	}
	if bytes.Contains([]byte(err.Error()), []byte("\x00")) {
		t.Error("content in error")
	}
}
