package values

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseDotenv(t *testing.T) {
	in := "\uFEFF# comment\r\n" +
		"\n" +
		"PLAIN=value\n" +
		"  SPACED  =   padded value   \n" +
		"export EXPORTED=1\n" +
		"exported_lower=2\n" +
		"EMPTY=\n" +
		"HASH=a#b\n" +
		"COMMENTED=visible # hidden\n" +
		"TABCOMMENT=visible\t# hidden\n" +
		"SINGLE='lit $HOME \\n # not a comment'\n" +
		`DOUBLE="tab\there\nnew \"q\" \\ \$ \q"` + "\n" +
		"QUOTED_COMMENT=\"x\" # fine\n" +
		"MULTI=\"line1\n" +
		"line2\"\n" +
		"SQMULTI='a\n" +
		"\n" +
		"b'\n" +
		"EQUALS=a=b=c\n" +
		"DUP=first\n" +
		"DUP=last\n" +
		"URL=postgres://u:p@h:5432/db?x=1\n" +
		"NOEOL=end"
	got, err := ParseDotenv("t.env", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PLAIN":          "value",
		"SPACED":         "padded value",
		"EXPORTED":       "1",
		"exported_lower": "2",
		"EMPTY":          "",
		"HASH":           "a#b",
		"COMMENTED":      "visible",
		"TABCOMMENT":     "visible",
		"SINGLE":         `lit $HOME \n # not a comment`,
		"DOUBLE":         "tab\there\nnew \"q\" \\ $ \\q",
		"QUOTED_COMMENT": "x",
		"MULTI":          "line1\nline2",
		"SQMULTI":        "a\n\nb",
		"EQUALS":         "a=b=c",
		"DUP":            "last",
		"URL":            "postgres://u:p@h:5432/db?x=1",
		"NOEOL":          "end",
	}
	if !reflect.DeepEqual(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected key %s", k)
			}
		}
	}
}

func TestParseDotenvErrors(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"no equals", "A=1\nSECRETVALUE\n", "t.env:2: expected KEY=VALUE"},
		{"bad name digit", "1A=x\n", `t.env:1: invalid variable name "1A"`},
		{"bad name dash", "MY-VAR=x\n", `t.env:1: invalid variable name "MY-VAR"`},
		{"bad name dot", "my.var=x\n", `t.env:1: invalid variable name "my.var"`},
		{"empty name", "=x\n", `t.env:1: invalid variable name ""`},
		{"unclosed double", "A=1\nB=\"open\nC=2\n", "t.env:2: the value of B opens a \" quote that is never closed"},
		{"unclosed single", "B='open", "t.env:1: the value of B opens a ' quote"},
		{"text after quote", "A='x' y\n", "t.env:1: unexpected text after the closing quote of A"},
		{"nul byte", "A=1\nB=\x00\n", "t.env:2: binary content (NUL byte)"},
		{"invalid utf8", "A=1\nB=2\nC=\xff\xfe\n", "t.env:3: binary content (not UTF-8 text)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDotenv("t.env", []byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// A parse error must never echo the line: it may be a secret.
func TestParseDotenvErrorsDoNotLeakValues(t *testing.T) {
	for _, in := range []string{"hunter2-password\n", "A='hunter2-password", "A='hunter2-password' trailing\n"} {
		_, err := ParseDotenv("t.env", []byte(in))
		if err == nil {
			t.Fatalf("%q parsed", in)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks the value: %v", err)
		}
	}
}

func TestEnvName(t *testing.T) {
	for _, ok := range []string{"A", "_a", "A_1", "dagster_home"} {
		if !envName.MatchString(ok) {
			t.Errorf("%q rejected", ok)
		}
	}
	for _, bad := range []string{"", "1A", "A-B", "A.B", "A B", "É"} {
		if envName.MatchString(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}
