package chart

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// hardenedProblems lists what keeps one container from the `restricted` Pod Security Standard plus
// a read-only root filesystem, given its pod's securityContext (nil when the pod has none).
func hardenedProblems(pod, c map[string]any) []string {
	get := func(key string) (any, bool) {
		if v, ok := c[key]; ok {
			return v, true
		}
		v, ok := pod[key]
		return v, ok
	}
	var out []string
	if v, _ := get("runAsNonRoot"); v != true {
		out = append(out, "runAsNonRoot is not true")
	}
	if v, ok := get("runAsUser"); !ok || fmt.Sprint(v) == "0" {
		out = append(out, "no fixed non-root runAsUser")
	}
	if c["allowPrivilegeEscalation"] != false {
		out = append(out, "allowPrivilegeEscalation is not false")
	}
	if caps, _ := c["capabilities"].(map[string]any); caps == nil || fmt.Sprint(caps["drop"]) != "[ALL]" || caps["add"] != nil {
		out = append(out, "capabilities do not drop ALL")
	}
	if c["readOnlyRootFilesystem"] != true {
		out = append(out, "readOnlyRootFilesystem is not true")
	}
	if v, _ := get("seccompProfile"); fmt.Sprint(v) != "map[type:RuntimeDefault]" {
		out = append(out, "seccompProfile is not RuntimeDefault")
	}
	if c["privileged"] == true {
		out = append(out, "privileged")
	}
	return out
}

// renderedPod is a pod spec the chart renders: a Pod's, or a workload's or Job's template's.
type renderedPod struct {
	obj  *unstructured.Unstructured
	spec map[string]any
}

// renderedPods lists every pod spec of the render, hooks included.
func renderedPods(t *testing.T, m Manifests) []renderedPod {
	t.Helper()
	var out []renderedPod
	for _, o := range append(append([]*unstructured.Unstructured(nil), m.Objects...), m.Hooks...) {
		path := []string{"spec", "template", "spec"}
		switch o.GetKind() {
		case "Pod":
			path = []string{"spec"}
		case "Deployment", "StatefulSet", "Job":
		default:
			continue
		}
		spec, ok, _ := unstructured.NestedMap(o.Object, path...)
		if !ok {
			t.Errorf("%s/%s: no pod spec", o.GetKind(), o.GetName())
			continue
		}
		out = append(out, renderedPod{o, spec})
	}
	return out
}

// checkHardened fails for every container (init containers included) of every pod the chart
// renders, hooks included, that is not hardened, and for the run/step pods' settings in the
// run launcher's config. It returns the number of containers checked.
func checkHardened(t *testing.T, m Manifests) int {
	t.Helper()
	checked := 0
	for _, p := range renderedPods(t, m) {
		o, spec := p.obj, p.spec
		podSC, _ := spec["securityContext"].(map[string]any)
		for _, key := range []string{"initContainers", "containers"} {
			list, _ := spec[key].([]any)
			for _, c := range list {
				cm := c.(map[string]any)
				sc, _ := cm["securityContext"].(map[string]any)
				checked++
				for _, p := range hardenedProblems(podSC, sc) {
					t.Errorf("%s/%s container %s: %s", o.GetKind(), o.GetName(), cm["name"], p)
				}
			}
		}
		if vols, _ := spec["volumes"].([]any); vols != nil {
			for _, v := range vols {
				if _, hostPath := v.(map[string]any)["hostPath"]; hostPath {
					t.Errorf("%s/%s: hostPath volume %v (the restricted profile forbids it)", o.GetKind(), o.GetName(), v.(map[string]any)["name"])
				}
			}
		}
	}
	// Run and step pods: dagster-celery-k8s gives them a container securityContext only.
	for _, cm := range m.OfKind("ConfigMap") {
		if _, ok, _ := unstructured.NestedString(cm.Object, "data", "dagster.yaml"); !ok {
			continue
		}
		lc := launcherConfig(t, instanceConfig(t, m, cm.GetName()[:len(cm.GetName())-len("-instance")]))
		sc, _ := lc["security_context"].(map[string]any)
		var podSC map[string]any
		if rk, ok := lc["run_k8s_config"].(map[string]any); ok { // K8sRunLauncher
			podSC, _, _ = unstructured.NestedMap(rk, "pod_spec_config", "securityContext")
			sc, _, _ = unstructured.NestedMap(rk, "container_config", "securityContext")
		}
		checked++
		for _, p := range hardenedProblems(podSC, sc) {
			t.Errorf("run/step pods (run launcher): %s", p)
		}
	}
	return checked
}

