package watch

// Integration tests and benchmarks against a real kind cluster. They run
// only with DAGSTER_DEV_E2E=1 (root, Docker, the offline harness images).
// One cluster, dagster-dev-watch-test, is shared by every test and
// benchmark of the process and deleted when the process ends.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8swatch "k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/readiness"
	"github.com/dagster-dev/dagster-dev/sources"
)

const (
	kindName      = "dagster-dev-watch-test"
	kindNodeImage = "dagster-dev.local/kind-node:v1.34.4"
	appImage      = "dagster-dev.local/dagster:1.13.27"
	kindLabel     = "io.x-k8s.kind.cluster"
)

type kindEnv struct {
	kubeconfig string
	rest       *rest.Config
	client     kubernetes.Interface
	provider   *kindcluster.Provider
}

var (
	kindOnce   sync.Once
	kindShared *kindEnv
	kindErr    error
	// kindCleanup is the cluster TestMain deletes: set before Create, so a
	// half-created cluster is removed too.
	kindCleanup *kindEnv
	nsCounter   int
	nsMu        sync.Mutex
)

func TestMain(m *testing.M) {
	if os.Getenv(rssChildEnv) != "" {
		os.Exit(rssChild())
	}
	code := m.Run()
	if kindCleanup != nil {
		if err := kindCleanup.provider.Delete(kindName, kindCleanup.kubeconfig); err != nil {
			fmt.Fprintf(os.Stderr, "deleting kind cluster %s: %v\n", kindName, err)
			code = 1
		}
		os.RemoveAll(filepath.Dir(kindCleanup.kubeconfig))
	}
	os.Exit(code)
}

// requireKind returns the shared cluster, creating it on first use.
func requireKind(tb testing.TB) *kindEnv {
	tb.Helper()
	if os.Getenv("DAGSTER_DEV_E2E") != "1" {
		tb.Skip("integration test: set DAGSTER_DEV_E2E=1 (needs root, Docker and the offline harness images)")
	}
	kindOnce.Do(func() { kindShared, kindErr = createKind(tb) })
	if kindErr != nil {
		tb.Fatal(kindErr)
	}
	return kindShared
}

func docker(args ...string) (string, error) {
	out, err := exec.Command("docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// noteOtherClusters says when other kind clusters share the machine, which
// makes timings slower; it does not wait for them (CI runs the integration
// packages side by side).
func noteOtherClusters(tb testing.TB) {
	out, err := docker("ps", "--filter", "label="+kindLabel, "--format", `{{.Label "`+kindLabel+`"}}`)
	if err != nil {
		return
	}
	others := map[string]bool{}
	for _, n := range strings.Fields(out) {
		if n != kindName {
			others[n] = true
		}
	}
	if len(others) > 0 {
		tb.Logf("other kind clusters present (timings will be slower): %v", others)
	}
}

func createKind(tb testing.TB) (*kindEnv, error) {
	for _, img := range []string{kindNodeImage, appImage} {
		if out, err := docker("image", "inspect", "--format", "{{.Id}}", img); err != nil {
			return nil, fmt.Errorf("image %s is missing (%s): run e2e/offline/prepare first", img, out)
		}
	}
	noteOtherClusters(tb)
	dir, err := os.MkdirTemp("", "watch-kind-")
	if err != nil {
		return nil, err
	}
	env := &kindEnv{kubeconfig: filepath.Join(dir, "kubeconfig"), provider: kindcluster.NewProvider(kindcluster.ProviderWithDocker())}
	// A cluster left by a killed run would make Create fail.
	_ = env.provider.Delete(kindName, env.kubeconfig)
	start := time.Now()
	kindCleanup = env
	if err := env.provider.Create(kindName,
		kindcluster.CreateWithNodeImage(kindNodeImage),
		kindcluster.CreateWithKubeconfigPath(env.kubeconfig),
		kindcluster.CreateWithWaitForReady(3*time.Minute),
		kindcluster.CreateWithDisplayUsage(false),
		kindcluster.CreateWithDisplaySalutation(false),
	); err != nil {
		return nil, fmt.Errorf("creating kind cluster: %w", err)
	}
	tb.Logf("kind cluster %s created in %s", kindName, time.Since(start).Round(time.Second))

	start = time.Now()
	nodes, err := env.provider.ListNodes(kindName)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		cmd := exec.Command("docker", "save", appImage)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		loadErr := nodeutils.LoadImageArchive(n, out)
		if err := cmd.Wait(); err != nil {
			return nil, fmt.Errorf("docker save %s: %v: %s", appImage, err, stderr.String())
		}
		if loadErr != nil {
			return nil, fmt.Errorf("loading %s into %s: %w", appImage, n.String(), loadErr)
		}
	}
	tb.Logf("side-loaded %s in %s", appImage, time.Since(start).Round(time.Second))

	env.rest, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: env.kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "kind-" + kindName}).ClientConfig()
	if err != nil {
		return nil, err
	}
	env.rest.QPS, env.rest.Burst = 50, 100
	env.client, err = kubernetes.NewForConfig(env.rest)
	return env, err
}

