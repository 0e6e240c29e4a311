// Long on purpose: every userDeployments rule (objects, workspace, env
// order, images, container context, failures, schema) renders the same
// fixtures; kept together so a values change is checked in one place.

package chart

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// Two locations: one with everything set, one with only the required keys.
const twoLocations = `
job_runner:
  env: {RUNNER: x}
  env_config_maps: [run-cm, ""]
  env_secrets: [run-secret]
userDeployments:
  - name: analytics
    image: {repository: my/analytics, tag: dev, pullPolicy: Always}
    module: analytics.definitions
    attribute: defs
    workingDirectory: /app
    env: {WAREHOUSE: dev, EMPTY: "", NUM: 3}
    env_config_maps: [analytics-cm-1, "", analytics-cm-2]
    env_secrets: [analytics-secret-1, analytics-secret-2]
    volumes: [{name: settings, configMap: {name: analytics-settings}}]
    volumeMounts: [{name: settings, mountPath: /etc/analytics, readOnly: true}]
    resources: {requests: {cpu: 100m}}
    podAnnotations: {dagster-dev.io/image-id: "sha256:abc"}
  - name: ml
    file: /srv/ml/defs.py
    port: 4000
`

func codeServer(t *testing.T, m Manifests, name string) (*unstructured.Unstructured, map[string]any) {
	t.Helper()
	d := mustFind(t, m, "Deployment", name)
	return d, container(t, d, "user-code")
}

func workspaceEntries(t *testing.T, m Manifests, release string) []map[string]any {
	t.Helper()
	var ws map[string]any
	if err := yaml.Unmarshal([]byte(configMapData(t, m, release+"-workspace")["workspace.yaml"]), &ws); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, e := range nested(t, ws, "load_from").([]any) {
		out = append(out, e.(map[string]any)["grpc_server"].(map[string]any))
	}
	return out
}

func envValue(c map[string]any, name string) (string, bool) {
	list, _ := c["env"].([]any)
	for _, e := range list {
		ev := e.(map[string]any)
		if ev["name"] == name {
			v, _ := ev["value"].(string)
			return v, true
		}
	}
	return "", false
}

