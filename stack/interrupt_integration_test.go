package stack

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/cluster"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/progress"
)

// interruptPoint is where a test presses Ctrl-C: delay after the step
// whose "… name" line the binary printed.
type interruptPoint struct {
	step  string
	delay time.Duration
	// exitWithin bounds the wait from Ctrl-C to exit (0: 10 s).
	exitWithin time.Duration
}

// TestInterruptedUpConverges presses Ctrl-C (SIGINT to the real binary) at
// twelve points of a cold up, one after the other on the same cluster, each
// later up going on from what the earlier ones left: before anything exists,
// while kind creates the cluster, while images load, inside the Helm write,
// while workloads start. After each, nothing may be left pending; at the
// end a plain up converges to one healthy environment with no duplicate
// objects, and then the node container is stopped (a Docker or machine
// restart) and up brings Dagit back.
func TestInterruptedUpConverges(t *testing.T) {
	cfg := integrationConfig(t)
	cfg.Cluster.Name = "dagster-dev-interrupt-test"
	cfg.Dagit.HostPort = 3109
	ctx := context.Background()
	out := progress.New(testWriter{t})
	p := cluster.NewProvider()
	t.Cleanup(func() {
		if _, err := NewDown(NewEnv(cfg, out)).Run(context.Background()); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
	})
	bin, file := binaryAndConfig(t, cfg)

	points := []interruptPoint{
		{"preflight", 0, 0},
		{"images", 0, 0},
		// Inside kind's create, which cannot be stopped half-way: up waits
		// for it so the new cluster is recorded as its own (down deletes it).
		{"cluster ", 3 * time.Second, time.Minute},
		// The cluster exists, its claims do not: they are being bound
		// beside the images (the binder pod must not be left behind).
		{"volumes", 300 * time.Millisecond, 0},
		{"images", time.Second, 0}, // loads start at once
		{"images", 6 * time.Second, 0},
		{"namespace and sources", 0, 0},
		{"chart ", 200 * time.Millisecond, 0}, // inside the Helm install
		{"chart ", 50 * time.Millisecond, 0},
		// Early enough that the pods, started by the up before, are not
		// Ready yet (they take 12 s or more on these machines).
		{"workloads ready", time.Second, 0},
		{"workloads ready", 3 * time.Second, 0},
		// The last steps take milliseconds: up may finish before the
		// signal lands, which is fine, but then the point is not counted.
		{"dagit", 0, 0},
	}
	interrupted := 0
	for i, pt := range points {
		res := interruptUp(t, bin, file, pt)
		if res.finished {
			t.Logf("point %d (%q +%s): up finished before the signal", i+1, pt.step, pt.delay)
			continue
		}
		interrupted++
		t.Logf("point %d (%q +%s): exit %d, %s after SIGINT, last step %q", i+1, pt.step, pt.delay, res.exit, res.exitAfter.Round(10*time.Millisecond), res.lastStep)
		within := pt.exitWithin
		if within == 0 {
			within = 10 * time.Second
		}
		if res.exit != 130 {
			t.Errorf("point %d: up exited %d after Ctrl-C, want 130 (interrupted)", i+1, res.exit)
		}
		if res.exitAfter > within {
			t.Errorf("point %d: up took %s to exit after Ctrl-C (want <= %s)", i+1, res.exitAfter, within)
		}
		st, err := p.Status(ctx, cfg.Cluster.Name)
		if err != nil {
			t.Fatalf("point %d: cluster status: %v", i+1, err)
		}
		// (At point 2 the cluster step starts milliseconds after the images
		// line, so the signal may land after kind began: either is right.)
		if i == 0 && st.Exists {
			t.Fatalf("point %d: Ctrl-C before the cluster step left a cluster", i+1)
		}
		if st.Exists && !st.Owned {
			t.Fatalf("point %d: the cluster is not recorded as dagster-dev's, so down would refuse it", i+1)
		}
		if st.Exists {
			assertNothingPending(t, cfg, i+1)
		}
	}

	if interrupted < 11 {
		t.Fatalf("only %d of %d points interrupted an up", interrupted, len(points))
	}

	// A plain up converges.
	final, err := NewUp(NewEnv(cfg, out)).Run(ctx)
	if err != nil {
		t.Fatalf("up after the interrupts: %v", err)
	}
	assertNothingPending(t, cfg, len(points)+1)
	kc, err := NewEnv(cfg, nil).Kube.Connect()
	if err != nil {
		t.Fatal(err)
	}
	deps, err := kc.Clientset.AppsV1().Deployments(cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: kube.ReleaseSelector(cfg.Release)})
	if err != nil {
		t.Fatal(err)
	}
	// dagit, daemon, celery workers, the bundled code server
	if len(deps.Items) != 4 {
		var names []string
		for _, d := range deps.Items {
			names = append(names, d.Name)
		}
		t.Errorf("deployments after convergence: %v, want 4", names)
	}
	if rep, err := NewStatus(NewEnv(cfg, nil)).Run(ctx); err != nil || !rep.Healthy {
		t.Fatalf("status after convergence: %v\n%s", err, rep.Text())
	}
	t.Logf("converged: %s revision %d", final.ChartAction, final.Revision)

	// The node container stops (Docker engine or machine restart): up
	// starts it and brings Dagit back, with the same release.
	if out, err := exec.Command("docker", "stop", cfg.Cluster.Name+"-control-plane").CombinedOutput(); err != nil {
		t.Fatalf("docker stop: %v: %s", err, out)
	}
	start := time.Now()
	back, err := NewUp(NewEnv(cfg, out)).Run(ctx)
	if err != nil {
		t.Fatalf("up after the node stopped: %v", err)
	}
	t.Logf("node stopped -> up -> Dagit answers: %s", time.Since(start).Round(100*time.Millisecond))
	if back.ChartAction != chart.Unchanged || back.Revision != final.Revision {
		t.Errorf("up after the node stopped changed the release: %s revision %d", back.ChartAction, back.Revision)
	}
	if rep, err := NewStatus(NewEnv(cfg, nil)).Run(ctx); err != nil || !rep.Healthy {
		t.Fatalf("status after the node restart: %v\n%s", err, rep.Text())
	}
}