// newNamespace gives each test its own namespace.
func (k *kindEnv) newNamespace(tb testing.TB) string {
	nsMu.Lock()
	nsCounter++
	name := fmt.Sprintf("watch-it-%d-%d", os.Getpid()%10000, nsCounter)
	nsMu.Unlock()
	_, err := k.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = k.client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// sleeper is a Deployment of the side-loaded app image that only sleeps,
// so `env` can be run in it.
func sleeper(name string, c corev1.Container, volumes ...corev1.Volume) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	c.Name = "c"
	c.Image = appImage
	c.ImagePullPolicy = corev1.PullNever
	c.Command = []string{"sleep", "infinity"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{c},
					Volumes:    volumes,
					// sleep ignores SIGTERM as PID 1: do not wait 30 s for it.
					TerminationGracePeriodSeconds: ptr.To(int64(0)),
				},
			},
		},
	}
}

func envFrom(kind, name string) corev1.EnvFromSource {
	ref := corev1.LocalObjectReference{Name: name}
	if kind == config.KindSecret {
		return corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: ref}}
	}
	return corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: ref}}
}

// runningPod is the one non-terminating pod of a sleeper.
func (k *kindEnv) runningPod(tb testing.TB, ns, app string) corev1.Pod {
	tb.Helper()
	var last []string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		pods, err := k.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			tb.Fatal(err)
		}
		var live []corev1.Pod
		last = nil
		for _, p := range pods.Items {
			last = append(last, p.Name+":"+string(p.Status.Phase))
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				live = append(live, p)
			}
		}
		if len(live) == 1 && len(pods.Items) == 1 {
			return live[0]
		}
	}
	tb.Fatalf("%s has no single running pod: %v", app, last)
	return corev1.Pod{}
}

// podEnv runs `env` in the pod through the exec API (SPDY), the way
// `kubectl exec` does, and returns the variables.
func (k *kindEnv) podEnv(tb testing.TB, ns, pod string) map[string]string {
	tb.Helper()
	req := k.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "c", Command: []string{"env"}, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(k.rest, "POST", req.URL())
	if err != nil {
		tb.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil {
		tb.Fatalf("exec env in %s: %v: %s", pod, err, stderr.String())
	}
	out := map[string]string{}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}

// podUIDs maps each app to the UIDs of its pods.
func (k *kindEnv) podUIDs(tb testing.TB, ns string) map[string]string {
	tb.Helper()
	pods, err := k.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		app := p.Labels["app"]
		uids := strings.Split(out[app], ",")
		uids = append(uids, string(p.UID))
		sort.Strings(uids)
		out[app] = strings.Trim(strings.Join(uids, ","), ",")
	}
	return out
}

// liveRecorder is a recorder that also logs, and lets a test wait for the
// next change of an object.
type liveRecorder struct {
	recorder
	tb testing.TB
}

func (r *liveRecorder) Info(msg string)   { r.tb.Logf("watch: %s", msg); r.recorder.Info(msg) }
func (r *liveRecorder) Problem(err error) { r.tb.Logf("watch error: %v", err); r.recorder.Problem(err) }
func (r *liveRecorder) Changed(c Change)  { r.tb.Logf("watch: %s", c.Summary()); r.recorder.Changed(c) }

func (r *liveRecorder) changeCount() int { _, _, c := r.snapshot(); return len(c) }