func TestUserDeploymentsObjects(t *testing.T) {
	m := render(t, "dagster", values(t, twoLocations))
	have := map[string]bool{}
	for _, k := range objectKeys(m) {
		have[k] = true
	}
	// The bundled example stays next to the declared locations by default.
	for _, k := range []string{
		"Deployment/dagster-user-code", "Service/dagster-user-code", "ConfigMap/dagster-user-code-example",
		"Deployment/dagster-code-analytics", "Service/dagster-code-analytics", "ConfigMap/dagster-code-analytics-env",
		"Deployment/dagster-code-ml", "Service/dagster-code-ml", "ConfigMap/dagster-code-ml-env",
	} {
		if !have[k] {
			t.Errorf("%s missing; have %v", k, objectKeys(m))
		}
	}
	if got, want := len(m.Objects), len(defaultObjects)+6; got != want {
		t.Errorf("%d objects, want %d: %v", got, want, objectKeys(m))
	}

	for _, loc := range []struct{ name, object string }{{"analytics", "dagster-code-analytics"}, {"ml", "dagster-code-ml"}} {
		for _, kind := range []string{"Deployment", "Service", "ConfigMap"} {
			name := loc.object
			if kind == "ConfigMap" {
				name += "-env"
			}
			o := mustFind(t, m, kind, name)
			l := o.GetLabels()
			if l["app.kubernetes.io/component"] != kube.ComponentUserCode || l[kube.LabelCodeLocation] != loc.name {
				t.Errorf("%s %s labels = %v", kind, name, l)
			}
		}
		d := mustFind(t, m, "Deployment", loc.object)
		pl := podLabels(t, d)
		if pl["app.kubernetes.io/component"] != kube.ComponentUserCode || pl[kube.LabelCodeLocation] != loc.name || pl["app.kubernetes.io/instance"] != "dagster" {
			t.Errorf("%s pod labels = %v", loc.object, pl)
		}
		sel, _, _ := unstructured.NestedStringMap(d.Object, "spec", "selector", "matchLabels")
		if !reflect.DeepEqual(sel, pl) {
			t.Errorf("%s selector %v != pod labels %v", loc.object, sel, pl)
		}
		svcSel, _, _ := unstructured.NestedStringMap(mustFind(t, m, "Service", loc.object).Object, "spec", "selector")
		if !reflect.DeepEqual(svcSel, pl) {
			t.Errorf("Service %s selector %v != pod labels %v", loc.object, svcSel, pl)
		}
		if sa := podSpec(t, d)["automountServiceAccountToken"]; sa != false {
			t.Errorf("%s mounts a service account token", loc.object)
		}
	}
	svcPort := nested(t, mustFind(t, m, "Service", "dagster-code-ml").Object, "spec", "ports").([]any)[0].(map[string]any)
	if svcPort["port"] != float64(4000) || svcPort["targetPort"] != "grpc" {
		t.Errorf("ml Service port = %v", svcPort)
	}
	_, ml := codeServer(t, m, "dagster-code-ml")
	if p := ml["ports"].([]any)[0].(map[string]any); p["containerPort"] != float64(4000) || nested(t, ml, "readinessProbe", "grpc", "port") != float64(4000) {
		t.Errorf("ml ports %v / readiness %v", ml["ports"], ml["readinessProbe"])
	}

	// The workspace lists every location, the bundled one first.
	var got []string
	for _, e := range workspaceEntries(t, m, "dagster") {
		got = append(got, e["location_name"].(string)+"@"+e["host"].(string)+":"+jsonString(e["port"]))
	}
	want := []string{"user-code@dagster-user-code:3030", "analytics@dagster-code-analytics:3030", "ml@dagster-code-ml:4000"}
	if !equalStrings(got, want) {
		t.Errorf("workspace = %v, want %v", got, want)
	}

	// Dagit and the daemon wait for every code server, in workspace order.
	for _, name := range []string{"dagster-dagit", "dagster-daemon"} {
		d := mustFind(t, m, "Deployment", name)
		var waits []string
		for _, ic := range nested(t, podSpec(t, d), "initContainers").([]any) {
			c := ic.(map[string]any)
			host, _ := envValue(c, "CODE_SERVER_HOST")
			port, _ := envValue(c, "CODE_SERVER_PORT")
			waits = append(waits, c["name"].(string)+"="+host+":"+port)
		}
		want := []string{"wait-for-postgresql=:", "wait-for-user-code=dagster-user-code:3030",
			"wait-for-code-analytics=dagster-code-analytics:3030", "wait-for-code-ml=dagster-code-ml:4000"}
		if !equalStrings(waits, want) {
			t.Errorf("%s init containers = %v, want %v", name, waits, want)
		}
	}

	for _, line := range []string{"user-code: dagster-user-code:3030 (the bundled example)", "analytics: dagster-code-analytics:3030",
		"ml: dagster-code-ml:4000", "Runs: CeleryK8sRunLauncher (steps as Jobs started by the Celery workers)"} {
		if !strings.Contains(m.Notes, line) {
			t.Errorf("NOTES lack %q:\n%s", line, m.Notes)
		}
	}

	// helm test checks every location, and the probe job in the bundled one.
	hook := m.Find("Pod", "dagster-test-dagit")
	tc := container(t, hook, "test")
	if v, _ := envValue(tc, "LOCATION_NAMES"); v != "user-code,analytics,ml" {
		t.Errorf("test hook LOCATION_NAMES = %q", v)
	}
	if v, _ := envValue(tc, "EXPECT_JOB"); v != "dagster_dev_probe" {
		t.Errorf("test hook EXPECT_JOB = %q", v)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestUserDeploymentsWithoutTheExample(t *testing.T) {
	m := render(t, "dagster", values(t, twoLocations+"userCode: {example: {enabled: false}}\n"))
	for _, k := range []string{"Deployment/dagster-user-code", "Service/dagster-user-code", "ConfigMap/dagster-user-code-example"} {
		kind, name, _ := strings.Cut(k, "/")
		if m.Find(kind, name) != nil {
			t.Errorf("%s rendered with userCode.example.enabled=false and userDeployments", k)
		}
	}
	var names []string
	for _, e := range workspaceEntries(t, m, "dagster") {
		names = append(names, e["location_name"].(string))
	}
	if !equalStrings(names, []string{"analytics", "ml"}) {
		t.Errorf("workspace locations = %v", names)
	}
	lc := launcherConfig(t, instanceConfig(t, m, "dagster"))
	if got := volumeNames(lc["volumes"]); !equalStrings(got, []string{"dagster-dev-lib", "dagster-home", "tmp", "compute-logs"}) {
		t.Errorf("launcher volumes = %v; want no example", got)
	}
	if got := volumeNames(lc["volume_mounts"]); !equalStrings(got, []string{"dagster-dev-lib", "dagster-home", "tmp", "compute-logs"}) {
		t.Errorf("launcher volume_mounts = %v; want no example", got)
	}
	var inits []string
	for _, ic := range nested(t, podSpec(t, mustFind(t, m, "Deployment", "dagster-dagit")), "initContainers").([]any) {
		inits = append(inits, ic.(map[string]any)["name"].(string))
	}
	if !equalStrings(inits, []string{"wait-for-postgresql", "wait-for-code-analytics", "wait-for-code-ml"}) {
		t.Errorf("dagit init containers = %v", inits)
	}
	tc := container(t, m.Find("Pod", "dagster-test-dagit"), "test")
	if v, _ := envValue(tc, "LOCATION_NAMES"); v != "analytics,ml" {
		t.Errorf("test hook LOCATION_NAMES = %q", v)
	}
	if v, _ := envValue(tc, "EXPECT_JOB"); v != "" {
		t.Errorf("test hook EXPECT_JOB = %q without the example", v)
	}
}

func TestUserDeploymentsCommand(t *testing.T) {
	m := render(t, "dagster", values(t, twoLocations))
	_, a := codeServer(t, m, "dagster-code-analytics")
	want := []string{"dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "3030", "--location-name", "analytics",
		"--container-image", "my/analytics:dev", "--module-name", "analytics.definitions", "--working-directory", "/app", "--attribute", "defs"}
	if got := strList(a["command"]); !equalStrings(got, want) {
		t.Errorf("analytics command:\n got %v\nwant %v", got, want)
	}
	_, ml := codeServer(t, m, "dagster-code-ml")
	want = []string{"dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "4000", "--location-name", "ml",
		"--container-image", "dagster/dagster-celery-k8s:1.13.27", "--python-file", "/srv/ml/defs.py"}
	if got := strList(ml["command"]); !equalStrings(got, want) {
		t.Errorf("ml command:\n got %v\nwant %v", got, want)
	}
	if a["args"] != nil || ml["args"] != nil {
		t.Errorf("code servers have args %v %v", a["args"], ml["args"])
	}
	if got := nested(t, a, "readinessProbe", "grpc", "service"); got != "DagsterApi" {
		t.Errorf("readiness = %v", a["readinessProbe"])
	}
}

func TestUserDeploymentsImages(t *testing.T) {
	m := render(t, "dagster", values(t, `
image: {repository: dagster-dev.local/dagster, tag: "1.13.27"}
imagePullPolicy: Never
userDeployments:
  - {name: full, module: m, image: {repository: my/code, tag: v1, pullPolicy: IfNotPresent}}
  - {name: repo-only, module: m, image: {repository: my/code}}
  - {name: tag-only, module: m, image: {tag: "2"}}
  - {name: none, module: m}
  - {name: empty-policy, module: m, image: {pullPolicy: ""}}
`))
	for name, want := range map[string][2]string{
		"full":         {"my/code:v1", "IfNotPresent"},
		"repo-only":    {"my/code:1.13.27", "Never"},
		"tag-only":     {"dagster-dev.local/dagster:2", "Never"},
		"none":         {"dagster-dev.local/dagster:1.13.27", "Never"},
		"empty-policy": {"dagster-dev.local/dagster:1.13.27", "Never"},
	} {
		_, c := codeServer(t, m, "dagster-code-"+name)
		if c["image"] != want[0] || c["imagePullPolicy"] != want[1] {
			t.Errorf("%s image %v %v, want %v", name, c["image"], c["imagePullPolicy"], want)
		}
		// Runs and steps are launched in the location's image.
		if cmd := strings.Join(strList(c["command"]), " "); !strings.Contains(cmd, "--container-image "+want[0]+" ") {
			t.Errorf("%s command %s does not launch runs in %s", name, cmd, want[0])
		}
		ctx := containerContext(t, c)
		if got := nested(t, ctx, "k8s", "image_pull_policy"); got != want[1] {
			t.Errorf("%s container context pull policy = %v", name, got)
		}
	}
}

func TestUserDeploymentsEnv(t *testing.T) {
	m := render(t, "dagster", values(t, twoLocations))
	_, a := codeServer(t, m, "dagster-code-analytics")
	want := []string{
		"configMap:dagster-job-runner-env", "configMap:run-cm", "secret:run-secret",
		"configMap:dagster-code-analytics-env", "configMap:analytics-cm-1", "configMap:analytics-cm-2",
		"secret:analytics-secret-1", "secret:analytics-secret-2",
	}
	if got := envFrom(t, a); !equalStrings(got, want) {
		t.Errorf("analytics envFrom:\n got %v\nwant %v", got, want)
	}
	_, ml := codeServer(t, m, "dagster-code-ml")
	want = []string{"configMap:dagster-job-runner-env", "configMap:run-cm", "secret:run-secret", "configMap:dagster-code-ml-env"}
	if got := envFrom(t, ml); !equalStrings(got, want) {
		t.Errorf("ml envFrom:\n got %v\nwant %v", got, want)
	}
	data := configMapData(t, m, "dagster-code-analytics-env")
	if !reflect.DeepEqual(data, map[string]string{"WAREHOUSE": "dev", "NUM": "3"}) {
		t.Errorf("analytics env ConfigMap = %v (empty values skipped, no DAGSTER_HOME)", data)
	}
	if data := configMapData(t, m, "dagster-code-ml-env"); len(data) != 0 {
		t.Errorf("ml env ConfigMap = %v", data)
	}
	// The shared env ConfigMap is untouched by location env.
	if got := configMapData(t, m, "dagster-job-runner-env"); len(got) != 4 || got["RUNNER"] != "x" {
		t.Errorf("job-runner-env = %v", got)
	}
	// Only chart-owned variables in `env`: it beats every envFrom source.
	for _, c := range []map[string]any{a, ml} {
		list, _ := c["env"].([]any)
		for _, e := range list {
			if name := e.(map[string]any)["name"]; name != "DAGSTER_CONTAINER_CONTEXT" {
				t.Errorf("code server env has %v", name)
			}
		}
	}
	// Job pods keep the shared layer from the launcher (the run launcher takes nothing else from a location).
	lc := launcherConfig(t, instanceConfig(t, m, "dagster"))
	if got := strList(lc["env_config_maps"]); !equalStrings(got, []string{"dagster-job-runner-env", "run-cm"}) {
		t.Errorf("launcher env_config_maps = %v", got)
	}
	if got := strList(lc["env_secrets"]); !equalStrings(got, []string{"dagster-rabbitmq-broker", "run-secret"}) {
		t.Errorf("launcher env_secrets = %v", got)
	}

	// A changed location env rolls that location's server only.
	changed := render(t, "dagster", values(t, strings.Replace(twoLocations, "WAREHOUSE: dev", "WAREHOUSE: prod", 1)))
	for name, rolls := range map[string]bool{"dagster-code-analytics": true, "dagster-code-ml": false, "dagster-user-code": false, "dagster-dagit": false} {
		before := podAnnotations(t, mustFind(t, m, "Deployment", name))
		after := podAnnotations(t, mustFind(t, changed, "Deployment", name))
		if got := !reflect.DeepEqual(before, after); got != rolls {
			t.Errorf("%s rolled = %v, want %v (%v -> %v)", name, got, rolls, before, after)
		}
	}

	_, err := Render("dagster", "dagster", values(t, "userDeployments: [{name: a, module: m, env: {DAGSTER_HOME: /x}}]"))
	if err == nil || !strings.Contains(err.Error(), "userDeployments[a].env.DAGSTER_HOME") {
		t.Errorf("DAGSTER_HOME in a location's env: err = %v", err)
	}
}

func TestUserDeploymentsVolumesAndPod(t *testing.T) {
	m := render(t, "dagster", values(t, twoLocations+"podAnnotations: {team: data, dagster-dev.io/image-id: global}\n"))
	d, a := codeServer(t, m, "dagster-code-analytics")
	mounts := nested(t, a, "volumeMounts").([]any)
	if len(mounts) != 4 || mounts[0].(map[string]any)["name"] != "dagster-home" || mounts[1].(map[string]any)["name"] != "tmp" ||
		mounts[2].(map[string]any)["name"] != "dagster-dev-lib" ||
		!reflect.DeepEqual(mounts[3], map[string]any{"name": "settings", "mountPath": "/etc/analytics", "readOnly": true}) {
		t.Errorf("analytics mounts = %v", mounts)
	}
	vols := podSpec(t, d)["volumes"].([]any)
	if len(vols) != 4 || vols[0].(map[string]any)["name"] != "dagster-home" || vols[1].(map[string]any)["name"] != "tmp" ||
		vols[2].(map[string]any)["name"] != "dagster-dev-lib" ||
		!reflect.DeepEqual(vols[3], map[string]any{"name": "settings", "configMap": map[string]any{"name": "analytics-settings"}}) {
		t.Errorf("analytics volumes = %v", vols)
	}
	if got := nested(t, a, "resources", "requests", "cpu"); got != "100m" {
		t.Errorf("resources = %v", a["resources"])
	}
	ann := podAnnotations(t, d)
	if ann["dagster-dev.io/image-id"] != "sha256:abc" || ann["team"] != "data" || ann["checksum/job-runner-env"] == "" || ann["checksum/code-env"] == "" {
		t.Errorf("analytics pod annotations = %v (the location's win over the global ones)", ann)
	}
	_, ml := codeServer(t, m, "dagster-code-ml")
	if got := len(ml["volumeMounts"].([]any)); got != 3 {
		t.Errorf("ml mounts = %v", ml["volumeMounts"])
	}
	if ann := podAnnotations(t, mustFind(t, m, "Deployment", "dagster-code-ml")); ann["dagster-dev.io/image-id"] != "global" {
		t.Errorf("ml pod annotations = %v", ann)
	}
	// The scheduling values reach every code server.
	m = render(t, "dagster", values(t, twoLocations+"nodeSelector: {disk: ssd}\nimagePullSecrets: [regcred]\n"))
	spec := podSpec(t, mustFind(t, m, "Deployment", "dagster-code-ml"))
	if nested(t, spec, "nodeSelector", "disk") != "ssd" || len(spec["imagePullSecrets"].([]any)) != 1 {
		t.Errorf("ml scheduling = %v / %v", spec["nodeSelector"], spec["imagePullSecrets"])
	}
}

func containerContext(t *testing.T, c map[string]any) map[string]any {
	t.Helper()
	raw, ok := envValue(c, "DAGSTER_CONTAINER_CONTEXT")
	if !ok {
		t.Fatalf("no DAGSTER_CONTAINER_CONTEXT in %v", c["env"])
	}
	out := map[string]any{}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("DAGSTER_CONTAINER_CONTEXT is not JSON: %v\n%s", err, raw)
	}
	return out
}

func TestUserDeploymentsContainerContext(t *testing.T) {
	m := render(t, "dagster", values(t, twoLocations))
	_, a := codeServer(t, m, "dagster-code-analytics")
	ctx := containerContext(t, a)
	if len(ctx) != 1 || ctx["k8s"] == nil {
		t.Fatalf("container context = %v, want only the k8s key", ctx)
	}
	k8s := ctx["k8s"].(map[string]any)
	// Exactly the fields of dagster-k8s's container-context schema that describe the location.
	allowed := map[string]bool{"image_pull_policy": true, "env_config_maps": true, "env_secrets": true, "volumes": true, "volume_mounts": true}
	for k := range k8s {
		if !allowed[k] {
			t.Errorf("container context key %q", k)
		}
	}
	if got, want := strList(k8s["env_config_maps"]), []string{"dagster-job-runner-env", "run-cm", "dagster-code-analytics-env", "analytics-cm-1", "analytics-cm-2"}; !equalStrings(got, want) {
		t.Errorf("env_config_maps = %v, want %v", got, want)
	}
	if got, want := strList(k8s["env_secrets"]), []string{"run-secret", "analytics-secret-1", "analytics-secret-2"}; !equalStrings(got, want) {
		t.Errorf("env_secrets = %v, want %v (no chart credentials)", got, want)
	}
	if k8s["image_pull_policy"] != "Always" {
		t.Errorf("image_pull_policy = %v", k8s["image_pull_policy"])
	}
	if !reflect.DeepEqual(k8s["volumes"], []any{map[string]any{"name": "settings", "configMap": map[string]any{"name": "analytics-settings"}}}) ||
		!reflect.DeepEqual(k8s["volume_mounts"], []any{map[string]any{"name": "settings", "mountPath": "/etc/analytics", "readOnly": true}}) {
		t.Errorf("volumes %v / volume_mounts %v", k8s["volumes"], k8s["volume_mounts"])
	}
	// ml sets nothing of its own: the shared layer, its env ConfigMap and no volumes.
	_, ml := codeServer(t, m, "dagster-code-ml")
	k8s = containerContext(t, ml)["k8s"].(map[string]any)
	if got := strList(k8s["env_config_maps"]); !equalStrings(got, []string{"dagster-job-runner-env", "run-cm", "dagster-code-ml-env"}) {
		t.Errorf("ml env_config_maps = %v", got)
	}
	if _, ok := k8s["volumes"]; ok {
		t.Errorf("ml has volumes %v", k8s["volumes"])
	}

	// includeConfigInLaunchedRuns: false leaves the variable out; the image still reaches runs.
	m = render(t, "dagster", values(t, "userDeployments: [{name: a, module: m, includeConfigInLaunchedRuns: false, env: {X: y}}]"))
	_, c := codeServer(t, m, "dagster-code-a")
	if _, ok := envValue(c, "DAGSTER_CONTAINER_CONTEXT"); ok || c["env"] != nil {
		t.Errorf("env = %v with includeConfigInLaunchedRuns=false", c["env"])
	}
	if !strings.Contains(strings.Join(strList(c["command"]), " "), "--container-image dagster/dagster-celery-k8s:1.13.27") {
		t.Errorf("command = %v", c["command"])
	}
	// The bundled location never had a container context.
	if _, ok := envValue(container(t, mustFind(t, m, "Deployment", "dagster-user-code"), "user-code"), "DAGSTER_CONTAINER_CONTEXT"); ok {
		t.Error("the bundled location has DAGSTER_CONTAINER_CONTEXT")
	}
}

func TestUserDeploymentsFailures(t *testing.T) {
	for _, tc := range []struct{ values, want string }{
		{"userDeployments: [{name: a, module: m}, {name: b, module: m}, {name: a, file: f.py}]",
			"userDeployments[2] (a): the location name \"a\" is already used by userDeployments[0]"},
		{"userDeployments: [{name: user-code, module: m}]", "already used by userCode.locationName"},
		{"userDeployments: [{name: a, module: m, file: f.py}]", "userDeployments[0] (a): set exactly one of module and file"},
		{"userDeployments: [{name: a}]", "userDeployments[0] (a): set exactly one of module"},
		{"userDeployments: [{name: a, module: m}]\nuserCode: {moduleName: old}", "userDeployments[].module"},
		{"userDeployments: [{name: a, module: m}]\nuserCode: {example: {enabled: false}, pythonFile: /x.py}", "userDeployments[].file"},
		{"userDeployments: [{name: a, module: m}]\nuserCode: {attribute: defs}", "userDeployments[].attribute"},
		{"userDeployments: [{name: a, module: m}]\nuserCode: {workingDirectory: /app}", "userDeployments[].workingDirectory"},
		{"userDeployments: [{name: a, module: m}]\nuserCode: {image: {repository: my/code}}", "userDeployments[].image"},
		{"userDeployments: [{name: a, module: m, volumes: [{name: dagster-home, emptyDir: {}}]}]", "dagster-home is the chart's own"},
	} {
		_, err := Render("dagster", "dagster", withExample(values(t, tc.values)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n err = %v\nwant it to mention %q", tc.values, err, tc.want)
		}
	}
	// The same location name as the bundled one is fine once the example is off.
	render(t, "dagster", values(t, "userDeployments: [{name: user-code, module: m}]\nuserCode: {example: {enabled: false}}"))
	// Service names must fit 63 characters: a long release name plus a long location name fails.
	release := strings.Repeat("r", 30)
	name := strings.Repeat("n", 30)
	_, err := Render(release, "dagster", values(t, "userDeployments: [{name: "+name+", module: m}]"))
	if err == nil || !strings.Contains(err.Error(), "longer than 63 characters") {
		t.Errorf("long names: err = %v", err)
	}
}

func TestUserDeploymentsSchema(t *testing.T) {
	for _, tc := range []struct{ values, key string }{
		{"userDeployments: [{name: Analytics, module: m}]", "userDeployments[0].name"},
		{"userDeployments: [{name: my_code, module: m}]", "userDeployments[0].name"},
		{"userDeployments: [{name: " + strings.Repeat("a", 41) + ", module: m}]", "userDeployments[0].name"},
		{"userDeployments: [{module: m}]", "userDeployments[0]"},
		{"userDeployments: [{name: a, module: m, dagsterApiGrpcArgs: [-m, x]}]", "userDeployments[0]"},
		{"userDeployments: [{name: a, module: m, includeConfigInLaunchedRuns: {enabled: true}}]", "userDeployments[0].includeConfigInLaunchedRuns"},
		{"userDeployments: [{name: a, module: m, image: {pullPolicy: Sometimes}}]", "userDeployments[0].image.pullPolicy"},
		{"userDeployments: [{name: a, module: m, image: {registry: x}}]", "userDeployments[0].image"},
		{"userDeployments: [{name: a, module: m, port: 0}]", "userDeployments[0].port"},
		{"userDeployments: [{name: a, module: ''}]", "userDeployments[0].module"},
		{"userDeployments: [{name: a, module: m, env: {'bad key': x}}]", "userDeployments[0].env"},
		{"userDeployments: [{name: a, module: m, env_secrets: [Bad_Name]}]", "userDeployments[0].env_secrets[0]"},
		{"userDeployments: [{name: a, module: m, volumeMounts: [{name: v}]}]", "userDeployments[0].volumeMounts[0]"},
		{"userDeployments: [{name: a, module: m, volumes: [{emptyDir: {}}]}]", "userDeployments[0].volumes[0]"},
		{"userDeployments: [{name: a, module: m, podAnnotations: {a: 1}}]", "userDeployments[0].podAnnotations.a"},
		{"userDeployments: {a: {module: m}}", "userDeployments"},
	} {
		_, err := Render("dagster", "dagster", values(t, tc.values))
		if err == nil {
			t.Errorf("%s: accepted", tc.values)
			continue
		}
		var ve *ValuesError
		if !errors.As(err, &ve) {
			t.Errorf("%s: not a ValuesError: %v", tc.values, err)
		}
		if !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: error does not name %s:\n%v", tc.values, tc.key, err)
		}
	}
}

// Every Service, and every user deployment's Deployment, selects the pods of exactly one workload.
// The bundled location's Deployment keeps the selector it had before userDeployments (selectors are
// immutable, so changing it would break upgrades); Kubernetes' owner references keep it from
// claiming other locations' pods, and its Service selects on the code-location label.
func TestUserDeploymentsSelectors(t *testing.T) {
	m := render(t, "dagster", values(t, twoLocations))
	pods := map[string]labels.Set{}
	for _, o := range m.OfKind("Deployment") {
		pods[o.GetName()] = labels.Set(podLabels(t, o))
	}
	for _, o := range m.OfKind("Service") {
		sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector")
		if len(sel) == 0 || o.GetName() == "dagster-dagit" || strings.Contains(o.GetName(), "postgresql") || strings.Contains(o.GetName(), "rabbitmq") {
			continue
		}
		var matched []string
		for name, l := range pods {
			if labels.SelectorFromSet(sel).Matches(l) {
				matched = append(matched, name)
			}
		}
		if !equalStrings(matched, []string{o.GetName()}) {
			t.Errorf("Service %s selects %v", o.GetName(), matched)
		}
	}
	for _, name := range []string{"dagster-code-analytics", "dagster-code-ml"} {
		sel, _, _ := unstructured.NestedStringMap(mustFind(t, m, "Deployment", name).Object, "spec", "selector", "matchLabels")
		for other, l := range pods {
			if got := labels.SelectorFromSet(sel).Matches(l); got != (other == name) {
				t.Errorf("Deployment %s selector matches %s: %v", name, other, got)
			}
		}
	}
	// Readiness finds every code server through the component label.
	var servers []string
	for name, l := range pods {
		if l["app.kubernetes.io/component"] == kube.ComponentUserCode {
			servers = append(servers, name)
		}
	}
	if len(servers) != 3 {
		t.Errorf("user-code pods: %v", servers)
	}
}

// With no userDeployments the bundled location renders as before userDeployments existed
// (testdata/probe-location-v0.json, rendered from the chart before the change, chart-version
// labels removed), except for two deliberate changes: the command is `dagster code-server start`
// instead of `dagster api grpc`, and the location's objects and pods carry the code-location label
// (the Service selects on it; the Deployment selector is unchanged). With runLauncher.locationContext
// off: the launcher's library is compared separately.
func TestBundledLocationUnchanged(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "probe-location-v0.json"))
	if err != nil {
		t.Fatal(err)
	}
	var before map[string]any
	if err := json.Unmarshal(raw, &before); err != nil {
		t.Fatal(err)
	}
	// The launcher's module (runLauncher.locationContext) adds a mount, a volume and a checksum to
	// the bundled server; TestLauncherLibraryIsTheOnlyChange checks that this is all it adds.
	// Hardening (securityContext, and the writable /tmp a read-only root filesystem needs) is a
	// deliberate change to every pod: rendered without the former, the latter stripped below.
	// Default resources likewise: rendered without them.
	m := render(t, "dagster", values(t, "runLauncher: {locationContext: false}\npodSecurityContext: null\nsecurityContext: null\n"+
		"initContainers: {resources: null}\nuserCode: {resources: null}\n"))
	now := map[string]any{}
	strip := func(o map[string]any, path ...string) {
		if l, ok, _ := unstructured.NestedMap(o, path...); ok {
			delete(l, "helm.sh/chart")
			delete(l, "app.kubernetes.io/version")
			_ = unstructured.SetNestedMap(o, l, path...)
		}
	}
	for _, k := range []string{"Deployment/dagster-user-code", "Service/dagster-user-code", "ConfigMap/dagster-workspace", "ConfigMap/dagster-user-code-example"} {
		kind, name, _ := strings.Cut(k, "/")
		o := mustFind(t, m, kind, name).DeepCopy().Object
		strip(o, "metadata", "labels")
		strip(o, "spec", "template", "metadata", "labels")
		now[k] = o
	}
	for _, name := range []string{"dagster-dagit", "dagster-daemon"} {
		now["Deployment/"+name+" initContainers"] = podSpec(t, mustFind(t, m, "Deployment", name))["initContainers"]
	}
	dropTmp(now["Deployment/dagster-user-code"].(map[string]any))
	for _, name := range []string{"dagster-dagit", "dagster-daemon"} {
		for _, ic := range now["Deployment/"+name+" initContainers"].([]any) {
			dropNamed(ic.(map[string]any), "volumeMounts", "tmp")
		}
	}
	// Normalise through JSON so both sides have the same types.
	b, _ := json.Marshal(now)
	var got map[string]any
	_ = json.Unmarshal(b, &got)

	// Apply the two deliberate changes to the old render.
	dep := before["Deployment/dagster-user-code"].(map[string]any)
	c := nested(t, dep, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	cmd := strList(c["command"])
	if !equalStrings(cmd[:3], []string{"dagster", "api", "grpc"}) {
		t.Fatalf("old command = %v", cmd)
	}
	newCmd := []any{"dagster", "code-server", "start"}
	for _, s := range cmd[3:] {
		newCmd = append(newCmd, s)
	}
	c["command"] = newCmd
	for _, path := range [][]string{{"metadata", "labels"}, {"spec", "template", "metadata", "labels"}} {
		_ = unstructured.SetNestedField(dep, "user-code", append(path, kube.LabelCodeLocation)...)
	}
	// The job-runner env ConfigMap gained the GRPC_DNS_RESOLVER default,
	// so its checksum changed with it.
	if sum, ok, _ := unstructured.NestedString(got["Deployment/dagster-user-code"].(map[string]any), "spec", "template", "metadata", "annotations", "checksum/job-runner-env"); ok {
		_ = unstructured.SetNestedField(dep, sum, "spec", "template", "metadata", "annotations", "checksum/job-runner-env")
	}
	// The example stopped echoing the chart's own secrets (the probe redacts them): its file and
	// the checksum of it changed.
	if sum, ok, _ := unstructured.NestedString(got["Deployment/dagster-user-code"].(map[string]any), "spec", "template", "metadata", "annotations", "checksum/example"); ok {
		_ = unstructured.SetNestedField(dep, sum, "spec", "template", "metadata", "annotations", "checksum/example")
	}
	if data, ok, _ := unstructured.NestedMap(got["ConfigMap/dagster-user-code-example"].(map[string]any), "data"); ok {
		_ = unstructured.SetNestedMap(before["ConfigMap/dagster-user-code-example"].(map[string]any), data, "data")
	}
	// The code server's readiness is probed every second.
	probe, _, _ := unstructured.NestedMap(nested(t, got["Deployment/dagster-user-code"].(map[string]any), "spec", "template", "spec", "containers").([]any)[0].(map[string]any), "readinessProbe")
	c["readinessProbe"] = probe
	// The wait for the code server checks its health through grpcio
	// instead of importing Dagster; the wait for PostgreSQL cuts each try
	// at 3 s (a DNS lookup can hang after a restart) and retries every 1 s.
	for _, name := range []string{"dagster-dagit", "dagster-daemon"} {
		key := "Deployment/" + name + " initContainers"
		gotInits, oldInits := got[key].([]any), before[key].([]any)
		for i, ic := range oldInits {
			switch ic.(map[string]any)["name"] {
			case "wait-for-user-code":
				if i < len(gotInits) {
					oldInits[i] = gotInits[i]
				}
			case "wait-for-postgresql":
				if i < len(gotInits) {
					ic.(map[string]any)["command"] = gotInits[i].(map[string]any)["command"]
				}
			}
		}
	}
	svc := before["Service/dagster-user-code"].(map[string]any)
	for _, path := range [][]string{{"metadata", "labels"}, {"spec", "selector"}} {
		_ = unstructured.SetNestedField(svc, "user-code", append(path, kube.LabelCodeLocation)...)
	}
	for k := range before {
		if !reflect.DeepEqual(before[k], got[k]) {
			wb, _ := json.MarshalIndent(before[k], "", "  ")
			gb, _ := json.MarshalIndent(got[k], "", "  ")
			t.Errorf("%s changed:\nwant %s\n got %s", k, wb, gb)
		}
	}
	if len(got) != len(before) {
		t.Errorf("compared %d objects, golden has %d", len(got), len(before))
	}
}

