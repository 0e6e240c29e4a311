package stack

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/cluster"
	"github.com/dagster-dev/dagster-dev/internal/kube"
)

const testImage = "dagster-dev.local/dagster:1.13.27"

// kindConfig is a kind environment that side-loads one local image.
const kindConfig = "images: [" + testImage + "]\ntimeout: 30s\n" +
	"values: {image: {repository: dagster-dev.local/dagster, tag: \"1.13.27\"}}\n"

// fixer is an error that says how to fix it (cmd prints it as "fix:").
type fixer interface{ Fix() string }

func fixOf(err error) string {
	for err != nil {
		if f, ok := err.(fixer); ok {
			return f.Fix()
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				if fix := fixOf(e); fix != "" {
					return fix
				}
			}
			return ""
		}
		err = errors.Unwrap(err)
	}
	return ""
}

func releaseRevisions(t *testing.T, e *testEnv) int {
	t.Helper()
	h, err := e.kube.clients.Helm.Releases.History(e.Config.Release)
	if errors.Is(err, chart.ErrReleaseNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(h)
}

// A cold up runs its steps in order, creates the cluster, loads the image
// into it while the volumes are provisioned, installs the chart, waits for
// the workloads, Dagit and the code locations, and reports what it did.
func TestUpColdRunsEveryStepInOrder(t *testing.T) {
	e := newTestEnv(t, testConfig(t, kindConfig), testImage)
	res, err := NewUp(e.Env).Run(context.Background())
	if err != nil {
		t.Fatalf("up: %v\n%s", err, e.out)
	}
	if !res.ClusterCreated || res.ChartAction != chart.Installed || res.Revision != 1 {
		t.Errorf("result %+v: want a created cluster and revision 1 installed", res)
	}
	if strings.Join(res.Locations, ",") != "dagster-user-code" {
		t.Errorf("locations %v", res.Locations)
	}
	want := []string{"check config, values and sources", "preflight", "images", "cluster dagster-dev", "volumes",
		"namespace and sources", "chart dagster", "workloads ready", "dagit", "code locations"}
	if got := e.printer.steps(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("steps\n%q\nwant\n%q", got, want)
	}
	if got := strings.Join(e.cluster.called(), ","); got != "Status,Preflight,StartLoadImages,Ensure" {
		t.Errorf("cluster calls %s", got)
	}
	// The image ID reached the pods' annotations, so a rebuild rolls them.
	vals, _, err := (&chart.DeployedValues{Config: e.kube.clients.Helm, ReleaseName: "dagster"}).Run()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(flatten(vals), " "), e.cluster.local[testImage].ID) {
		t.Errorf("the loaded image's ID is not in the deployed values: %v", vals)
	}
	ns, err := e.cs.CoreV1().Namespaces().Get(context.Background(), "dagster", metav1.GetOptions{})
	if err != nil || ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %v, err %v: want it created enforcing restricted", ns, err)
	}
	for _, c := range []string{"✓ cluster dagster-dev", "created (1 node)", "1 loaded (image × node)", "installed, revision 1", "1 loaded: dagster-user-code"} {
		if !strings.Contains(e.out.String(), c) {
			t.Errorf("output lacks %q:\n%s", c, e.out)
		}
	}
	if e.kube.calls == 0 {
		t.Error("up never used the injected connector")
	}
}

