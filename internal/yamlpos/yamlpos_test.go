package yamlpos

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

func TestDocumentSyntaxErrorLines(t *testing.T) {
	for _, c := range []struct {
		name, in string
		line     int
		msg      string
	}{
		// The example: the stray key is on line 3 (yaml.v3 said
		// "line 1", one copy kept 1 and the other guessed 2).
		{"key in a sequence", "x:\n  - a\n  b: 1\n", 3, "did not find expected '-' indicator (while parsing a block collection that starts at line 2)"},
		{"unclosed flow sequence", "a: 1\nb: [unclosed\n", 2, "did not find expected ',' or ']'"},
		{"unclosed flow sequence, next key", "a: 1\nb: [1,\nc: 2\n", 2, "did not find expected ',' or ']'"},
		{"unclosed quote", "a: 1\nb: 'x\n", 2, "found unexpected end of stream"},
		{"bad indentation", "a:\n  b: 1\n c: 2\n", 3, "did not find expected key"},
		{"mapping value in a scalar", "a: 1\nb: 2\n  c: 3\n", 3, "mapping values are not allowed in this context"},
		{"tab", "a: 1\n\tb: 2\n", 2, "found a tab character"},
		{"second document", "a: 1\n---\nb: 2\n", 2, "expected one YAML document; this is a second one"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Document([]byte(c.in))
			ps := Problems(err)
			if len(ps) != 1 || ps[0].Line != c.line || !strings.HasPrefix(ps[0].Msg, c.msg) {
				t.Errorf("Problems = %+v (err %v), want line %d, %q", ps, err, c.line, c.msg)
			}
		})
	}
}

func TestDocumentEmpty(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "~\n", "---\n"} {
		n, err := Document([]byte(in))
		if n != nil || err != nil {
			t.Errorf("%q: node %v, err %v; want nil, nil", in, n, err)
		}
	}
	n, err := Document([]byte("a: 1\n"))
	if err != nil || n == nil || n.Kind != yaml.MappingNode || n.Line != 1 {
		t.Errorf("a mapping: node %+v, err %v", n, err)
	}
}

type strict struct{}

func (*strict) UnmarshalYAML(n *yaml.Node) error {
	return errors.New("line 99: not accepted") // its own line prefix is dropped
}

func TestDecodeErrorsOnePerField(t *testing.T) {
	n, err := Document([]byte("a: 1\nn: many\nl: 3\ns: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		N int      `yaml:"n"`
		L []string `yaml:"l"`
		S strict   `yaml:"s"`
	}
	ps := Problems(n.Decode(&v))
	want := []int{2, 3, 4}
	if len(ps) < 3 {
		t.Fatalf("Problems = %+v", ps)
	}
	for i, l := range want {
		if ps[i].Line != l {
			t.Errorf("problem %d at line %d, want %d: %+v", i, ps[i].Line, l, ps)
		}
	}
	if !strings.Contains(ps[0].Msg, "many") || ps[2].Msg != "not accepted" {
		t.Errorf("messages: %+v", ps)
	}
	var m map[string]any
	if ps := Problems(yaml.Unmarshal([]byte("a: 1\nb: 2\na: 3\n"), &m)); len(ps) != 1 || ps[0].Line != 3 || !strings.Contains(ps[0].Msg, `"a" already defined at line 1`) {
		t.Errorf("duplicate key: %+v", ps)
	}
}

// An error that is not from go.yaml.in/yaml/v4 is one problem without a line.
func TestProblemsOfOtherErrors(t *testing.T) {
	for err, want := range map[string]string{
		"yaml: line 1: did not find expected ',' or ']'": "line 1: did not find expected ',' or ']'",
		"reading values.yaml: permission denied":         "reading values.yaml: permission denied",
	} {
		if ps := Problems(errors.New(err)); len(ps) != 1 || ps[0].Line != 0 || ps[0].Msg != want {
			t.Errorf("%q: Problems = %+v, want line 0, %q", err, ps, want)
		}
	}
	if Problems(nil) != nil {
		t.Error("Problems(nil) is not nil")
	}
}
