package chart

// Integration test on a real kind cluster, skipped unless DAGSTER_DEV_E2E=1 (root, Docker and the
// offline harness images). It installs the chart with the harness's local images through Apply,
// waits until every pod is Ready, runs the chart's `helm test` hook, launches the example job
// dagster_dev_probe to prove the env precedence in job pods, and checks that an upgrade keeps the
// generated passwords and rolls only the workloads whose inputs changed.
//
//	DAGSTER_DEV_E2E=1 go test ./chart/ -run Kind -v -timeout 30m

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"helm.sh/helm/v3/pkg/action"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/dagster-dev/dagster-dev/internal/e2etest"
	"github.com/dagster-dev/dagster-dev/internal/kube"
)

const (
	kindClusterName = "dagster-dev-chart"
	kindNamespace   = "dagster"
	kindNodeImage   = "dagster-dev.local/kind-node:v1.34.4"
	localDagster    = "dagster-dev.local/dagster:1.13.27"
	localPostgres   = "dagster-dev.local/postgres:15"
	localRabbitMQ   = "dagster-dev.local/rabbitmq:3"
)

// kindValues installs with the harness images; nothing may be pulled. The example location (off
// unless asked) is asked for: its probe job reads the env precedence in the job pods.
const kindValues = `
userCode: {example: {enabled: true}}
image: {repository: dagster-dev.local/dagster, tag: "1.13.27"}
imagePullPolicy: IfNotPresent
postgresql:
  image: {repository: dagster-dev.local/postgres, tag: "15", pullPolicy: IfNotPresent}
  persistence: {size: 1Gi}
rabbitmq:
  image: {repository: dagster-dev.local/rabbitmq, tag: "3", pullPolicy: IfNotPresent}
dagit:
  env: {PROBE_DAGIT: from-values}
job_runner:
  env: {PROBE_A: from-values, PROBE_B: from-values, PROBE_C: from-values, PROBE_EMPTY: ""}
  env_config_maps: [probe-config]
  env_secrets: [probe-secret]
`

