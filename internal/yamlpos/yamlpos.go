// Package yamlpos is the one place dagster-dev turns YAML errors into
// positions (1-based line and column) for file:line messages: the config
// file, chart values files and watch sources all go through it, so the same
// mistake is reported at the same line everywhere.
//
// # Library
//
// YAML is read with go.yaml.in/yaml/v4, the YAML organisation's maintained
// continuation of gopkg.in/yaml.v3 (which is archived). Alternatives weighed:
//
//   - gopkg.in/yaml.v3 and its maintained fork go.yaml.in/yaml/v3 (already in
//     the build) keep the node API we walk for key lines, but report syntax
//     errors only as text, and parser errors carry the 0-based line of the
//     enclosing construct instead of the problem: "x:\n  - a\n  b: 1\n"
//     says "line 1" although the stray key is on line 3. Every caller had
//     to guess the correction, and two copies guessed differently.
//   - github.com/goccy/go-yaml reports exact positions and paths, but has a
//     different AST, so the config's key walk and every node consumer would
//     be rewritten, and it would be an unrelated YAML implementation beside
//     the go-yaml family (v2/v3) that Kubernetes and Helm pull in anyway.
//   - sigs.k8s.io/yaml converts YAML to JSON first and keeps no positions.
//
// yaml/v4 keeps the yaml.v3 node API (Node.Line, Node.Column, Decode, the
// Unmarshaler interface), decodes values the same way, and returns typed
// errors with positions: *yaml.LoadError for syntax errors (the problem's
// Mark and the enclosing construct's ContextMark) and *yaml.LoadErrors with
// one positioned entry per field that cannot be decoded. Its classic
// Unmarshal keeps yaml.v3's decoding rules, so values read the same.
//
// Callers parse with Document (one document, the root node) and turn any
// error, from Document, Node.Decode or Unmarshal, into positions with
// Problems.
package yamlpos

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v4"
)

// ErrSecondDocument is wrapped by the *Problem Document returns for input
// with more than one document, for callers that word it themselves.
var ErrSecondDocument = errors.New("expected one YAML document; this is a second one")

// Problem is one YAML error at a position. It is an error itself, so
// Document can return it and Problems finds it again.
type Problem struct {
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	Msg    string // the problem, without "yaml:" or the position
	Err    error  // what it wraps, if anything (ErrSecondDocument)
}

// Unwrap returns Err.
func (p *Problem) Unwrap() error { return p.Err }

func (p *Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	}
	return p.Msg
}

// Document parses data as exactly one YAML document and returns its root
// node (the content of the document node), or nil when data holds no
// document, only comments or an explicit null. Every error it returns is
// positioned: pass it to Problems. A second document is a *Problem at the
// line the second document starts.
func Document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, atEnd(data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Problem{Line: extra.Line, Column: extra.Column, Msg: ErrSecondDocument.Error(), Err: ErrSecondDocument}
	} else if !errors.Is(err, io.EOF) {
		return nil, atEnd(data, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	return root, nil
}

// atEnd points a syntax error found at the very end of the input (an
// unclosed bracket or quote) at the line where the unclosed construct
// starts: the end of the file is past the last line a user can see.
func atEnd(data []byte, err error) error {
	var le *yaml.LoadError
	if !errors.As(err, &le) {
		return err
	}
	p := fromLoadError(le)
	if le.Mark.Index >= len(bytes.TrimRight(data, " \t\r\n")) && le.ContextMark.Line > 0 {
		p.Line, p.Column = le.ContextMark.Line, le.ContextMark.Column
	}
	return p
}

func fromLoadError(le *yaml.LoadError) *Problem {
	msg := le.Message
	if le.ContextMsg != "" && le.ContextMark.Line > 0 && le.ContextMark.Line != le.Mark.Line {
		msg += fmt.Sprintf(" (%s that starts at line %d)", le.ContextMsg, le.ContextMark.Line)
	}
	return &Problem{Line: le.Mark.Line, Column: le.Mark.Column, Msg: msg}
}

// Problems returns every positioned problem in err, in input order, and at
// least one when err is not nil:
//   - a *Problem (from Document) as it is;
//   - a go.yaml.in/yaml/v4 syntax error (*yaml.LoadError) at the problem's
//     line (Document also moves an end-of-input error to where the
//     unclosed construct opens);
//   - go.yaml.in/yaml/v4 decode errors (*yaml.LoadErrors, from Unmarshal or
//     Node.Decode, including errors of UnmarshalYAML methods) one per field,
//     at the field's value.
//
// Anything else is one Problem with Line 0 and err's text, without a
// leading "yaml: ".
func Problems(err error) []Problem {
	if err == nil {
		return nil
	}
	var p *Problem
	if errors.As(err, &p) {
		return []Problem{*p}
	}
	var les *yaml.LoadErrors
	if errors.As(err, &les) && len(les.Errors) > 0 {
		out := make([]Problem, 0, len(les.Errors))
		for _, le := range les.Errors {
			out = append(out, Problem{Line: le.Mark.Line, Column: le.Mark.Column, Msg: stripLine(le.Message)})
		}
		return out
	}
	var le *yaml.LoadError
	if errors.As(err, &le) {
		return []Problem{*fromLoadError(le)}
	}
	return []Problem{{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
}

var ownLine = regexp.MustCompile(`^line \d+: `)

// stripLine drops a "line N: " an UnmarshalYAML method may have put in its
// message; the problem already carries the line.
func stripLine(msg string) string { return ownLine.ReplaceAllString(msg, "") }
