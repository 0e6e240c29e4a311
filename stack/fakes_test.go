package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/cluster"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/dagitconn"
	"github.com/dagster-dev/dagster-dev/internal/imagebuild"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/progress"
	"github.com/dagster-dev/dagster-dev/internal/values"
)

// The fakes below stand in for what cannot run in a unit test: Docker and
// kind (fakeCluster), the API server (client-go's fake clientset, seeded
// with the workloads the chart renders, as their controllers would report
// them Ready), Helm's release storage (its in-memory driver, with Helm's
// no-op kube client) and Dagit (an HTTP server answering /server_info and
// the GraphQL operations by name). The verbs' own code runs unchanged.

// fakeCluster is the Cluster of a kind cluster that exists only in memory.
type fakeCluster struct {
	mu     sync.Mutex
	calls  []string
	exists bool
	owned  bool
	// fail makes the named method return its error.
	fail map[string]error
	// local is what the Docker engine has.
	local map[string]cluster.LocalImage
	// onEnsure runs inside Ensure before it answers (an interrupt point).
	onEnsure func(ctx context.Context)
	// loadGate, when set, holds every image load until it is closed or
	// the load's context ends.
	loadGate chan struct{}
}

func newFakeCluster(images ...string) *fakeCluster {
	f := &fakeCluster{fail: map[string]error{}, local: map[string]cluster.LocalImage{}, owned: true}
	for i, img := range images {
		f.local[img] = cluster.LocalImage{ID: fmt.Sprintf("sha256:%064d", i+1)}
	}
	return f
}

func (f *fakeCluster) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	return f.fail[call]
}

func (f *fakeCluster) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeCluster) Status(_ context.Context, name string) (*cluster.ClusterStatus, error) {
	if err := f.record("Status"); err != nil {
		return nil, err
	}
	st := &cluster.ClusterStatus{Name: name, Exists: f.exists, Owned: f.exists && f.owned, KubeContext: cluster.KubeContext(name)}
	if f.exists {
		st.Nodes = []cluster.NodeStatus{{Name: name + "-control-plane", Role: "control-plane", State: "running", Image: "kindest/node"}}
	}
	return st, nil
}

func (f *fakeCluster) Preflight(context.Context, cluster.Spec, bool) error {
	return f.record("Preflight")
}

func (f *fakeCluster) Ensure(ctx context.Context, spec cluster.Spec, kubeconfig string) (*cluster.EnsureResult, error) {
	if f.onEnsure != nil {
		f.onEnsure(ctx)
	}
	if err := f.record("Ensure"); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	res := &cluster.EnsureResult{Name: spec.Name, KubeContext: cluster.KubeContext(spec.Name), KubeconfigPath: kubeconfig,
		Created: !f.exists, Reused: f.exists, Owned: f.owned, Nodes: []string{spec.Name + "-control-plane"}}
	f.exists = true
	return res, nil
}

