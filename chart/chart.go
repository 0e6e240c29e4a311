// Package chart holds dagster-dev's Helm chart (the directory chart/dagster, embedded in the binary)
// and the Helm SDK operations on its release. No helm binary is involved.
//
// The chart is a normal Helm chart (apiVersion v2) with two local subcharts, postgresql and
// rabbitmq; `helm install ./chart/dagster` works too. See chart/dagster/values.yaml for the values.
//
// API, modelled on Helm's pkg/action (one struct per verb, options as fields, Run returns the result):
//
//	Load() (*chart.Chart, error)                       the embedded chart (Metadata.Version, AppVersion)
//	Render(release, namespace, values) (Manifests, error)  client-only render, schema validated
//	Digest(ch, values) (string, error)                  what Apply compares to skip an unchanged release
//	NewActionConfig(getter, namespace, log) (*action.Configuration, error)  getter: kube.Getter
//	(&Apply{...}).Run(ctx) (*Result, error)             install or upgrade, no wait; recovers pending releases
//	(&Uninstall{...}).Run(ctx) (*UninstallResult, error) idempotent
//	(&Status{...}).Run() (*ReleaseStatus, error)        ErrReleaseNotFound when absent
package chart

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// The `all:` prefix is required: without it go:embed drops files starting with `_` or `.`, such as
// templates/_helpers.tpl and .helmignore.
//
//go:embed all:dagster
var chartFS embed.FS

// chartRoot is the chart directory inside chartFS.
const chartRoot = "dagster"

// Load returns the embedded chart, freshly loaded on every call: Helm's dependency processing
// removes disabled subcharts from the *chart.Chart it is given, so a chart must not be reused
// across renders with different values.
func Load() (*helmchart.Chart, error) {
	files, err := chartFiles()
	if err != nil {
		return nil, err
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load embedded chart: %w", err)
	}
	return ch, nil
}

// FS returns the embedded chart directory (for writing it to disk, e.g. for `helm install` or lint).
func FS() fs.FS {
	sub, err := fs.Sub(chartFS, chartRoot)
	if err != nil {
		// chartRoot is a constant that exists in the embedded tree; this cannot fail.
		panic(err)
	}
	return sub
}

func chartFiles() ([]*loader.BufferedFile, error) {
	var files []*loader.BufferedFile
	err := fs.WalkDir(chartFS, chartRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := chartFS.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: strings.TrimPrefix(p, chartRoot+"/"), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read embedded chart: %w", err)
	}
	return files, nil
}

// digestVersion is mixed into every digest so that a change of the digest's definition reads as a
// change of the release (one upgrade) rather than as "unchanged".
const digestVersion = "dagster-dev-chart-digest-v1"

// Digest identifies what Apply would deploy: every file of the chart (subcharts included) and the
// user-supplied values. Apply stores it on the release and skips the upgrade when it is equal.
// It is hex, 40 characters, short enough for a Kubernetes label value.
func Digest(ch *helmchart.Chart, values map[string]any) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", digestVersion)
	files := append([]*helmchart.File(nil), ch.Raw...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	for _, f := range files {
		// Length-prefixed, so that no two different file sets hash the same stream.
		fmt.Fprintf(h, "file %d %s %d\n", len(f.Name), f.Name, len(f.Data))
		h.Write(f.Data)
	}
	if values == nil {
		values = map[string]any{}
	}
	// encoding/json writes map keys sorted, which makes the encoding canonical.
	v, err := json.Marshal(values)
	if err != nil {
		return "", fmt.Errorf("chart digest: values are not serialisable: %w", err)
	}
	fmt.Fprintf(h, "values %d\n", len(v))
	h.Write(v)
	return hex.EncodeToString(h.Sum(nil))[:40], nil
}

// deepCopy copies the maps and slices of a values tree, so that nothing Helm does to the values it
// is given can reach the caller's map.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}

func copyValues(values map[string]any) map[string]any {
	if values == nil {
		return map[string]any{}
	}
	return deepCopy(values).(map[string]any)
}

// templatePath turns the engine's keys ("dagster/templates/x.yaml",
// "dagster/charts/postgresql/templates/y.yaml") into paths relative to the chart root.
func templatePath(name string) string {
	return strings.TrimPrefix(path.Clean(name), chartRoot+"/")
}
