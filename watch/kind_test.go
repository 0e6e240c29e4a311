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
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/e2etest"
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
	e2etest.Require(tb)
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
func (r *liveRecorder) Reloaded(rl Reload) {
	r.tb.Logf("watch: %s", rl.Summary())
	r.recorder.Reloaded(rl)
}

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
		err := Run(ctx, Options{Config: p.cfg, Client: p.env.client, Reporter: p.rec, Identity: "test-" + p.ns})
		if err != nil && ctx.Err() == nil {
			// Nothing else would show why a watch ended on its own.
			p.rec.Problem(fmt.Errorf("watch ended: %w", err))
		}
		done <- err
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