func (f *fakeCluster) Delete(_ context.Context, name, _ string) (*cluster.DeleteResult, error) {
	if err := f.record("Delete"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.exists {
		return &cluster.DeleteResult{Name: name}, nil
	}
	f.exists = false
	return &cluster.DeleteResult{Name: name, Deleted: true, Nodes: []string{name + "-control-plane"}, VolumesInBackground: 1}, nil
}

// fakeJob is an ImageJob that ends when its goroutine does.
type fakeJob struct {
	done   chan struct{}
	loads  []cluster.ImageLoad
	err    error
	waited time.Duration
}

func (j *fakeJob) Wait() ([]cluster.ImageLoad, error) { <-j.done; return j.loads, j.err }

// Phases: the gate is the fake's wait for the nodes.
func (j *fakeJob) Phases() (waited, loading time.Duration) { <-j.done; return j.waited, 0 }

func (f *fakeCluster) StartLoadImages(ctx context.Context, spec cluster.Spec, images []string, report func(cluster.ImageLoad)) (ImageJob, error) {
	if err := f.record("StartLoadImages"); err != nil {
		return nil, err
	}
	for _, img := range images {
		if _, ok := f.local[img]; !ok {
			return nil, fmt.Errorf("image %s is not in the local Docker engine", img)
		}
	}
	job := &fakeJob{done: make(chan struct{})}
	go func() {
		defer close(job.done)
		if f.loadGate != nil {
			start := time.Now()
			select {
			case <-f.loadGate:
			case <-ctx.Done():
				job.err = ctx.Err()
				return
			}
			job.waited = time.Since(start)
		}
		job.loads, job.err = f.load(spec.Name, images, report)
	}()
	return job, nil
}

func (f *fakeCluster) LoadImages(_ context.Context, name string, images []string, report func(cluster.ImageLoad)) ([]cluster.ImageLoad, error) {
	if err := f.record("LoadImages"); err != nil {
		return nil, err
	}
	return f.load(name, images, report)
}

func (f *fakeCluster) load(name string, images []string, report func(cluster.ImageLoad)) ([]cluster.ImageLoad, error) {
	f.mu.Lock()
	err := f.fail["load"]
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var loads []cluster.ImageLoad
	for _, img := range images {
		l := cluster.ImageLoad{Image: img, Node: name + "-control-plane", Action: cluster.ActionLoaded, ImageID: f.local[img].ID}
		if report != nil {
			report(l)
		}
		loads = append(loads, l)
	}
	return loads, nil
}

func (f *fakeCluster) LocalImages(_ context.Context, images []string) (map[string]cluster.LocalImage, error) {
	if err := f.record("LocalImages"); err != nil {
		return nil, err
	}
	out := map[string]cluster.LocalImage{}
	for _, img := range images {
		if l, ok := f.local[img]; ok {
			out[img] = l
		}
	}
	return out, nil
}

func (f *fakeCluster) BuildImage(_ context.Context, _ imagebuild.Spec, ref string, _ func(string)) (string, error) {
	if err := f.record("BuildImage"); err != nil {
		return "", err
	}
	id := fmt.Sprintf("sha256:%064d", len(f.local)+1)
	f.local[ref] = cluster.LocalImage{ID: id}
	return id, nil
}

func (f *fakeCluster) CheckDisk(context.Context, string) error { return f.record("CheckDisk") }
func (f *fakeCluster) CheckCodeMount(context.Context, cluster.Spec) error {
	return f.record("CheckCodeMount")
}

// fakeConnector hands out one fake clientset and one Helm configuration
// on Helm's memory driver.
type fakeConnector struct {
	clients *Clients
	err     error
	calls   int
}

func (c *fakeConnector) Connect() (*Clients, error) {
	c.calls++
	if c.err != nil {
		return nil, c.err
	}
	return c.clients, nil
}

func newFakeConnector(cs *fake.Clientset) *fakeConnector {
	helm := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	return &fakeConnector{clients: &Clients{Client: &kube.Client{Context: "kind-dagster-dev", Clientset: cs}, Helm: helm}}
}

// fakeDagit is Dagit's HTTP API: /server_info, and GraphQL operations
// answered by name (answers: operation -> the JSON of "data"). Unless
// answers says otherwise, the workspace holds entries (JSON location
// entries, as Dagit answers DagsterDevLocations) and there are no runs.
type fakeDagit struct {
	srv     *httptest.Server
	mu      sync.Mutex
	entries string
	answers map[string]string
	down    bool
}

func newFakeDagit(t *testing.T, entries string) *fakeDagit {
	return newFakeDagitAnswers(t, entries, nil)
}

func newFakeDagitAnswers(t *testing.T, entries string, answers map[string]string) *fakeDagit {
	d := &fakeDagit{entries: entries, answers: answers}
	op := regexp.MustCompile(`^(?:query|mutation) (\w+)`)
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		entries, down := d.entries, d.down
		d.mu.Unlock()
		if down {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/server_info" {
			io.WriteString(w, `{"dagster_webserver_version":"1.13.27"}`)
			return
		}
		var req struct {
			Query string `json:"query"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("bad request: %v", err)
		}
		m := op.FindStringSubmatch(strings.TrimSpace(req.Query))
		if m == nil {
			http.Error(w, "not a GraphQL operation", http.StatusBadRequest)
			return
		}
		data, ok := d.answers[m[1]]
		switch {
		case ok:
		case m[1] == "DagsterDevLocations":
			data = `{"workspaceOrError":{"__typename":"Workspace","locationEntries":[` + entries + `]}}`
		case m[1] == "DagsterDevRuns":
			data = `{"runsOrError":{"__typename":"Runs","results":[]}}`
		default:
			http.Error(w, "unexpected operation", http.StatusBadRequest)
			return
		}
		io.WriteString(w, `{"data":`+data+`}`)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

// loadedEntry is a location entry Dagit has loaded.
func loadedEntry(name string) string {
	return fmt.Sprintf(`{"name":%q,"loadStatus":"LOADED","locationOrLoadError":{"__typename":"RepositoryLocation","name":%q,"repositories":[]}}`, name, name)
}

// recordingPrinter is the step list, remembering the order steps started
// and each step's outcome line.
type recordingPrinter struct {
	*progress.Steps
	mu      sync.Mutex
	started []string
}

func (p *recordingPrinter) Start(name string) *progress.Step {
	p.mu.Lock()
	p.started = append(p.started, name)
	p.mu.Unlock()
	return p.Steps.Start(name)
}

func (p *recordingPrinter) steps() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.started...)
}

// testEnv is an Env of fakes for a config, with the output it printed.
type testEnv struct {
	*Env
	cluster *fakeCluster
	kube    *fakeConnector
	cs      *fake.Clientset
	dagit   *fakeDagit
	printer *recordingPrinter
	out     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testConfig parses a dagster-dev.yaml written to a temporary directory.
func testConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "dagster-dev.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newTestEnv(t *testing.T, cfg *config.Config, images ...string) *testEnv {
	t.Helper()
	out := &syncBuffer{}
	p := &recordingPrinter{Steps: progress.New(out)}
	cs := fake.NewClientset()
	e := &testEnv{cluster: newFakeCluster(images...), cs: cs, kube: newFakeConnector(cs), printer: p, out: out}
	e.dagit = newFakeDagit(t, loadedEntry("dagster-user-code"))
	e.Env = &Env{
		Config:    cfg,
		Out:       p,
		Cluster:   e.cluster,
		Kube:      e.kube,
		DagitConn: func(context.Context, *Clients) dagitconn.Conn { return dagitconn.Direct(e.dagit.srv.URL) },
	}
	seedReadyWorkloads(t, cs, cfg)
	playControlPlane(cs)
	return e
}

// playControlPlane makes the fake API server act as the scheduler and the
// volume provisioner would: a claim is bound as it is created, a pod is
// scheduled as it is created.
func playControlPlane(cs *fake.Clientset) {
	cs.PrependReactor("create", "persistentvolumeclaims", func(a k8stesting.Action) (bool, runtime.Object, error) {
		c := a.(k8stesting.CreateAction).GetObject().(*corev1.PersistentVolumeClaim)
		c.Status.Phase = corev1.ClaimBound
		return false, nil, nil
	})
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		p.Spec.NodeName = "dagster-dev-control-plane"
		if p.Name == "" {
			p.Name = p.GenerateName + "x1"
		}
		return false, nil, nil
	})
}

// seedReadyWorkloads creates the workloads the chart renders for cfg in
// the fake API server, each reported Ready by its controller: what the
// cluster shows once the chart's pods are up.
func seedReadyWorkloads(t *testing.T, cs *fake.Clientset, cfg *config.Config) {
	t.Helper()
	vals, err := values.For(cfg)
	if err != nil {
		return // up refuses such a config before anything is deployed
	}
	m, err := chart.Render(cfg.Release, cfg.Namespace, vals)
	if err != nil {
		return
	}
	ctx := context.Background()
	for _, u := range m.OfKind("Deployment") {
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
			t.Fatal(err)
		}
		d.Namespace, d.UID = cfg.Namespace, types.UID("uid-"+d.Name)
		d.Annotations = map[string]string{"deployment.kubernetes.io/revision": "1"}
		n := replicasOf(d.Spec.Replicas)
		d.Status = appsv1.DeploymentStatus{Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		if _, err := cs.AppsV1().Deployments(cfg.Namespace).Create(ctx, &d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-1", Namespace: cfg.Namespace, UID: types.UID("uid-rs-" + d.Name),
			Annotations:     map[string]string{"deployment.kubernetes.io/revision": "1"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(&d, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
		}}
		if _, err := cs.AppsV1().ReplicaSets(cfg.Namespace).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		readyPod(t, cs, d.Name+"-1-ready", rs.ObjectMeta, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), d.Spec.Template, nil)
	}
	for _, u := range m.OfKind("StatefulSet") {
		var s appsv1.StatefulSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &s); err != nil {
			t.Fatal(err)
		}
		s.Namespace, s.UID = cfg.Namespace, types.UID("uid-"+s.Name)
		n := replicasOf(s.Spec.Replicas)
		s.Status = appsv1.StatefulSetStatus{Replicas: n, ReadyReplicas: n, AvailableReplicas: n, UpdatedReplicas: n, CurrentRevision: "r1", UpdateRevision: "r1"}
		if _, err := cs.AppsV1().StatefulSets(cfg.Namespace).Create(ctx, &s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		readyPod(t, cs, s.Name+"-0", s.ObjectMeta, appsv1.SchemeGroupVersion.WithKind("StatefulSet"), s.Spec.Template,
			map[string]string{appsv1.StatefulSetRevisionLabel: "r1"})
	}
}

// readyPod is a Running, Ready pod of owner from template.
func readyPod(t *testing.T, cs *fake.Clientset, name string, owner metav1.ObjectMeta, kind schema.GroupVersionKind, tmpl corev1.PodTemplateSpec, labels map[string]string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: owner.Namespace, Labels: map[string]string{}, UID: types.UID("uid-" + name),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(&owner, kind)}},
		Spec: tmpl.Spec,
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
	for k, v := range tmpl.Labels {
		pod.Labels[k] = v
	}
	for k, v := range labels {
		pod.Labels[k] = v
	}
	for _, c := range tmpl.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}})
	}
	if _, err := cs.CoreV1().Pods(owner.Namespace).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func replicasOf(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}