func (r *liveRecorder) waitChange(tb testing.TB, from int, object string) Change {
	tb.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		_, _, cs := r.snapshot()
		for _, c := range cs[min(from, len(cs)):] {
			if c.Object == object {
				return c
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("no change of %s reported", object)
	return Change{}
}

func (r *liveRecorder) waitProblem(tb testing.TB, from int) string {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, ps, _ := r.snapshot()
		if len(ps) > from {
			return ps[from]
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatal("no problem reported")
	return ""
}

// kindProject is a config with one source of each format, each read by its
// own sleeper, plus a bystander that reads nothing watched.
type kindProject struct {
	cfg  *config.Config
	ns   string
	env  *kindEnv
	rec  *liveRecorder
	stop func() error
}

var kindSources = []struct {
	src config.Source
	app string
}{
	{config.Source{Name: "team", Kind: config.KindConfigMap, Path: "team.env", Format: config.FormatAuto, Attach: []string{config.TargetDagit}}, "w-dotenv"},
	{config.Source{Name: "settings", Kind: config.KindConfigMap, Path: "settings.yaml", Format: config.FormatAuto, Attach: []string{config.TargetDagit}}, "w-yaml"},
	{config.Source{Name: "files", Kind: config.KindConfigMap, Path: "conf", Format: config.FormatAuto, Attach: []string{config.TargetJobRunner}}, "w-dir"},
	{config.Source{Name: "creds", Kind: config.KindSecret, Path: "creds.yaml", Format: config.FormatAuto, Attach: []string{config.TargetJobRunner}}, "w-manifest"},
}

func newKindProject(t testing.TB, k *kindEnv, extra ...config.Source) *kindProject {
	ns := k.newNamespace(t)
	dir := t.TempDir()
	cfg := &config.Config{Dir: dir, Namespace: ns, Release: "none", Timeout: config.Duration{Duration: 3 * time.Minute},
		Watch: config.Watch{Debounce: config.Duration{Duration: config.DefaultDebounce}}}
	for _, s := range kindSources {
		cfg.Watch.Sources = append(cfg.Watch.Sources, s.src)
	}
	cfg.Watch.Sources = append(cfg.Watch.Sources, extra...)
	write(t, dir, "team.env", "TEAM_VALUE=one\n")
	write(t, dir, "settings.yaml", "SETTINGS_VALUE: one\n")
	write(t, dir, "conf/DIR_VALUE", "one")
	write(t, dir, "creds.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData:\n  TOKEN: secret-one\n")
	write(t, dir, "bench.env", "BENCH=0\n")

	ctx := context.Background()
	// As `up` does: the objects first, then the workloads that use them.
	if _, err := sources.ApplySources(ctx, cfg, k.client); err != nil {
		t.Fatal(err)
	}
	deps := []*appsv1.Deployment{
		sleeper("w-dotenv", corev1.Container{EnvFrom: []corev1.EnvFromSource{envFrom(config.KindConfigMap, "team")}}),
		sleeper("w-yaml", corev1.Container{EnvFrom: []corev1.EnvFromSource{envFrom(config.KindConfigMap, "settings")}}),
		sleeper("w-dir", corev1.Container{EnvFrom: []corev1.EnvFromSource{envFrom(config.KindConfigMap, "files")}}),
		sleeper("w-manifest", corev1.Container{Env: []corev1.EnvVar{{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "TOKEN"}}}}}),
		sleeper("bystander", corev1.Container{}),
	}
	for _, d := range deps {
		if _, err := k.client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range deps {
		if err := readiness.WaitRollout(ctx, k.client, ns, "Deployment", d.Name, 3*time.Minute); err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
	}
	return &kindProject{cfg: cfg, ns: ns, env: k, rec: &liveRecorder{tb: t}}
}

// start runs watch in the background until the test ends.
func (p *kindProject) start(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: p.cfg, Client: p.env.client, Reporter: p.rec, Identity: "test-" + p.ns})
	}()
	p.stop = func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("Run did not return 30 s after cancel")
		}
	}
	t.Cleanup(func() { _ = p.stop() })
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		infos, _, _ := p.rec.snapshot()
		if len(infos) > 0 {
			// The initial sync runs right after the "watching" line.
			time.Sleep(time.Second)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("watch did not start")
}

