package chart

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// values parses YAML the way Helm parses a values file.
func values(t *testing.T, doc string) map[string]any {
	t.Helper()
	out := map[string]any{}
	if err := yaml.Unmarshal([]byte(doc), &out); err != nil {
		t.Fatalf("bad test values: %v\n%s", err, doc)
	}
	return out
}

// render renders the chart as dagster-dev installs it: with the bundled example location on (the
// chart's default is off; values.For asks for it) unless vals decide. renderChartDefaults renders
// the chart's own defaults.
func render(t *testing.T, release string, vals map[string]any) Manifests {
	t.Helper()
	return renderChartDefaults(t, release, withExample(vals))
}

// withExample sets userCode.example.enabled=true unless vals set it or use the single-location API.
func withExample(vals map[string]any) map[string]any {
	out := copyMaps(vals)
	uc, _ := out["userCode"].(map[string]any)
	if uc == nil {
		uc = map[string]any{}
		out["userCode"] = uc
	}
	if uc["pythonFile"] != nil || uc["moduleName"] != nil {
		return out
	}
	ex, _ := uc["example"].(map[string]any)
	if ex == nil {
		ex = map[string]any{}
		uc["example"] = ex
	}
	if _, set := ex["enabled"]; !set {
		ex["enabled"] = true
	}
	return out
}

func renderChartDefaults(t *testing.T, release string, vals map[string]any) Manifests {
	t.Helper()
	m, err := Render(release, "dagster", vals)
	if err != nil {
		t.Fatalf("Render(%s): %v", release, err)
	}
	return m
}

func mustFind(t *testing.T, m Manifests, kind, name string) *unstructured.Unstructured {
	t.Helper()
	o := m.Find(kind, name)
	if o == nil {
		t.Fatalf("no %s %q; have %v", kind, name, objectKeys(m))
	}
	return o
}

func objectKeys(m Manifests) []string {
	var out []string
	for _, o := range m.Objects {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	sort.Strings(out)
	return out
}

func nested(t *testing.T, obj map[string]any, path ...string) any {
	t.Helper()
	v, found, err := unstructured.NestedFieldNoCopy(obj, path...)
	if err != nil || !found {
		t.Fatalf("no field %s (err %v)", strings.Join(path, "."), err)
	}
	return v
}

func podSpec(t *testing.T, o *unstructured.Unstructured) map[string]any {
	t.Helper()
	if o.GetKind() == "Pod" {
		return nested(t, o.Object, "spec").(map[string]any)
	}
	return nested(t, o.Object, "spec", "template", "spec").(map[string]any)
}

func podAnnotations(t *testing.T, o *unstructured.Unstructured) map[string]string {
	t.Helper()
	raw, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "annotations")
	return raw
}

func podLabels(t *testing.T, o *unstructured.Unstructured) map[string]string {
	t.Helper()
	raw, found, err := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
	if err != nil || !found {
		t.Fatalf("%s %s: no pod labels", o.GetKind(), o.GetName())
	}
	return raw
}

// containers returns the containers (and, with init, the init containers first) of a workload or pod.
func containers(t *testing.T, o *unstructured.Unstructured, init bool) []map[string]any {
	t.Helper()
	spec := podSpec(t, o)
	var out []map[string]any
	keys := []string{"containers"}
	if init {
		keys = []string{"initContainers", "containers"}
	}
	for _, k := range keys {
		list, _ := spec[k].([]any)
		for _, c := range list {
			out = append(out, c.(map[string]any))
		}
	}
	return out
}

func container(t *testing.T, o *unstructured.Unstructured, name string) map[string]any {
	t.Helper()
	for _, c := range containers(t, o, true) {
		if c["name"] == name {
			return c
		}
	}
	t.Fatalf("%s %s has no container %q", o.GetKind(), o.GetName(), name)
	return nil
}

// envFrom renders a container's envFrom as ["configMap:a", "secret:b", ...].
func envFrom(t *testing.T, c map[string]any) []string {
	t.Helper()
	var out []string
	list, _ := c["envFrom"].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		switch {
		case m["configMapRef"] != nil:
			out = append(out, "configMap:"+m["configMapRef"].(map[string]any)["name"].(string))
		case m["secretRef"] != nil:
			out = append(out, "secret:"+m["secretRef"].(map[string]any)["name"].(string))
		default:
			t.Fatalf("unexpected envFrom entry %v", m)
		}
	}
	return out
}

func strList(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, e := range list {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// volumeNames lists the `name` of each entry of a volumes / volumeMounts list.
func volumeNames(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, e := range list {
		out = append(out, fmt.Sprint(e.(map[string]any)["name"]))
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func configMapData(t *testing.T, m Manifests, name string) map[string]string {
	t.Helper()
	data, _, err := unstructured.NestedStringMap(mustFind(t, m, "ConfigMap", name).Object, "data")
	if err != nil {
		t.Fatalf("ConfigMap %s data: %v", name, err)
	}
	return data
}

// instanceConfig parses the rendered dagster.yaml.
func instanceConfig(t *testing.T, m Manifests, release string) map[string]any {
	t.Helper()
	raw := configMapData(t, m, release+"-instance")["dagster.yaml"]
	out := map[string]any{}
	if err := yaml.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("dagster.yaml does not parse: %v\n%s", err, raw)
	}
	return out
}

func launcherConfig(t *testing.T, inst map[string]any) map[string]any {
	t.Helper()
	return nested(t, inst, "run_launcher", "config").(map[string]any)
}

// mergeValues merges src into dst recursively (src wins), like a second values file.
func mergeValues(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// copyMaps copies the nested maps of vals (lists and scalars are shared).
func copyMaps(vals map[string]any) map[string]any {
	out := make(map[string]any, len(vals))
	for k, v := range vals {
		if m, ok := v.(map[string]any); ok {
			v = copyMaps(m)
		}
		out[k] = v
	}
	return out
}