func flatten(v any) []string {
	switch x := v.(type) {
	case map[string]any:
		var out []string
		for _, e := range x {
			out = append(out, flatten(e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, flatten(e)...)
		}
		return out
	case string:
		return []string{x}
	}
	return nil
}

// The second up on the same environment reuses the cluster, writes no
// revision and provisions nothing.
func TestUpWarmChangesNothing(t *testing.T) {
	e := newTestEnv(t, testConfig(t, kindConfig), testImage)
	ctx := context.Background()
	if _, err := NewUp(e.Env).Run(ctx); err != nil {
		t.Fatalf("cold up: %v\n%s", err, e.out)
	}
	e.printer.started = nil
	res, err := NewUp(e.Env).Run(ctx)
	if err != nil {
		t.Fatalf("warm up: %v\n%s", err, e.out)
	}
	if res.ClusterCreated || res.ChartAction != chart.Unchanged || res.Revision != 1 || len(res.Rolled) != 0 {
		t.Errorf("warm up %+v: want the cluster reused and revision 1 unchanged", res)
	}
	if n := releaseRevisions(t, e); n != 1 {
		t.Errorf("%d revisions stored, want 1", n)
	}
	for _, s := range e.printer.steps() {
		if s == "volumes" {
			t.Error("a warm up provisioned volumes again")
		}
	}
}

// Each step's failure stops up there, names the cause with its fix, and
// leaves no release behind when it comes before the chart.
func TestUpFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		config   string
		setup    func(*testEnv)
		wantErr  string
		wantFix  string
		wantStep string // the step that failed (✗)
		// release: whether a release revision may exist afterwards
		release bool
	}{
		{
			name:    "bad values are refused before anything is touched",
			config:  "images: [" + testImage + "]\nvalues: {dagit: {replicaCount: many}}\n",
			wantErr: "replicaCount", wantStep: "check config, values and sources",
		},
		{
			name:   "docker unreachable",
			config: kindConfig,
			setup: func(e *testEnv) {
				e.cluster.fail["Status"] = &cluster.DockerUnreachableError{Err: errors.New("dial unix /var/run/docker.sock: connect: no such file or directory")}
			},
			wantErr: "docker.sock", wantFix: "start Docker", wantStep: "preflight",
		},
		{
			name:   "port in use",
			config: kindConfig,
			setup: func(e *testEnv) {
				e.cluster.fail["Preflight"] = &cluster.PortInUseError{Port: 3000}
			},
			wantErr: "3000", wantFix: "hostPort", wantStep: "preflight",
		},
		{
			name:   "image missing from the Docker engine",
			config: kindConfig,
			setup: func(e *testEnv) {
				e.cluster.fail["StartLoadImages"] = &cluster.MissingImageError{Image: testImage, Err: errors.New("No such image")}
			},
			wantErr: testImage, wantFix: "docker build", wantStep: "images",
		},
		{
			name:   "cluster cannot be created: the image load is stopped",
			config: kindConfig,
			setup: func(e *testEnv) {
				e.cluster.loadGate = make(chan struct{})
				e.cluster.fail["Ensure"] = errors.New("kind: node failed to start")
			},
			wantErr: "node failed to start", wantStep: "cluster dagster-dev",
		},
		{
			name:   "image load fails",
			config: kindConfig,
			setup: func(e *testEnv) {
				e.cluster.fail["load"] = errors.New("ctr: failed to import: no space left on device")
			},
			wantErr: "no space left", wantStep: "images",
		},
		{
			name:   "kube context unreadable",
			config: kindConfig,
			setup: func(e *testEnv) {
				e.kube.err = &kube.ContextError{Context: "kind-dagster-dev", Err: errors.New("no such context")}
			},
			wantErr: "no such context", wantFix: "kubectl config get-contexts",
		},
		{
			name:    "values read a Secret nobody created",
			config:  "images: [" + testImage + "]\nvalues: {dagit: {env_secrets: [late-secret]}}\n",
			wantErr: `Secret "late-secret"`, wantFix: "kubectl --namespace dagster create secret", wantStep: "chart dagster",
		},
		{
			name:   "a workload's pod cannot pull its image",
			config: kindConfig,
			setup: func(e *testEnv) {
				failPod(t, e, "dagster-dagit", corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: `Container image "x" is not present with pull policy of Never`})
			},
			wantErr: "ErrImageNeverPull", wantStep: "workloads ready", release: true,
		},
		{
			name:    "dagit does not answer from this machine",
			config:  kindConfig,
			setup:   func(e *testEnv) { e.dagit.srv.Close() },
			wantErr: "does not answer", wantFix: "port", wantStep: "dagit", release: true,
		},
		{
			name:   "a code location fails to load",
			config: kindConfig,
			setup: func(e *testEnv) {
				e.dagit.entries = `{"name":"dagster-user-code","loadStatus":"LOADED","locationOrLoadError":{"__typename":"PythonError","message":"SyntaxError: invalid syntax (definitions.py, line 17)\n","stack":[]}}`
			},
			wantErr: "SyntaxError", wantStep: "code locations", release: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, testConfig(t, tc.config), testImage)
			if tc.setup != nil {
				tc.setup(e)
			}
			// Dagit's wait is a minute by default; a closed server never
			// answers, and the failure is what is under test.
			_, err := (&Up{Env: e.Env, DagitTimeout: time.Second}).Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to name %q\n%s", err, tc.wantErr, e.out)
			}
			if tc.wantFix != "" && !strings.Contains(fixOf(err), tc.wantFix) {
				t.Errorf("fix %q, want it to say %q", fixOf(err), tc.wantFix)
			}
			if tc.wantStep != "" && !strings.Contains(e.out.String(), "✗ "+tc.wantStep) {
				t.Errorf("output does not mark step %q failed:\n%s", tc.wantStep, e.out)
			}
			if n := releaseRevisions(t, e); n > 0 && !tc.release {
				t.Errorf("a failure before the chart left %d release revisions", n)
			}
		})
	}
}