// replace writes a file the way most editors save: a temp file renamed
// over the original.
func replace(t testing.TB, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp.1")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestKindWatchEndToEnd(t *testing.T) {
	k := requireKind(t)
	p := newKindProject(t, k)
	uids := k.podUIDs(t, p.ns)
	bystanderUID := uids["bystander"]
	p.start(t)

	// The initial sync finds the cluster equal to the files: nothing
	// applied, nothing restarted.
	if n := p.rec.changeCount(); n != 0 {
		t.Fatalf("the initial sync reported %d changes for unchanged files", n)
	}
	if got := k.podUIDs(t, p.ns); fmt.Sprint(got) != fmt.Sprint(uids) {
		t.Fatalf("the initial sync restarted pods: %v -> %v", uids, got)
	}

	// A second watch on the same namespace is refused.
	err := Run(context.Background(), Options{Config: p.cfg, Client: k.client, Identity: "intruder"})
	if !errors.Is(err, ErrAlreadyWatching) {
		t.Fatalf("second watch: %v", err)
	}
	t.Logf("second watch refused: %v", err)

	edits := []struct {
		app, object, file, content, envVar, want string
	}{
		{"w-dotenv", "ConfigMap/team", "team.env", "TEAM_VALUE=two\n", "TEAM_VALUE", "two"},
		{"w-yaml", "ConfigMap/settings", "settings.yaml", "SETTINGS_VALUE: two\n", "SETTINGS_VALUE", "two"},
		{"w-dir", "ConfigMap/files", "conf/DIR_VALUE", "two", "DIR_VALUE", "two"},
		{"w-manifest", "Secret/creds", "creds.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData:\n  TOKEN: secret-two\n", "TOKEN", "secret-two"},
	}
	for _, e := range edits {
		t.Run(e.app, func(t *testing.T) {
			before := k.podUIDs(t, p.ns)
			from := p.rec.changeCount()
			replace(t, filepath.Join(p.cfg.Dir, e.file), e.content)
			c := p.rec.waitChange(t, from, e.object)
			if c.RolloutErr != nil {
				t.Fatal(c.RolloutErr)
			}
			if len(c.Restarted) != 1 || c.Restarted[0] != "Deployment/"+e.app {
				t.Fatalf("restarted %v, want exactly Deployment/%s", c.Restarted, e.app)
			}
			pod := k.runningPod(t, p.ns, e.app)
			if got := k.podEnv(t, p.ns, pod.Name)[e.envVar]; got != e.want {
				t.Fatalf("%s in %s = %q, want %q", e.envVar, e.app, got, e.want)
			}
			after := k.podUIDs(t, p.ns)
			for app, uid := range before {
				if app != e.app && after[app] != uid {
					t.Errorf("%s was restarted by an edit of %s", app, e.file)
				}
			}
			if after[e.app] == before[e.app] {
				t.Errorf("%s kept its pod", e.app)
			}
			t.Logf("FIGURE %s: save→applied %s, save→Ready %s (rollout: applied→Ready %s)", e.file, c.Applied, c.Ready, c.Ready-c.Applied)
		})
	}

	t.Run("burst", func(t *testing.T) {
		ctx := context.Background()
		cm, err := k.client.CoreV1().ConfigMaps(p.ns).Get(ctx, "team", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := k.client.CoreV1().ConfigMaps(p.ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=team", ResourceVersion: cm.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		from := p.rec.changeCount()
		path := filepath.Join(p.cfg.Dir, "team.env")
		for i := 0; i < 200; i++ {
			if err := os.WriteFile(path, []byte(fmt.Sprintf("TEAM_VALUE=burst-%d\n", i)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		applies := 0
		timeout := time.After(30 * time.Second)
	loop:
		for {
			select {
			case ev := <-w.ResultChan():
				if ev.Type == k8swatch.Modified {
					applies++
					if ev.Object.(*corev1.ConfigMap).Data["TEAM_VALUE"] == "burst-199" {
						break loop
					}
				}
			case <-timeout:
				t.Fatal("the final content of the burst never arrived")
			}
		}
		// Anything late would be a third apply.
		time.Sleep(2 * time.Second)
		for drained := false; !drained; {
			select {
			case ev := <-w.ResultChan():
				if ev.Type == k8swatch.Modified {
					applies++
				}
			default:
				drained = true
			}
		}
		t.Logf("FIGURE 200-write burst: %d applies", applies)
		if applies > 2 {
			t.Errorf("a 200-write burst gave %d applies, want at most 2", applies)
		}
		p.rec.waitChange(t, from, "ConfigMap/team")
		// Let the last rollout finish before reading the pod.
		if err := readiness.WaitRollout(ctx, k.client, p.ns, "Deployment", "w-dotenv", 3*time.Minute); err != nil {
			t.Fatal(err)
		}
		pod := k.runningPod(t, p.ns, "w-dotenv")
		if got := k.podEnv(t, p.ns, pod.Name)["TEAM_VALUE"]; got != "burst-199" {
			t.Errorf("after the burst the pod sees %q", got)
		}
	})

	t.Run("bad edit then fix", func(t *testing.T) {
		ctx := context.Background()
		before := k.podUIDs(t, p.ns)
		cm, err := k.client.CoreV1().ConfigMaps(p.ns).Get(ctx, "team", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, problemsBefore, _ := p.rec.snapshot()
		path := filepath.Join(p.cfg.Dir, "team.env")
		replace(t, path, "TEAM_VALUE=bad\nTHIS IS NOT DOTENV\n")
		msg := p.rec.waitProblem(t, len(problemsBefore))
		if !strings.Contains(msg, "team.env:2: expected KEY=VALUE") {
			t.Errorf("problem %q", msg)
		}
		time.Sleep(time.Second)
		cm2, err := k.client.CoreV1().ConfigMaps(p.ns).Get(ctx, "team", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cm2.ResourceVersion != cm.ResourceVersion {
			t.Errorf("a bad edit changed the ConfigMap: %v", cm2.Data)
		}
		if got := k.podUIDs(t, p.ns); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("a bad edit restarted pods")
		}
		from := p.rec.changeCount()
		replace(t, path, "TEAM_VALUE=fixed\n")
		c := p.rec.waitChange(t, from, "ConfigMap/team")
		if c.RolloutErr != nil {
			t.Fatal(c.RolloutErr)
		}
		pod := k.runningPod(t, p.ns, "w-dotenv")
		if got := k.podEnv(t, p.ns, pod.Name)["TEAM_VALUE"]; got != "fixed" {
			t.Errorf("after the fix the pod sees %q", got)
		}
	})

	// The bystander reads nothing watched: it never restarted.
	final := k.podUIDs(t, p.ns)
	pod := k.runningPod(t, p.ns, "bystander")
	restarts := int32(0)
	for _, s := range pod.Status.ContainerStatuses {
		restarts += s.RestartCount
	}
	unaffected := restarts
	if final["bystander"] != bystanderUID {
		unaffected++
	}
	t.Logf("FIGURE restarts of the unaffected workload: %d", unaffected)
	if unaffected != 0 {
		t.Errorf("the bystander was restarted")
	}
	if s := p.rec.everything(); strings.Contains(s, "secret-one") || strings.Contains(s, "secret-two") {
		t.Errorf("a Secret value reached the reporter")
	}

	if err := p.stop(); err != nil {
		t.Fatalf("Run returned %v after Ctrl-C", err)
	}
	if _, err := k.client.CoordinationV1().Leases(p.ns).Get(context.Background(), LeaseName, metav1.GetOptions{}); err == nil {
		t.Error("the lease outlived the watch")
	}
}

// podStartBaseline creates bare pods of the same image and measures
// create → Ready on this clock (API timestamps have 1 s resolution): the
// floor under any "save → Ready" figure.
func (k *kindEnv) podStartBaseline(tb testing.TB, ns string, n int) []time.Duration {
	tb.Helper()
	ctx := context.Background()
	tmpl := sleeper("baseline", corev1.Container{}).Spec.Template
	var out []time.Duration
	for i := 0; i < n; i++ {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("baseline-%d", i)}, Spec: tmpl.Spec}
		w, err := k.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + pod.Name})
		if err != nil {
			tb.Fatal(err)
		}
		start := time.Now()
		if _, err := k.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			tb.Fatal(err)
		}
		timeout := time.After(2 * time.Minute)
	wait:
		for {
			select {
			case ev := <-w.ResultChan():
				if p, ok := ev.Object.(*corev1.Pod); ok {
					for _, c := range p.Status.Conditions {
						if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
							break wait
						}
					}
				}
			case <-timeout:
				tb.Fatal("baseline pod never became Ready")
			}
		}
		out = append(out, time.Since(start))
		w.Stop()
		_ = k.client.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
	}
	return out
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p)
	return s[i]
}

