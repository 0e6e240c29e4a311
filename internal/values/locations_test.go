package values

import (
	"reflect"
	"testing"
)

func TestForCodeLocations(t *testing.T) {
	cfg := load(t, `
codeLocations:
  - name: analytics
    path: ./proj
    file: defs.py
    env: {TEAM: data}
  - name: ml
    image: my-team/ml:1.4
    module: ml.defs
    attribute: defs
values:
  userDeployments:
    - name: ml
      resources: {limits: {memory: 1Gi}}
      volumes: [{name: scratch, emptyDir: {}}]
    - name: from-values
      module: other
`, map[string]string{"proj/defs.py": ""})
	vals, err := For(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := vals[KeyUserDeployments].([]any)
	want := []any{
		map[string]any{
			"name":             "analytics",
			"workingDirectory": "/opt/dagster/code/analytics",
			"file":             "/opt/dagster/code/analytics/defs.py",
			"env":              map[string]any{"TEAM": "data", "PYTHONDONTWRITEBYTECODE": "1"},
			// The release's code claim (no hostPath: the restricted Pod Security Standard), the
			// location's directory of it through subPath.
			"volumes": []any{map[string]any{"name": "code", "persistentVolumeClaim": map[string]any{
				"claimName": "dagster-code", "readOnly": true}}},
			"volumeMounts": []any{map[string]any{"name": "code", "mountPath": "/opt/dagster/code/analytics", "readOnly": true, "subPath": "proj"}},
		},
		map[string]any{
			"name":      "ml",
			"image":     map[string]any{"repository": "my-team/ml", "tag": "1.4", "pullPolicy": "IfNotPresent"},
			"module":    "ml.defs",
			"attribute": "defs",
			"resources": map[string]any{"limits": map[string]any{"memory": "1Gi"}},
			"volumes":   []any{map[string]any{"name": "scratch", "emptyDir": map[string]any{}}},
		},
		map[string]any{"name": "from-values", "module": "other"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("userDeployments =\n%s\nwant\n%s", yamlOf(t, got), yamlOf(t, want))
	}
}

func TestSplitImage(t *testing.T) {
	for in, want := range map[string][2]string{
		"my-team/ml:1.4":                {"my-team/ml", "1.4"},
		"docker.io/library/python:3.11": {"python", "3.11"},
		"localhost:5001/a/b:dev":        {"localhost:5001/a/b", "dev"},
		"r.example/x:1@sha256:" + sha64: {"r.example/x", "1@sha256:" + sha64},
	} {
		repo, tag, err := splitImage(in)
		if err != nil || repo != want[0] || tag != want[1] {
			t.Errorf("splitImage(%q) = %q, %q, %v; want %v", in, repo, tag, err, want)
		}
	}
	if _, _, err := splitImage("x@sha256:" + sha64); err == nil {
		t.Error("a digest-only reference was accepted")
	}
}

const sha64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