type interruptResult struct {
	// finished: up was done before the signal could land.
	finished  bool
	exit      int
	exitAfter time.Duration
	lastStep  string
}

// interruptUp runs `dagster-dev up` and sends SIGINT pt.delay after it
// printed the start of step pt.step.
func interruptUp(t *testing.T, bin, file string, pt interruptPoint) interruptResult {
	t.Helper()
	cmd := exec.Command(bin, "up", "--config", file)
	cmd.Env = append(os.Environ(), "CI=true")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var res interruptResult
	var sent time.Time
	var timer *time.Timer
	sentCh := make(chan time.Time, 1)
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		line := scanner.Text()
		t.Log("  | " + line)
		if name, ok := strings.CutPrefix(line, "… "); ok {
			res.lastStep = name
			if timer == nil && strings.HasPrefix(name, pt.step) {
				timer = time.AfterFunc(pt.delay, func() {
					sentCh <- time.Now()
					_ = cmd.Process.Signal(syscall.SIGINT)
				})
			}
		}
	}
	err = cmd.Wait()
	exited := time.Now()
	if timer == nil {
		t.Fatalf("step %q never started", pt.step)
	}
	select {
	case sent = <-sentCh:
	default:
		timer.Stop()
		if err != nil {
			t.Fatalf("up failed before Ctrl-C at %q +%s: %v", pt.step, pt.delay, err)
		}
		res.finished = true
		return res
	}
	if err == nil {
		// The signal went out as up was exiting.
		res.finished = true
		return res
	}
	res.exitAfter = exited.Sub(sent)
	if ee, ok := err.(*exec.ExitError); ok {
		res.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return res
}

// assertNothingPending fails when a revision of the release is stuck in
// a pending state, which would block every later Helm operation ("another
// operation is in progress").
func assertNothingPending(t *testing.T, cfg *config.Config, point int) {
	t.Helper()
	kc, err := NewEnv(cfg, nil).Kube.Connect()
	if err != nil {
		t.Fatalf("point %d: %v", point, err)
	}
	helmCfg := kc.Helm
	pods, err := kc.Clientset.CoreV1().Pods(cfg.Namespace).List(context.Background(), metav1.ListOptions{LabelSelector: kube.ManagedBySelector()})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("point %d: %v", point, err)
	}
	if err == nil && len(pods.Items) > 0 {
		t.Errorf("point %d: pods dagster-dev made itself are left: %s", point, pods.Items[0].Name)
	}
	h, err := helmCfg.Releases.History(cfg.Release)
	if err != nil {
		return // no release yet
	}
	for _, r := range h {
		if r.Info.Status.IsPending() {
			t.Errorf("point %d: revision %d of release %s left %s", point, r.Version, cfg.Release, r.Info.Status)
		}
	}
}

// binaryAndConfig builds the binary and writes cfg to a file it can read.
func binaryAndConfig(t *testing.T, cfg *config.Config) (bin, file string) {
	t.Helper()
	bin = filepath.Join(t.TempDir(), "dagster-dev")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/dagster-dev").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data, err := marshalConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), "dagster-dev.yaml")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return bin, file
}