// BenchmarkKindSaveToObject: file saved → ConfigMap updated in the cluster,
// as seen by a watch on the object. The source is read by no workload, so
// no rollout competes. Run with -benchtime=30x for a p95.
func BenchmarkKindSaveToObject(b *testing.B) {
	k := requireKind(b)
	p := newKindProject(b, k, config.Source{Name: "bench", Kind: config.KindConfigMap, Path: "bench.env", Format: config.FormatAuto, Attach: []string{config.TargetJobRunner}})
	p.start(b)
	ctx := context.Background()
	path := filepath.Join(p.cfg.Dir, "bench.env")
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cm, err := k.client.CoreV1().ConfigMaps(p.ns).Get(ctx, "bench", metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		w, err := k.client.CoreV1().ConfigMaps(p.ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=bench", ResourceVersion: cm.ResourceVersion})
		if err != nil {
			b.Fatal(err)
		}
		want := fmt.Sprint(i + 1)
		start := time.Now()
		replace(b, path, "BENCH="+want+"\n")
		for got := false; !got; {
			select {
			case ev := <-w.ResultChan():
				if c, ok := ev.Object.(*corev1.ConfigMap); ok && c.Data["BENCH"] == want {
					got = true
				}
			case <-time.After(30 * time.Second):
				b.Fatal("no update")
			}
		}
		lat = append(lat, time.Since(start))
		w.Stop()
		time.Sleep(300 * time.Millisecond) // separate saves, not one burst
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(lat, 0.5).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.95).Milliseconds()), "p95-ms")
	b.Logf("FIGURE save→object updated (debounce %s included): n=%d p50 %s p95 %s max %s", p.cfg.Watch.Debounce.Duration, len(lat), percentile(lat, 0.5), percentile(lat, 0.95), percentile(lat, 1))
}