func TestKindInstall(t *testing.T) {
	e2etest.Require(t)
	ctx := context.Background()
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Ping(ctx); err != nil {
		t.Fatalf("Docker not reachable: %v", err)
	}
	for _, img := range []string{kindNodeImage, localDagster, localPostgres, localRabbitMQ} {
		if _, err := dc.ImageInspect(ctx, img); err != nil {
			t.Fatalf("image %s: %v (build the harness images with e2e/offline/prepare)", img, err)
		}
	}

	// --- cluster ---
	kp := kindcluster.NewProvider(kindcluster.ProviderWithDocker())
	if others, _ := kp.List(); len(others) > 0 {
		t.Logf("other kind clusters present (timings will be slower): %v", others)
	}
	kubeconfig := t.TempDir() + "/kubeconfig"
	_ = kp.Delete(kindClusterName, kubeconfig) // a leftover of an interrupted run
	t.Cleanup(func() {
		// The engine sometimes misses a node container's exit event under
		// load ("did not receive an exit event"); a second try removes it.
		var err error
		for i := 0; i < 3; i++ {
			if err = kp.Delete(kindClusterName, kubeconfig); err == nil {
				return
			}
			time.Sleep(3 * time.Second)
		}
		t.Errorf("delete cluster %s: %v", kindClusterName, err)
	})
	start := time.Now()
	if err := kp.Create(kindClusterName,
		kindcluster.CreateWithNodeImage(kindNodeImage),
		kindcluster.CreateWithKubeconfigPath(kubeconfig),
		kindcluster.CreateWithWaitForReady(3*time.Minute),
		kindcluster.CreateWithDisplayUsage(false),
		kindcluster.CreateWithDisplaySalutation(false),
	); err != nil {
		t.Fatalf("create kind cluster: %v", err)
	}
	t.Logf("kind cluster ready in %s", time.Since(start).Round(time.Second))

	start = time.Now()
	nodes, err := kp.ListInternalNodes(kindClusterName)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []string{localDagster, localPostgres, localRabbitMQ} {
		for _, n := range nodes {
			rc, err := dc.ImageSave(ctx, []string{img})
			if err != nil {
				t.Fatalf("save %s: %v", img, err)
			}
			err = nodeutils.LoadImageArchive(n, rc)
			rc.Close()
			if err != nil {
				t.Fatalf("load %s into %s: %v", img, n.String(), err)
			}
		}
	}
	t.Logf("side-loaded 3 images in %s", time.Since(start).Round(time.Second))

	rest, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(rest)
	waitForDefaultServiceAccount(t, cs)

	// The user's ConfigMap and Secret for the env precedence check must exist before the pods.
	mustCreate(t, func() error {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kindNamespace}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := cs.CoreV1().ConfigMaps(kindNamespace).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "probe-config"},
			Data:       map[string]string{"PROBE_B": "from-configmap", "PROBE_C": "from-configmap"},
		}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := cs.CoreV1().Secrets(kindNamespace).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "probe-secret"},
			StringData: map[string]string{"PROBE_C": "from-secret"},
		}, metav1.CreateOptions{})
		return err
	})

	// --- install ---
	cfg, err := NewActionConfig(kube.Getter(kubeconfig, "kind-"+kindClusterName, kindNamespace), kindNamespace, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	vals := values(t, kindValues)
	start = time.Now()
	res, err := (&Apply{Config: cfg, Namespace: kindNamespace, ReleaseName: "dagster", Values: vals, CreateNamespace: true}).Run(ctx)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if res.Action != Installed {
		t.Fatalf("Apply = %+v", res)
	}
	t.Logf("helm install returned in %s", time.Since(start).Round(time.Second))
	waitAllReady(t, cs, 12*time.Minute)
	t.Logf("install to all pods Ready: %s", time.Since(start).Round(time.Second))

	st, err := (&Status{Config: cfg, ReleaseName: "dagster"}).Run()
	if err != nil || st.State != "deployed" || st.Digest != res.Digest {
		t.Errorf("status = %+v, %v", st, err)
	}
	if again, err := (&Apply{Config: cfg, Namespace: kindNamespace, ReleaseName: "dagster", Values: values(t, kindValues)}).Run(ctx); err != nil || again.Action != Unchanged {
		t.Errorf("second Apply = %+v, %v", again, err)
	}

	// --- helm test ---
	start = time.Now()
	rt := action.NewReleaseTesting(cfg)
	rt.Namespace = kindNamespace
	rt.Timeout = 5 * time.Minute
	rel, testErr := rt.Run("dagster")
	var logs bytes.Buffer
	if rel != nil {
		_ = rt.GetPodLogs(&logs, rel)
	}
	if testErr != nil {
		dumpDiagnostics(t, cs)
		t.Fatalf("helm test: %v\n%s", testErr, logs.String())
	}
	t.Logf("helm test passed in %s:\n%s", time.Since(start).Round(time.Second), logs.String())

	// --- a run of the example job: env precedence in the job pods ---
	start = time.Now()
	probe := runProbe(t, cs, []string{"PROBE_A", "PROBE_B", "PROBE_C", "PROBE_EMPTY", "PROBE_DAGIT"})
	want := map[string]string{
		"PROBE_A":     "from-values",    // values only
		"PROBE_B":     "from-configmap", // ConfigMap beats values
		"PROBE_C":     "from-secret",    // Secret beats both
		"PROBE_EMPTY": "<unset>",        // empty values are skipped
		"PROBE_DAGIT": "<unset>",        // dagit.env is not the job pods' env
	}
	for k, v := range want {
		if probe[k] != v {
			t.Errorf("job pod %s = %q, want %q", k, probe[k], v)
		}
	}
	t.Logf("dagster_dev_probe run finished in %s: %v", time.Since(start).Round(time.Second), probe)

	// --- upgrade: passwords kept, only the affected workloads roll ---
	pgBefore := secretValue(t, cs, "dagster-postgresql", "postgresql-password")
	brokerBefore := secretValue(t, cs, "dagster-rabbitmq-broker", "DAGSTER_CELERY_BROKER_URL")
	gensBefore := generations(t, cs)
	vals = values(t, kindValues)
	vals["dagit"].(map[string]any)["env"].(map[string]any)["PROBE_DAGIT"] = "changed"
	up, err := (&Apply{Config: cfg, Namespace: kindNamespace, ReleaseName: "dagster", Values: vals}).Run(ctx)
	if err != nil || up.Action != Upgraded || up.Revision != 2 {
		t.Fatalf("upgrade = %+v, %v", up, err)
	}
	if got := secretValue(t, cs, "dagster-postgresql", "postgresql-password"); got != pgBefore {
		t.Error("the upgrade changed the generated PostgreSQL password")
	}
	if got := secretValue(t, cs, "dagster-rabbitmq-broker", "DAGSTER_CELERY_BROKER_URL"); got != brokerBefore {
		t.Error("the upgrade changed the generated broker URL")
	}
	gensAfter := generations(t, cs)
	for name, before := range gensBefore {
		rolled := gensAfter[name] != before
		if wantRoll := name == "dagster-dagit" || name == "dagster-daemon"; rolled != wantRoll {
			t.Errorf("%s rolled = %v after changing dagit.env, want %v", name, rolled, wantRoll)
		}
	}
	waitAllReady(t, cs, 8*time.Minute)

	// --- uninstall and reinstall: the database password survives with the data volume ---
	un, err := (&Uninstall{Config: cfg, ReleaseName: "dagster"}).Run(ctx)
	if err != nil || !un.Removed || !strings.Contains(un.Kept, "dagster-postgresql") {
		t.Fatalf("uninstall = %+v, %v", un, err)
	}
	if un, err := (&Uninstall{Config: cfg, ReleaseName: "dagster"}).Run(ctx); err != nil || un.Removed {
		t.Errorf("second uninstall = %+v, %v", un, err)
	}
	re, err := (&Apply{Config: cfg, Namespace: kindNamespace, ReleaseName: "dagster", Values: values(t, kindValues)}).Run(ctx)
	if err != nil || re.Action != Installed {
		t.Fatalf("reinstall = %+v, %v", re, err)
	}
	if got := secretValue(t, cs, "dagster-postgresql", "postgresql-password"); got != pgBefore {
		t.Error("the reinstall generated a new PostgreSQL password; the kept data volume would reject it")
	}
}