// The default render, and renders that add every optional pod, have no container without the
// hardened settings: the goal is 0.
func TestEveryContainerHardened(t *testing.T) {
	for name, doc := range map[string]string{
		"defaults":                  "",
		"locations and persistence": twoLocations + "rabbitmq: {persistence: {enabled: true}}\n",
		"no example, no daemon":     twoLocations + "userCode: {example: {enabled: false}}\ndaemon: {enabled: false}\n",
	} {
		t.Run(name, func(t *testing.T) {
			m := render(t, "dagster", values(t, doc))
			if n := checkHardened(t, m); n < 10 {
				t.Errorf("only %d containers checked", n)
			} else {
				t.Logf("%d containers checked", n)
			}
		})
	}
}

// A component's settings are merged over the shared ones key by key; null removes a key; the
// shared settings null (and none of the component's) render none.
func TestSecurityContextOverrides(t *testing.T) {
	m := render(t, "dagster", values(t, `dagit:
  securityContext: {readOnlyRootFilesystem: false, runAsUser: 2000}
  podSecurityContext: {fsGroup: null}
runLauncher:
  securityContext: {runAsUser: 3000}
`))
	d := mustFind(t, m, "Deployment", "dagster-dagit")
	c := container(t, d, "dagit")
	sc := c["securityContext"].(map[string]any)
	if sc["readOnlyRootFilesystem"] != false || fmt.Sprint(sc["runAsUser"]) != "2000" || sc["allowPrivilegeEscalation"] != false {
		t.Errorf("dagit securityContext = %v", sc)
	}
	for _, ic := range containers(t, d, true) {
		if ic["securityContext"].(map[string]any)["readOnlyRootFilesystem"] != false {
			t.Errorf("dagit init container %s does not follow dagit's securityContext: %v", ic["name"], ic["securityContext"])
		}
	}
	psc := podSpec(t, d)["securityContext"].(map[string]any)
	if _, ok := psc["fsGroup"]; ok || fmt.Sprint(psc["runAsUser"]) != "1001" {
		t.Errorf("dagit podSecurityContext = %v", psc)
	}
	// Other components keep the shared settings.
	if sc := container(t, mustFind(t, m, "Deployment", "dagster-daemon"), "daemon")["securityContext"].(map[string]any); sc["readOnlyRootFilesystem"] != true {
		t.Errorf("daemon securityContext = %v", sc)
	}
	lc := launcherConfig(t, instanceConfig(t, m, "dagster"))
	if rs := lc["security_context"].(map[string]any); fmt.Sprint(rs["runAsUser"]) != "3000" || rs["readOnlyRootFilesystem"] != true {
		t.Errorf("run/step security_context = %v", rs)
	}

	m = render(t, "dagster", values(t, "podSecurityContext: null\nsecurityContext: null\n"))
	d = mustFind(t, m, "Deployment", "dagster-dagit")
	if v, ok := podSpec(t, d)["securityContext"]; ok {
		t.Errorf("opted out, dagit pod securityContext = %v", v)
	}
	if v, ok := container(t, d, "dagit")["securityContext"]; ok {
		t.Errorf("opted out, dagit securityContext = %v", v)
	}
	if _, ok := launcherConfig(t, instanceConfig(t, m, "dagster"))["security_context"]; ok {
		t.Errorf("opted out, run launcher still sets security_context")
	}
}

// Unknown securityContext keys are rejected by the schema, naming the key.
func TestSecurityContextSchema(t *testing.T) {
	_, err := Render("dagster", "dagster", values(t, "dagit: {securityContext: {runAsNonroot: true}}\n"))
	if err == nil {
		t.Fatal("a misspelt securityContext key rendered")
	}
	t.Log(err)
}