func TestHelmLintUserDeployments(t *testing.T) {
	dir := writeChart(t)
	for name, vals := range map[string]string{
		"with the example":    twoLocations,
		"without the example": twoLocations + "userCode: {example: {enabled: false}}\n",
	} {
		t.Run(name, func(t *testing.T) {
			linter := lint.All(dir, values(t, vals), "dagster", false)
			for _, msg := range linter.Messages {
				if msg.Severity >= support.WarningSev {
					t.Errorf("lint: %s", msg)
				}
			}
		})
	}
}

// dropTmp removes the writable /tmp volume and mounts from a Deployment.
func dropTmp(dep map[string]any) {
	spec, _, _ := unstructured.NestedMap(dep, "spec", "template", "spec")
	dropNamed(spec, "volumes", "tmp")
	for _, key := range []string{"containers", "initContainers"} {
		list, _ := spec[key].([]any)
		for _, c := range list {
			dropNamed(c.(map[string]any), "volumeMounts", "tmp")
		}
	}
	_ = unstructured.SetNestedMap(dep, spec, "spec", "template", "spec")
}

// dropNamed removes the entries named name from the list under key (and the key when it empties).
func dropNamed(o map[string]any, key, name string) {
	list, ok := o[key].([]any)
	if !ok {
		return
	}
	var kept []any
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && m["name"] == name {
			continue
		}
		kept = append(kept, e)
	}
	if len(kept) == 0 {
		delete(o, key)
		return
	}
	o[key] = kept
}