func mustCreate(t *testing.T, create func() error) {
	t.Helper()
	if err := create(); err != nil {
		t.Fatal(err)
	}
}

// waitForDefaultServiceAccount avoids `serviceaccount "default" not found` right after cluster
// creation.
func waitForDefaultServiceAccount(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("default service account never appeared: %v", err)
	}
}

// waitAllReady waits until every pod of the release in the namespace is Ready and every workload
// has its replicas; on timeout it prints events and logs of the pods that are not.
func waitAllReady(t *testing.T, cs kubernetes.Interface, timeout time.Duration) {
	t.Helper()
	var notReady []string
	err := wait.PollUntilContextTimeout(context.Background(), 3*time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		notReady = nil
		deps, err := cs.AppsV1().Deployments(kindNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, d := range deps.Items {
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != want ||
				d.Status.ReadyReplicas != want || d.Status.Replicas != want {
				notReady = append(notReady, fmt.Sprintf("deployment/%s %d/%d", d.Name, d.Status.ReadyReplicas, want))
			}
		}
		sts, err := cs.AppsV1().StatefulSets(kindNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, s := range sts.Items {
			if s.Status.ReadyReplicas != *s.Spec.Replicas {
				notReady = append(notReady, fmt.Sprintf("statefulset/%s %d/%d", s.Name, s.Status.ReadyReplicas, *s.Spec.Replicas))
			}
		}
		if len(deps.Items) == 0 || len(sts.Items) == 0 {
			notReady = append(notReady, "no workloads yet")
		}
		return len(notReady) == 0, nil
	})
	if err != nil {
		dumpDiagnostics(t, cs)
		t.Fatalf("not Ready after %s: %v", timeout, notReady)
	}
}

// dumpDiagnostics prints, for every pod that is not Ready (or did not succeed), its status, its
// events and the tail of each container's log.
func dumpDiagnostics(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	pods, err := cs.CoreV1().Pods(kindNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("list pods: %v", err)
		return
	}
	for _, p := range pods.Items {
		ready := p.Status.Phase == corev1.PodSucceeded
		for _, c := range p.Status.Conditions {
			ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
		}
		if ready {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "=== pod %s: phase %s\n", p.Name, p.Status.Phase)
		for _, s := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			fmt.Fprintf(&b, "  container %s ready=%v restarts=%d state=%+v\n", s.Name, s.Ready, s.RestartCount, s.State)
		}
		evs, _ := cs.CoreV1().Events(kindNamespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + p.Name})
		if evs != nil {
			for _, e := range evs.Items {
				fmt.Fprintf(&b, "  event %s %s: %s\n", e.Type, e.Reason, e.Message)
			}
		}
		var names []string
		for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
			names = append(names, c.Name)
		}
		for _, c := range names {
			tail := int64(40)
			raw, err := cs.CoreV1().Pods(kindNamespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: c, TailLines: &tail}).DoRaw(ctx)
			if err == nil && len(raw) > 0 {
				fmt.Fprintf(&b, "  --- log %s:\n%s\n", c, raw)
			}
		}
		t.Log(b.String())
	}
}

