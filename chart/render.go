package chart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Manifests is a client-only rendering of the chart.
type Manifests struct {
	// Files maps each template that rendered to something (path relative to the chart root, e.g.
	// "templates/deployment-dagit.yaml", "charts/postgresql/templates/statefulset.yaml") to its
	// YAML. Partials and NOTES.txt are left out.
	Files map[string]string
	// Objects are the decoded Kubernetes objects, hooks excluded, sorted by kind and name.
	Objects []*unstructured.Unstructured
	// Hooks are objects annotated helm.sh/hook (the `helm test` pod).
	Hooks []*unstructured.Unstructured
	// Notes is the rendered NOTES.txt.
	Notes string
}

// Find returns the object of that kind and name, or nil.
func (m Manifests) Find(kind, name string) *unstructured.Unstructured {
	for _, o := range append(append([]*unstructured.Unstructured(nil), m.Objects...), m.Hooks...) {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// OfKind returns the objects (hooks excluded) of one kind.
func (m Manifests) OfKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range m.Objects {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// Render renders the embedded chart for a release without a cluster (like `helm template`):
// values are merged over the chart defaults, checked against values.schema.json and rendered.
// Helm's `lookup` finds nothing here, so generated passwords differ on every call.
func Render(release, namespace string, values map[string]any) (Manifests, error) {
	return renderRelease(release, namespace, values, false)
}

// renderRelease is Render, as an install or (upgrade) as an upgrade of an existing release.
func renderRelease(release, namespace string, values map[string]any, upgrade bool) (Manifests, error) {
	if err := chartutil.ValidateReleaseName(release); err != nil {
		return Manifests{}, fmt.Errorf("render chart: release name %q: %w", release, err)
	}
	ch, err := Load()
	if err != nil {
		return Manifests{}, err
	}
	vals := copyValues(values)
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		return Manifests{}, fmt.Errorf("render chart: %w", err)
	}
	opts := chartutil.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: !upgrade, IsUpgrade: upgrade}
	if upgrade {
		opts.Revision = 2
	}
	renderVals, err := chartutil.ToRenderValuesWithSchemaValidation(ch, vals, opts, chartutil.DefaultCapabilities.Copy(), false)
	if err != nil {
		return Manifests{}, fmt.Errorf("render chart: %w", explainValuesError(err))
	}
	rendered, err := engine.Engine{}.Render(ch, renderVals)
	if err != nil {
		return Manifests{}, fmt.Errorf("render chart: %w", err)
	}

	m := Manifests{Files: map[string]string{}}
	for name, content := range rendered {
		p := templatePath(name)
		base := p[strings.LastIndex(p, "/")+1:]
		switch {
		case base == "NOTES.txt":
			if p == "templates/NOTES.txt" {
				m.Notes = content
			}
			continue
		case strings.HasPrefix(base, "_"), strings.TrimSpace(content) == "":
			continue
		}
		m.Files[p] = content
		objs, err := decodeObjects(content)
		if err != nil {
			return Manifests{}, fmt.Errorf("render chart: %s: %w", p, err)
		}
		for _, o := range objs {
			if _, hook := o.GetAnnotations()["helm.sh/hook"]; hook {
				m.Hooks = append(m.Hooks, o)
			} else {
				m.Objects = append(m.Objects, o)
			}
		}
	}
	sortObjects(m.Objects)
	sortObjects(m.Hooks)
	return m, nil
}

func sortObjects(objs []*unstructured.Unstructured) {
	sort.Slice(objs, func(i, j int) bool {
		if objs[i].GetKind() != objs[j].GetKind() {
			return objs[i].GetKind() < objs[j].GetKind()
		}
		return objs[i].GetName() < objs[j].GetName()
	})
}

// decodeObjects splits a multi-document YAML file into objects, skipping empty documents.
func decodeObjects(content string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewBufferString(content), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("object without kind or name: %v", obj)
		}
		out = append(out, u)
	}
}

// jsonPointerAt matches the instance locations in the schema validator's messages ("at '/dagit/service/type'").
var jsonPointerAt = regexp.MustCompile(`at '((?:/[^']*)?)'`)

// ValuesError is a values.schema.json violation. Its message names the offending keys in the
// dotted form used on Helm's command line (dagit.service.type) rather than as JSON pointers.
type ValuesError struct {
	msg string
	err error
}

func (e *ValuesError) Error() string { return e.msg }
func (e *ValuesError) Unwrap() error { return e.err }

// explainValuesError rewrites Helm's schema validation error so that it names keys as dotted
// paths; other errors pass through unchanged.
func explainValuesError(err error) error {
	var schemaErr chartutil.JSONSchemaValidationError
	if !errors.As(err, &schemaErr) && !strings.Contains(err.Error(), "values don't meet the specifications of the schema") {
		return err
	}
	msg := jsonPointerAt.ReplaceAllStringFunc(err.Error(), func(s string) string {
		ptr := jsonPointerAt.FindStringSubmatch(s)[1]
		return fmt.Sprintf("at '%s'", dottedKey(ptr))
	})
	return &ValuesError{msg: "invalid chart values: " + strings.TrimSpace(msg), err: err}
}

// dottedKey turns a JSON pointer (/dagit/env_secrets/0) into a values key (dagit.env_secrets[0]).
func dottedKey(ptr string) string {
	if ptr == "/" || ptr == "" {
		return "(top level)"
	}
	var b strings.Builder
	for _, part := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		if isIndex(part) {
			fmt.Fprintf(&b, "[%s]", part)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(part)
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
