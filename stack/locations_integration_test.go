package stack

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/podlogs"
	"github.com/dagster-dev/dagster-dev/internal/progress"
)

// Two code locations on a real kind cluster from the harness images: one
// mounted from a local directory, one whose code is only in an image built
// FROM the harness Dagster image. Both load; a run of each succeeds in
// its own run pod (and, through Celery, step pod) with that location's
// image, env and code; a rebuilt image rolls only its location; a new
// location with a syntax error fails up with the user's file:line.

const analyticsDefs = `import os
import dagster as dg
from dagster_celery_k8s import celery_k8s_job_executor


@dg.op
def report(context):
    context.log.info("analytics TEAM=%s MARKER=%s" % (os.environ.get("TEAM"), "from-disk-1"))


@dg.job(executor_def=celery_k8s_job_executor)
def analytics_job():
    report()


defs = dg.Definitions(jobs=[analytics_job])
`

const mlDefs = `import os
import dagster as dg


@dg.op
def train(context):
    context.log.info("ml MODEL=%s BUILD=%s" % (os.environ.get("MODEL"), "BUILD_MARK"))


@dg.job
def ml_job():
    train()


defs = dg.Definitions(jobs=[ml_job])
`

const mlImage = "dagster-dev.local/locations-test-ml:1"

func buildMLImage(t *testing.T, dir, build string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "ml"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"ml/__init__.py": "",
		"ml/defs.py":     strings.Replace(mlDefs, "BUILD_MARK", build, 1),
		"Dockerfile":     "FROM dagster-dev.local/dagster:1.13.27\nCOPY ml /opt/ml/ml\nENV PYTHONPATH=/opt/ml\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("docker", "build", "-q", "-t", mlImage, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", mlImage, err, out)
	}
}