// BenchmarkKindSaveToReady: file saved → the restarted Deployment Ready with
// the new value, next to how long the new pod itself took to start.
func BenchmarkKindSaveToReady(b *testing.B) {
	k := requireKind(b)
	p := newKindProject(b, k)
	p.start(b)
	path := filepath.Join(p.cfg.Dir, "team.env")
	var ready, rollouts []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		from := p.rec.changeCount()
		want := fmt.Sprintf("ready-%d", i)
		replace(b, path, "TEAM_VALUE="+want+"\n")
		c := p.rec.waitChange(b, from, "ConfigMap/team")
		if c.RolloutErr != nil {
			b.Fatal(c.RolloutErr)
		}
		ready = append(ready, c.Ready)
		rollouts = append(rollouts, c.Ready-c.Applied)
		b.StopTimer()
		pod := k.runningPod(b, p.ns, "w-dotenv")
		if got := k.podEnv(b, p.ns, pod.Name)["TEAM_VALUE"]; got != want {
			b.Fatalf("pod sees %q, want %q", got, want)
		}
		b.StartTimer()
	}
	b.StopTimer()
	baseline := k.podStartBaseline(b, p.ns, 5)
	b.ReportMetric(float64(percentile(ready, 0.5).Milliseconds()), "ready-p50-ms")
	b.ReportMetric(float64(percentile(baseline, 0.5).Milliseconds()), "podstart-p50-ms")
	b.Logf("FIGURE save→pods Ready with the new value: n=%d p50 %s p95 %s (of which rollout applied→Ready p50 %s); bare pod create→Ready p50 %s (n=%d)",
		len(ready), percentile(ready, 0.5), percentile(ready, 0.95), percentile(rollouts, 0.5), percentile(baseline, 0.5), len(baseline))
}
