package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dagster-dev/dagster-dev/cluster"
	"github.com/dagster-dev/dagster-dev/internal/readiness"
)

var (
	builtOnce sync.Once
	builtPath string
	builtErr  error
)

// builtCLI compiles the real dagster-dev binary once per test run, so the
// layout tests see exactly what a user sees: main, run, report, os.Exit.
func builtCLI(t *testing.T) string {
	t.Helper()
	builtOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dagster-dev-cli-test")
		if err != nil {
			builtErr = err
			return
		}
		builtPath = filepath.Join(dir, "dagster-dev")
		out, err := exec.Command("go", "build", "-o", builtPath, ".").CombinedOutput()
		if err != nil {
			builtErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if builtErr != nil {
		t.Fatal(builtErr)
	}
	return builtPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtPath != "" {
		os.RemoveAll(filepath.Dir(builtPath))
	}
	os.Exit(code)
}

// runBinary runs the built CLI in dir with extra environment variables.
func runBinary(t *testing.T, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(builtCLI(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "DAGSTER_DEV_CONFIG=", "KUBECONFIG="+filepath.Join(t.TempDir(), "none"))
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running the CLI: %v", err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// (a) A config error: the headline is file:line: key: message, nothing else.
func TestBinaryConfigErrorLayout(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dagster-dev.yaml"), []byte("namespace: dagster\ncluster:\n  nodez: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stderr := runBinary(t, dir, nil, "status")
	want := "error: dagster-dev.yaml:3: cluster.nodez: unknown key (did you mean \"nodes\"?)\n"
	if code != exitUsage || stderr != want {
		t.Errorf("exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", code, stderr, exitUsage, want)
	}
}

// (b) Docker unreachable (DOCKER_HOST names a socket that does not exist, so
// no Docker engine is touched): the headline, then the fix, each once.
func TestBinaryDockerErrorLayout(t *testing.T) {
	dir := t.TempDir()
	sock := "unix://" + filepath.Join(dir, "missing.sock")
	for _, verb := range []string{"status", "up"} {
		code, stderr := runBinary(t, dir, []string{"DOCKER_HOST=" + sock}, verb)
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		if code != exitFailure || len(lines) != 2 ||
			!strings.HasPrefix(lines[0], "error: Docker is not reachable at "+sock+": ") ||
			!strings.HasPrefix(lines[1], "fix: start Docker: ") {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant exit %d, an error: line then one fix: line", verb, code, stderr, exitFailure)
		}
	}
}

// (c) A readiness failure needs a real cluster to happen, which these tests
// do not have, so a readiness.FailureError is built by hand and rendered
// through report, the same function run uses for every command.
func TestReportReadinessFailureLayout(t *testing.T) {
	fe := &readiness.FailureError{
		Kind: readiness.KindCrashLoop, WorkloadKind: "Deployment", Namespace: "dagster", Name: "dagster-dagit",
		Pod: "dagster-dagit-abc", Container: "dagit", Reason: "CrashLoopBackOff",
		Message: "back-off restarting failed container", Hint: "check the container's log below",
		Events: []string{"10s Warning BackOff pod/dagster-dagit-abc back-off"},
		Logs:   "Traceback\nKeyError: 'A'\n", LogsPrevious: true,
	}
	var buf bytes.Buffer
	code := report(&buf, fmt.Errorf("workloads ready: %w", fe))
	out := buf.String()
	t.Logf("rendered:\n%s", out)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	head := strings.Index(out, "error: workloads ready: Deployment dagster-dagit in namespace dagster cannot become ready")
	fix := strings.Index(out, "fix: check the container's log below")
	events := strings.Index(out, "Recent events:\n  10s Warning BackOff")
	logs := strings.Index(out, "Last log lines of pod dagster-dagit-abc, container dagit, previous run:\n  Traceback")
	if head != 0 || fix < head || events < fix || logs < events {
		t.Errorf("want headline, fix, events, logs in that order:\n%s", out)
	}
	for _, s := range []string{"fix:", "Recent events:", "Last log lines", "error:"} {
		if n := strings.Count(out, s); n != 1 {
			t.Errorf("%q appears %d times:\n%s", s, n, out)
		}
	}
}

// Each remedy is printed once, after the headline, also for joined errors
// and errors wrapped around a fixable one.
func TestReportFixesOnceInOrder(t *testing.T) {
	a := &cluster.MissingImageError{Image: "a:1", Err: errors.New("No such image: a:1")}
	b := &cluster.MissingImageError{Image: "b:1", Err: errors.New("No such image: b:1")}
	err := fmt.Errorf("load images: %w", errors.Join(a, b, a))
	var buf bytes.Buffer
	if code := report(&buf, err); code != exitFailure {
		t.Errorf("exit %d", code)
	}
	want := "error: " + err.Error() + "\nfix: " + a.Fix() + "\nfix: " + b.Fix() + "\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestReportInterruptAndNil(t *testing.T) {
	var buf bytes.Buffer
	if code := report(&buf, nil); code != exitOK || buf.Len() != 0 {
		t.Errorf("nil: exit %d, output %q", code, buf.String())
	}
	if code := report(&buf, fmt.Errorf("chart: %w", context.Canceled)); code != exitInterrupted || buf.String() != "interrupted\n" {
		t.Errorf("canceled: exit %d, output %q", code, buf.String())
	}
}

// A child that died of the user's Ctrl-C fails with its own words (exit
// status 1); once our context is cancelled, the command reports the
// interrupt, not that failure. Without an interrupt errors stay as they are.
func TestAfterInterrupt(t *testing.T) {
	childErr := errors.New(`failed to load image: command "docker exec … ctr images import -" failed with error: exit status 1`)
	ctx, cancel := context.WithCancel(context.Background())
	if got := afterInterrupt(ctx, childErr); got != childErr {
		t.Errorf("not interrupted: %v", got)
	}
	cancel()
	var b bytes.Buffer
	if code := report(&b, afterInterrupt(ctx, childErr)); code != exitInterrupted || b.String() != "interrupted\n" {
		t.Errorf("interrupted: exit %d, %q", code, b.String())
	}
	if afterInterrupt(ctx, nil) != nil {
		t.Error("a command that finished despite the signal must stay a success")
	}
}