func secretValue(t *testing.T, cs kubernetes.Interface, name, key string) string {
	t.Helper()
	s, err := cs.CoreV1().Secrets(kindNamespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return string(s.Data[key])
}

// generations maps each Deployment/StatefulSet to its generation, which grows when its pod
// template changes.
func generations(t *testing.T, cs kubernetes.Interface) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	out := map[string]int64{}
	deps, err := cs.AppsV1().Deployments(kindNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.Items {
		out[d.Name] = d.Generation
	}
	sts, err := cs.AppsV1().StatefulSets(kindNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts.Items {
		out[s.Name] = s.Generation
	}
	return out
}

// probeScript launches dagster_dev_probe through Dagit's GraphQL API from inside the cluster,
// waits for the run and prints the probe's log lines and the run status as JSON.
const probeScript = `
import json, os, sys, time, urllib.request
url = os.environ["DAGIT_URL"] + "/graphql"
def gql(query, variables):
    req = urllib.request.Request(url, data=json.dumps({"query": query, "variables": variables}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)
launch = gql("""mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } ... on Error { message } } }""",
  {"p": {"selector": {"repositoryLocationName": "user-code", "repositoryName": "__repository__",
                      "jobName": "dagster_dev_probe"},
         "runConfigData": {"ops": {"probe": {"config": {"keys": json.loads(os.environ["KEYS"])}}}}}})
result = launch["data"]["launchRun"]
if result["__typename"] != "LaunchRunSuccess":
    print(json.dumps({"error": result})); sys.exit(1)
run_id = result["run"]["runId"]
status = None
deadline = time.time() + 600
while time.time() < deadline:
    status = gql("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id})["data"]["runOrError"]["status"]
    if status in ("SUCCESS", "FAILURE", "CANCELED"):
        break
    time.sleep(3)
events = gql("""query($id: ID!) { logsForRun(runId: $id) { __typename
  ... on EventConnection { events { __typename ... on MessageEvent { message } } } } }""", {"id": run_id})
messages = [e.get("message", "") for e in events["data"]["logsForRun"].get("events", [])]
print(json.dumps({"run": run_id, "status": status,
                  "probe": [m for m in messages if "DAGSTER_DEV_PROBE" in m],
                  "errors": [m for m in messages if "rror" in m][:10]}))
`

// runProbe runs probeScript in a pod and returns the values the probe op saw in its step pod.
func runProbe(t *testing.T, cs kubernetes.Interface, keys []string) map[string]string {
	t.Helper()
	ctx := context.Background()
	keysJSON, _ := json.Marshal(keys)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe-launcher"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:            "launch",
				Image:           localDagster,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{"python", "-c", probeScript},
				Env: []corev1.EnvVar{
					{Name: "DAGIT_URL", Value: "http://dagster-dagit." + kindNamespace + ".svc:80"},
					{Name: "KEYS", Value: string(keysJSON)},
				},
			}},
		},
	}
	if _, err := cs.CoreV1().Pods(kindNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var phase corev1.PodPhase
	err := wait.PollUntilContextTimeout(ctx, 3*time.Second, 12*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(kindNamespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		phase = p.Status.Phase
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed, nil
	})
	raw, _ := cs.CoreV1().Pods(kindNamespace).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil || phase != corev1.PodSucceeded {
		dumpDiagnostics(t, cs)
		dumpJobPods(t, cs)
		t.Fatalf("probe launcher %s (%v):\n%s", phase, err, raw)
	}
	var out struct {
		Status string
		Probe  []string
		Errors []string
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil {
		t.Fatalf("probe output: %v\n%s", err, raw)
	}
	if out.Status != "SUCCESS" {
		dumpJobPods(t, cs)
		t.Fatalf("dagster_dev_probe run ended %s: %v", out.Status, out.Errors)
	}
	seen := map[string]string{}
	for _, line := range out.Probe {
		kv := strings.TrimSpace(line[strings.Index(line, "DAGSTER_DEV_PROBE ")+len("DAGSTER_DEV_PROBE "):])
		if i := strings.Index(kv, "="); i > 0 {
			seen[kv[:i]] = kv[i+1:]
		}
	}
	return seen
}

// dumpJobPods prints the logs of Dagster's run and step pods.
func dumpJobPods(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	pods, err := cs.CoreV1().Pods(kindNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component in (run_worker,step_worker)"})
	if err != nil {
		return
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	for _, p := range pods.Items {
		tail := int64(60)
		raw, _ := cs.CoreV1().Pods(kindNamespace).GetLogs(p.Name, &corev1.PodLogOptions{TailLines: &tail}).DoRaw(ctx)
		t.Logf("=== job pod %s (%s):\n%s", p.Name, p.Status.Phase, raw)
	}
}
