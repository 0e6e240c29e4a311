package stack

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/e2etest"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/progress"
)

// These tests run the real thing: a kind cluster from the offline harness
// images, the real chart, real readiness. They need root, Docker and
// minutes, so they only run with DAGSTER_DEV_E2E=1 (always on in CI).

const harnessConfig = "../e2e/offline/dagster-dev.yaml"

func integrationConfig(t *testing.T) *config.Config {
	t.Helper()
	e2etest.Require(t)
	cfg, err := config.Load(harnessConfig)
	if err != nil {
		t.Fatalf("harness config: %v (run e2e/offline/prepare)", err)
	}
	// Own cluster, port and kubeconfig, so the test never touches the
	// environment a developer or CI brought up with the same config.
	cfg.Cluster.Name = "dagster-dev-stack-test"
	cfg.Dagit.HostPort = 3107
	cfg.Cluster.Kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	return cfg
}

func TestUpConvergesAndDownRemoves(t *testing.T) {
	cfg := integrationConfig(t)
	ctx := context.Background()
	out := progress.New(testWriter{t})
	t.Cleanup(func() {
		if _, err := NewDown(NewEnv(cfg, out)).Run(context.Background()); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
	})

	// Cold up: cluster, images, chart, every workload Ready, Dagit answers
	// on 127.0.0.1 (Up checks /server_info itself).
	cold, err := NewUp(NewEnv(cfg, out)).Run(ctx)
	if err != nil {
		t.Fatalf("cold up: %v", err)
	}
	t.Logf("cold up: %s (created=%v, %s revision %d)", cold.Duration, cold.ClusterCreated, cold.ChartAction, cold.Revision)
	if !cold.ClusterCreated || cold.ChartAction != chart.Installed {
		t.Fatalf("cold up did not create and install: %+v", cold)
	}
	if info, err := os.Stat(cfg.Cluster.Kubeconfig); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig must be 0600: %v %v", info.Mode(), err)
	}

	// The release's volume claims were bound while the images loaded: the
	// chart adopted the one it owns, and the binder pod is gone.
	kcCold, err := NewEnv(cfg, nil).Kube.Connect()
	if err != nil {
		t.Fatal(err)
	}
	pods, err := kcCold.Clientset.CoreV1().Pods(cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: kube.ManagedBySelector()})
	if err != nil || len(pods.Items) != 0 {
		t.Errorf("pods dagster-dev made itself are left after up: %v %v", pods, err)
	}
	logsClaim, err := kcCold.Clientset.CoreV1().PersistentVolumeClaims(cfg.Namespace).Get(ctx, cfg.Release+"-compute-logs", metav1.GetOptions{})
	if err != nil || logsClaim.Status.Phase != "Bound" || logsClaim.Labels["helm.sh/chart"] == "" {
		t.Errorf("compute logs claim not bound or not adopted by the chart (no helm.sh/chart label): %+v %v", logsClaim, err)
	}

	// Warm up: nothing changes, no new Helm revision.
	warm, err := NewUp(NewEnv(cfg, out)).Run(ctx)
	if err != nil {
		t.Fatalf("warm up: %v", err)
	}
	t.Logf("warm up: %s", warm.Duration)
	if warm.ClusterCreated || warm.ChartAction != chart.Unchanged || warm.Revision != cold.Revision {
		t.Fatalf("warm up changed something: %+v", warm)
	}

	// A values change upgrades, and rolls Dagit but not the workers.
	kc, err := NewEnv(cfg, nil).Kube.Connect()
	if err != nil {
		t.Fatal(err)
	}
	workerGen := generationOf(t, kc.Clientset, cfg.Namespace, cfg.Release+"-celery-workers")
	setValue(cfg, "dagit", "env", "DAGSTER_DEV_STACK_TEST", "1")
	up3, err := NewUp(NewEnv(cfg, out)).Run(ctx)
	if err != nil {
		t.Fatalf("up after a values change: %v", err)
	}
	if up3.ChartAction != chart.Upgraded || up3.Revision != cold.Revision+1 {
		t.Fatalf("values change did not upgrade: %+v", up3)
	}
	if g := generationOf(t, kc.Clientset, cfg.Namespace, cfg.Release+"-celery-workers"); g != workerGen {
		t.Errorf("a dagit.env change rolled the Celery workers (generation %d -> %d)", workerGen, g)
	}

	// Killed mid-upgrade (SIGKILL, no chance to clean up): the next up
	// converges, recovering the pending release.
	setValue(cfg, "dagit", "env", "DAGSTER_DEV_STACK_TEST", "2")
	killDuringChartStep(t, cfg)
	rec, err := NewUp(NewEnv(cfg, out)).Run(ctx)
	if err != nil {
		t.Fatalf("up after a killed up: %v", err)
	}
	t.Logf("after kill: %s revision %d, recovered: %q", rec.ChartAction, rec.Revision, rec.Recovered)
	helmCfg := kc.Helm
	st, err := (&chart.Status{Config: helmCfg, ReleaseName: cfg.Release}).Run()
	if err != nil || st.State != "deployed" {
		t.Fatalf("release after recovery: %+v %v", st, err)
	}

	// Status is healthy.
	rep, err := NewStatus(NewEnv(cfg, nil)).Run(ctx)
	if err != nil || !rep.Healthy {
		t.Fatalf("status after up: %v\n%s", err, rep.Text())
	}

	// Existing-cluster mode against the same cluster's context: the same
	// chart, nothing to change; then its down removes the release only.
	ext := *cfg
	ext.Cluster.Context = cfg.KubeContext()
	extUp, err := NewUp(NewEnv(&ext, out)).Run(ctx)
	if err != nil {
		t.Fatalf("existing-cluster up: %v", err)
	}
	if extUp.ChartAction == chart.Installed {
		t.Errorf("existing-cluster up reinstalled: %+v", extUp)
	}
	if _, err := NewDown(NewEnv(&ext, out)).Run(ctx); err != nil {
		t.Fatalf("existing-cluster down: %v", err)
	}
	if _, err := (&chart.Status{Config: helmCfg, ReleaseName: cfg.Release}).Run(); !errors.Is(err, chart.ErrReleaseNotFound) {
		t.Errorf("release still there after existing-cluster down: %v", err)
	}

	// down twice: the second has nothing to do.
	for i := 0; i < 2; i++ {
		res, err := NewDown(NewEnv(cfg, out)).Run(ctx)
		if err != nil {
			t.Fatalf("down #%d: %v", i+1, err)
		}
		if (len(res.Removed) > 0) != (i == 0) {
			t.Errorf("down #%d removed %v", i+1, res.Removed)
		}
	}
	if rep, err := NewStatus(NewEnv(cfg, nil)).Run(ctx); err != nil || rep.Healthy || rep.Cluster.Exists {
		t.Errorf("status after down: %v %+v", err, rep)
	}
}