// Run and step pods have their own ServiceAccount, which no RoleBinding of the chart names; the
// Role's subject stays the ServiceAccount of Dagit, the daemon and the workers.
func TestRunPodsIdentity(t *testing.T) {
	m := render(t, "dagster", nil)
	lc := launcherConfig(t, instanceConfig(t, m, "dagster"))
	if lc["service_account_name"] != "dagster-run" {
		t.Fatalf("run/step service account = %v, want dagster-run", lc["service_account_name"])
	}
	mustFind(t, m, "ServiceAccount", "dagster-run")
	for _, rb := range m.OfKind("RoleBinding") {
		for _, s := range nested(t, rb.Object, "subjects").([]any) {
			if s.(map[string]any)["name"] == "dagster-run" {
				t.Errorf("RoleBinding %s binds the run pods' ServiceAccount", rb.GetName())
			}
		}
	}
	for _, name := range []string{"dagster-dagit", "dagster-daemon", "dagster-celery-workers"} {
		if sa := podSpec(t, mustFind(t, m, "Deployment", name))["serviceAccountName"]; sa != "dagster" {
			t.Errorf("%s runs as %v, want dagster", name, sa)
		}
	}
	m = render(t, "dagster", values(t, "runLauncher: {serviceAccount: {create: false, name: runner}}\n"))
	if got := launcherConfig(t, instanceConfig(t, m, "dagster"))["service_account_name"]; got != "runner" {
		t.Errorf("existing run service account: launcher uses %v", got)
	}
	if _, err := Render("dagster", "dagster", values(t, "runLauncher: {serviceAccount: {create: false}}\n")); err == nil ||
		!strings.Contains(err.Error(), "runLauncher.serviceAccount.name") {
		t.Errorf("create=false without a name: err = %v", err)
	}
}

// NetworkPolicies: none by default; with the switch, PostgreSQL, AMQP and the code servers' gRPC
// ports admit only the release's pods and its run/step pods. The harness CNI does not enforce
// policies, so this render test carries the check: every other pod matches no peer.
func TestNetworkPolicies(t *testing.T) {
	if got := render(t, "dagster", nil).OfKind("NetworkPolicy"); len(got) != 0 {
		t.Fatalf("%d NetworkPolicies by default", len(got))
	}
	// Release team-a: Dagster labels every job pod app.kubernetes.io/instance=dagster whatever the
	// release, so only the launcher's label can admit team-a's run pods.
	m := render(t, "team-a", values(t, twoLocations+"networkPolicy: {enabled: true}\n"))
	policies := map[string]*unstructured.Unstructured{}
	for _, p := range m.OfKind("NetworkPolicy") {
		policies[p.GetName()] = p
	}
	want := map[string]struct {
		selector map[string]string
		ports    []string
	}{
		"team-a-postgresql":   {map[string]string{"app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": "team-a"}, []string{"5432"}},
		"team-a-rabbitmq":     {map[string]string{"app.kubernetes.io/name": "rabbitmq", "app.kubernetes.io/instance": "team-a"}, []string{"5672"}},
		"team-a-code-servers": {map[string]string{"app.kubernetes.io/name": "dagster", "app.kubernetes.io/instance": "team-a", "app.kubernetes.io/component": "user-code"}, []string{"3030", "4000"}},
	}
	if len(policies) != len(want) {
		t.Errorf("policies = %v", objectKeys(m))
	}
	// Which pods each policy's peers admit, decided on labels the way the API server does.
	admits := func(p *unstructured.Unstructured, labels map[string]string) bool {
		for _, rule := range nested(t, p.Object, "spec", "ingress").([]any) {
			for _, peer := range rule.(map[string]any)["from"].([]any) {
				sel := nested(t, peer.(map[string]any), "podSelector", "matchLabels").(map[string]any)
				ok := true
				for k, v := range sel {
					if labels[k] != v {
						ok = false
					}
				}
				if ok {
					return true
				}
			}
		}
		return false
	}
	runLabels := launcherConfig(t, instanceConfig(t, m, "team-a"))["labels"].(map[string]any)
	runPod := map[string]string{"app.kubernetes.io/instance": "dagster", "app.kubernetes.io/component": "run_worker"}
	for k, v := range runLabels {
		runPod[k] = v.(string)
	}
	for name, w := range want {
		p, ok := policies[name]
		if !ok {
			t.Errorf("NetworkPolicy %s missing", name)
			continue
		}
		sel := nested(t, p.Object, "spec", "podSelector", "matchLabels").(map[string]any)
		for k, v := range w.selector {
			if sel[k] != v {
				t.Errorf("%s selects %v, want %v", name, sel, w.selector)
			}
		}
		var ports []string
		for _, rule := range nested(t, p.Object, "spec", "ingress").([]any) {
			for _, port := range rule.(map[string]any)["ports"].([]any) {
				ports = append(ports, fmt.Sprint(port.(map[string]any)["port"]))
			}
		}
		if !equalStrings(ports, w.ports) {
			t.Errorf("%s ports = %v, want %v", name, ports, w.ports)
		}
		// The release's pods (every Deployment's template) and its run pods are admitted ...
		for _, d := range m.OfKind("Deployment") {
			if !admits(p, podLabels(t, d)) {
				t.Errorf("%s does not admit %s", name, d.GetName())
			}
		}
		if !admits(p, runPod) {
			t.Errorf("%s does not admit the run pods %v", name, runPod)
		}
		// ... another release's pods, another release's run pods and a stray pod are not.
		for _, other := range []map[string]string{
			{"app.kubernetes.io/instance": "other", "app.kubernetes.io/name": "dagster"},
			{"app.kubernetes.io/instance": "dagster", "dagster-dev.io/release": "other", "app.kubernetes.io/component": "run_worker"},
			{"run": "curl"},
		} {
			if admits(p, other) {
				t.Errorf("%s admits %v", name, other)
			}
		}
	}
}