// failPod gives a Deployment a current pod stuck in state.
func failPod(t *testing.T, e *testEnv, deployment string, state corev1.ContainerStateWaiting) {
	t.Helper()
	ctx := context.Background()
	ns := e.Config.Namespace
	d, err := e.cs.AppsV1().Deployments(ns).Get(ctx, deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Status.ReadyReplicas, d.Status.AvailableReplicas = 0, 0
	if _, err := e.cs.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	rs, err := e.cs.AppsV1().ReplicaSets(ns).Get(ctx, deployment+"-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: deployment + "-1-abcde", Namespace: ns, Labels: d.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, rs.GroupVersionKind())}},
		Spec: d.Spec.Template.Spec,
		Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			Name: d.Spec.Template.Spec.Containers[0].Name, State: corev1.ContainerState{Waiting: &state}}}},
	}
	pod.OwnerReferences[0].Kind, pod.OwnerReferences[0].APIVersion = "ReplicaSet", "apps/v1"
	// Its init containers (the wait for PostgreSQL) are done: the main
	// container is where it is stuck.
	for _, c := range d.Spec.Template.Spec.InitContainers {
		pod.Status.InitContainerStatuses = append(pod.Status.InitContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}})
	}
	if _, err := e.cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Ctrl-C while kind creates the cluster: up stops, the image load is
// cancelled, and nothing after the cluster step runs.
func TestUpInterrupted(t *testing.T) {
	e := newTestEnv(t, testConfig(t, kindConfig), testImage)
	e.cluster.loadGate = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	e.cluster.onEnsure = func(context.Context) { cancel() }
	_, err := NewUp(e.Env).Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled\n%s", err, e.out)
	}
	if n := releaseRevisions(t, e); n != 0 {
		t.Errorf("an interrupted up wrote %d release revisions", n)
	}
	for _, s := range e.printer.steps() {
		if s == "chart dagster" || s == "namespace and sources" {
			t.Errorf("step %q ran after the interrupt", s)
		}
	}
	// The next up converges.
	e.cluster.onEnsure = nil
	close(e.cluster.loadGate)
	if _, err := NewUp(e.Env).Run(context.Background()); err != nil {
		t.Fatalf("up after the interrupt: %v\n%s", err, e.out)
	}
}

// On an existing cluster up never touches kind: it checks the context
// answers, installs, and leaves Dagit to `dagster-dev dagit`.
func TestUpExistingCluster(t *testing.T) {
	e := newTestEnv(t, testConfig(t, "cluster: {context: team-staging}\ntimeout: 30s\n"))
	res, err := NewUp(e.Env).Run(context.Background())
	if err != nil {
		t.Fatalf("up: %v\n%s", err, e.out)
	}
	if len(e.cluster.called()) != 0 {
		t.Errorf("up called kind on an existing cluster: %v", e.cluster.called())
	}
	if !res.DagitForwarded || res.ChartAction != chart.Installed {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(e.out.String(), "existing cluster, Kubernetes") {
		t.Errorf("output:\n%s", e.out)
	}
}