func setValue(cfg *config.Config, section, field, key, value string) {
	if cfg.Values == nil {
		cfg.Values = map[string]any{}
	}
	sec, _ := cfg.Values[section].(map[string]any)
	if sec == nil {
		sec = map[string]any{}
		cfg.Values[section] = sec
	}
	f, _ := sec[field].(map[string]any)
	if f == nil {
		f = map[string]any{}
		sec[field] = f
	}
	f[key] = value
}

func generationOf(t *testing.T, client kubernetes.Interface, ns, name string) int64 {
	t.Helper()
	d, err := client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment %s: %v", name, err)
	}
	return d.Generation
}

// killDuringChartStep runs the real binary and SIGKILLs it as soon as it
// starts the chart step, the way a closed laptop lid or kill -9 would.
func killDuringChartStep(t *testing.T, cfg *config.Config) {
	t.Helper()
	bin, file := binaryAndConfig(t, cfg)
	cmd := exec.Command(bin, "up", "--config", file)
	cmd.Env = append(os.Environ(), "CI=true")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanner := bufio.NewScanner(stdout)
	killed := false
	for scanner.Scan() {
		line := scanner.Text()
		t.Log("killed run: " + line)
		if strings.HasPrefix(line, "… chart ") {
			time.Sleep(300 * time.Millisecond)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			killed = true
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	_ = cmd.Wait()
	if !killed {
		t.Fatal("the chart step never started")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// marshalConfig writes cfg back as YAML, for running the binary with it.
// Relative paths would resolve against the new file's directory, so the
// harness config uses none.
func marshalConfig(cfg *config.Config) ([]byte, error) { return yaml.Marshal(cfg) }
