package offline_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dagster-dev/dagster-dev/e2e/offline/harness"
	"github.com/dagster-dev/dagster-dev/internal/e2etest"
)

// requireE2E skips unless DAGSTER_DEV_E2E=1, and then insists on what the
// slow tests need: root, docker, and the images prepare builds.
func requireE2E(t *testing.T, images ...string) {
	t.Helper()
	e2etest.Require(t)
	if os.Geteuid() != 0 {
		t.Fatal("the offline harness tests run as root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("docker does not answer (%v: %s); run e2e/offline/prepare, which starts dockerd", err, bytes.TrimSpace(out))
	}
	for _, ref := range images {
		if harness.ImageKey(ctx, ref) == "" {
			t.Fatalf("image %s is missing (or was not built by the harness); run e2e/offline/prepare", ref)
		}
	}
}

// docker runs a docker command and returns its combined output.
func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err != nil {
		return s, fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, s)
	}
	return s, nil
}

func mustDocker(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, err := docker(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// eventually retries f every interval until it succeeds or d passes, and
// returns the last error.
func eventually(ctx context.Context, d, interval time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%v (last error: %w)", ctx.Err(), err)
		case <-time.After(interval):
		}
	}
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000)
}