// Every container the chart renders (init containers and the test pod included) and the run/step
// pods have CPU and memory requests and a memory limit by default; a location without resources of
// its own gets userCode's.
func TestDefaultResources(t *testing.T) {
	m := render(t, "dagster", values(t, twoLocations))
	checked := 0
	for _, p := range renderedPods(t, m) {
		o, spec := p.obj, p.spec
		for _, key := range []string{"initContainers", "containers"} {
			list, _ := spec[key].([]any)
			for _, c := range list {
				cm := c.(map[string]any)
				if o.GetName() == "dagster-code-analytics" && key == "containers" {
					continue // its own resources (cpu only), as given
				}
				checked++
				for _, path := range [][]string{{"requests", "cpu"}, {"requests", "memory"}, {"limits", "memory"}} {
					if v, ok, _ := unstructured.NestedFieldNoCopy(cm, append([]string{"resources"}, path...)...); !ok || v == "" {
						t.Errorf("%s/%s container %s: no resources.%s", o.GetKind(), o.GetName(), cm["name"], strings.Join(path, "."))
					}
				}
			}
		}
	}
	t.Logf("%d containers checked", checked)
	lc := launcherConfig(t, instanceConfig(t, m, "dagster"))
	if nested(t, lc, "resources", "requests", "memory") == nil || nested(t, lc, "resources", "limits", "memory") == nil {
		t.Errorf("run/step pods resources = %v", lc["resources"])
	}
	// twoLocations: analytics sets its own (cpu 100m), ml none (userCode's).
	if got := nested(t, container(t, mustFind(t, m, "Deployment", "dagster-code-ml"), "user-code"), "resources", "limits", "memory"); got != "2Gi" {
		t.Errorf("ml (no resources of its own) limit = %v, want userCode's 2Gi", got)
	}
	if got := nested(t, container(t, mustFind(t, m, "Deployment", "dagster-code-analytics"), "user-code"), "resources", "requests", "cpu"); got != "100m" {
		t.Errorf("analytics resources = %v", got)
	}
}

// A plain `helm install` (the chart's own defaults): the example location is off unless asked, so
// a shared cluster gets no probe job anyone could run; the workspace is empty, Dagit and the daemon
// wait for no code server, `helm test` checks Dagit alone, and NOTES say how to add a location.
func TestExampleOffUnlessAsked(t *testing.T) {
	m := renderChartDefaults(t, "dagster", nil)
	for _, k := range []string{"Deployment/dagster-user-code", "Service/dagster-user-code", "ConfigMap/dagster-user-code-example"} {
		kind, name, _ := strings.Cut(k, "/")
		if m.Find(kind, name) != nil {
			t.Errorf("%s rendered by default", k)
		}
	}
	if ws := configMapData(t, m, "dagster-workspace")["workspace.yaml"]; !strings.Contains(ws, "load_from: []") {
		t.Errorf("workspace = %q", ws)
	}
	for _, ic := range containers(t, mustFind(t, m, "Deployment", "dagster-dagit"), true) {
		if strings.HasPrefix(ic["name"].(string), "wait-for-code") || strings.HasPrefix(ic["name"].(string), "wait-for-user-code") {
			t.Errorf("Dagit waits for %s", ic["name"])
		}
	}
	for _, e := range nested(t, m.Hooks[0].Object, "spec", "containers").([]any)[0].(map[string]any)["env"].([]any) {
		em := e.(map[string]any)
		if (em["name"] == "LOCATION_NAMES" || em["name"] == "EXPECT_JOB") && em["value"] != "" {
			t.Errorf("helm test %s = %v", em["name"], em["value"])
		}
	}
	if !strings.Contains(m.Notes, "userCode.example.enabled=true") {
		t.Errorf("NOTES do not say how to add a location:\n%s", m.Notes)
	}
	// Asked for: there it is, with its probe.
	m = renderChartDefaults(t, "dagster", values(t, "userCode: {example: {enabled: true}}\n"))
	mustFind(t, m, "ConfigMap", "dagster-user-code-example")
	mustFind(t, m, "Deployment", "dagster-user-code")
}