func TestCodeLocations(t *testing.T) {
	cfg := integrationConfig(t)
	cfg.Cluster.Name = "dagster-dev-locations-test"
	cfg.Dagit.HostPort = 3108
	root := t.TempDir()
	cfg.Cluster.CodeRoot = root
	if err := os.MkdirAll(filepath.Join(root, "analytics"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "analytics", "defs.py"), []byte(analyticsDefs), 0o644); err != nil {
		t.Fatal(err)
	}
	imageDir := t.TempDir()
	buildMLImage(t, imageDir, "build-1")
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", mlImage).Run() })
	cfg.CodeLocations = []config.CodeLocation{
		{Name: "analytics", Path: filepath.Join(root, "analytics"), File: "defs.py", Env: map[string]string{"TEAM": "data"}},
		{Name: "ml", Image: mlImage, Module: "ml.defs", Env: map[string]string{"MODEL": "forest"}},
	}

	ctx := context.Background()
	out := progress.New(testWriter{t})
	t.Cleanup(func() {
		if _, err := NewDown(NewEnv(cfg, out)).Run(context.Background()); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
	})

	res, err := NewUp(NewEnv(cfg, out)).Run(ctx)
	if err != nil {
		t.Fatalf("up with two code locations: %v", err)
	}
	t.Logf("cold up with two code locations: %s", res.Duration)
	for _, want := range []string{"analytics", "ml", "user-code"} {
		if !slices.Contains(res.Locations, want) {
			t.Fatalf("loaded locations %v, want %s among them", res.Locations, want)
		}
	}

	kc, err := NewEnv(cfg, nil).Kube.Connect()
	if err != nil {
		t.Fatal(err)
	}
	gql := &dagit.Client{BaseURL: cfg.DagitURL()}
	runOf := func(location, job string) []corev1.Pod {
		t.Helper()
		id, err := gql.LaunchRun(ctx, dagit.JobSelector{Location: location, Repository: "__repository__", Job: job}, nil, nil)
		if err != nil {
			t.Fatalf("launch %s/%s: %v", location, job, err)
		}
		run, err := gql.WaitRun(ctx, id, dagit.Poll{Interval: time.Second, Timeout: 5 * time.Minute}, nil)
		if err != nil || run.Status != dagit.RunSuccess {
			t.Fatalf("run %s of %s/%s: %+v %v", id, location, job, run, err)
		}
		pods, err := kube.ListPods(ctx, kc.Clientset, cfg.Namespace, kube.RunSelector(id))
		if err != nil || len(pods) == 0 {
			t.Fatalf("pods of run %s: %v (%d)", id, err, len(pods))
		}
		return pods
	}
	logsOf := func(p corev1.Pod) string {
		t.Helper()
		l, err := podlogs.Tail(ctx, kc.Clientset, cfg.Namespace, p.Name, "", 2000, false)
		if err != nil {
			t.Fatalf("logs of %s: %v", p.Name, err)
		}
		return l
	}

	// The path location: Celery run pod + step pod, both with the
	// location's env and the files on disk.
	pods := runOf("analytics", "analytics_job")
	var sawStep bool
	for _, p := range pods {
		if p.Labels["dagster/op"] != "" {
			sawStep = true
			if l := logsOf(p); !strings.Contains(l, "analytics TEAM=data MARKER=from-disk-1") {
				t.Errorf("step pod %s did not run the file on disk with the location's env:\n%s", p.Name, l)
			}
		}
		if !hasMount(p, "/opt/dagster/code/analytics") {
			t.Errorf("pod %s of the analytics run has no mount of the location's directory", p.Name)
		}
	}
	if !sawStep {
		t.Errorf("the analytics run (celery_k8s_job_executor) started no step pod: %d pods", len(pods))
	}

	// The image location: its run pod runs its image and sees its env.
	pods = runOf("ml", "ml_job")
	if img := pods[0].Spec.Containers[0].Image; img != mlImage {
		t.Errorf("ml run pod image = %s, want %s", img, mlImage)
	}
	if l := logsOf(pods[0]); !strings.Contains(l, "ml MODEL=forest BUILD=build-1") {
		t.Errorf("ml run pod log lacks the location's env and code:\n%s", l)
	}

	// A rebuilt image under the same tag rolls exactly its location.
	analyticsGen := generationOf(t, kc.Clientset, cfg.Namespace, cfg.Release+"-code-analytics")
	daemonGen := generationOf(t, kc.Clientset, cfg.Namespace, cfg.Release+"-daemon")
	buildMLImage(t, imageDir, "build-2")
	start := time.Now()
	res, err = NewUp(NewEnv(cfg, out)).Run(ctx)
	if err != nil {
		t.Fatalf("up after rebuilding %s: %v", mlImage, err)
	}
	t.Logf("up after an image rebuild: %s, rolled %v", time.Since(start), res.Rolled)
	if len(res.Rolled) != 1 || res.Rolled[0].Workload != "Deployment/"+cfg.Release+"-code-ml" {
		t.Errorf("rolled %v, want exactly Deployment/%s-code-ml", res.Rolled, cfg.Release)
	}
	if g := generationOf(t, kc.Clientset, cfg.Namespace, cfg.Release+"-code-analytics"); g != analyticsGen {
		t.Errorf("the analytics code server rolled (generation %d -> %d) though its image did not change", analyticsGen, g)
	}
	if g := generationOf(t, kc.Clientset, cfg.Namespace, cfg.Release+"-daemon"); g != daemonGen {
		t.Errorf("the daemon rolled (generation %d -> %d)", daemonGen, g)
	}
	pods = runOf("ml", "ml_job")
	if l := logsOf(pods[0]); !strings.Contains(l, "BUILD=build-2") {
		t.Errorf("a run after the rebuild did not run the new image:\n%s", l)
	}

	// A new location whose code does not import fails up with the file:line.
	if err := os.MkdirAll(filepath.Join(root, "broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "broken", "defs.py"), []byte("import dagster\n\n\ndef broken(:\n    pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.CodeLocations = append(cfg.CodeLocations, config.CodeLocation{Name: "broken", Path: filepath.Join(root, "broken"), File: "defs.py"})
	_, err = NewUp(NewEnv(cfg, out)).Run(ctx)
	var locErr *CodeLocationError
	if !errors.As(err, &locErr) {
		t.Fatalf("up with a syntax error: %v, want a *CodeLocationError", err)
	}
	if locErr.Location != "broken" || !strings.HasSuffix(locErr.File, filepath.Join("broken", "defs.py")) || locErr.Line != 4 || !strings.Contains(locErr.Message, "SyntaxError") {
		t.Errorf("load error = %+v, want broken/defs.py:4 SyntaxError", locErr)
	}
	t.Logf("syntax error reported as: %v", err)
}

func hasMount(p corev1.Pod, path string) bool {
	for _, c := range p.Spec.Containers {
		for _, m := range c.VolumeMounts {
			if m.MountPath == path {
				return true
			}
		}
	}
	return false
}
