package stack

import (
	"context"
	"strings"
	"testing"
)

// status after a cold up: every part healthy, read through the injected
// clients only.
func TestStatusHealthyAfterUp(t *testing.T) {
	e := newTestEnv(t, testConfig(t, kindConfig), testImage)
	ctx := context.Background()
	if _, err := NewUp(e.Env).Run(ctx); err != nil {
		t.Fatalf("up: %v\n%s", err, e.out)
	}
	rep, err := NewStatus(e.Env).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Healthy {
		t.Fatalf("unhealthy: %q", rep.Problems)
	}
	if rep.Release == nil || rep.Release.Revision != 1 || rep.Release.State != "deployed" {
		t.Errorf("release %+v", rep.Release)
	}
	if !rep.Dagit.Answers || !strings.Contains(rep.Dagit.Response, "dagster_webserver_version") {
		t.Errorf("dagit %+v", rep.Dagit)
	}
	if len(rep.Locations) != 1 || rep.Locations[0].Status != "loaded" {
		t.Errorf("locations %+v", rep.Locations)
	}
	if len(rep.Workload) == 0 {
		t.Error("no workloads reported")
	}
}

// Each missing part is a problem with what to run, not an error of status.
func TestStatusUnhealthy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*testEnv)
		want  string
	}{
		{"no cluster", func(e *testEnv) { e.cluster.exists = false }, "kind cluster dagster-dev does not exist (run `dagster-dev up`)"},
		{"no release", func(e *testEnv) { e.cluster.exists = true }, "release dagster is not installed in namespace dagster (run `dagster-dev up`)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, testConfig(t, kindConfig), testImage)
			tc.setup(e)
			rep, err := NewStatus(e.Env).Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Healthy || !strings.Contains(strings.Join(rep.Problems, "\n"), tc.want) {
				t.Errorf("problems %q, want %q", rep.Problems, tc.want)
			}
		})
	}
	// Dagit down after a good up.
	e := newTestEnv(t, testConfig(t, kindConfig), testImage)
	if _, err := NewUp(e.Env).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.dagit.mu.Lock()
	e.dagit.down = true
	e.dagit.mu.Unlock()
	rep, err := NewStatus(e.Env).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Healthy || rep.Dagit.Answers || !strings.Contains(strings.Join(rep.Problems, "\n"), "Dagit does not answer") {
		t.Errorf("dagit down: %+v, problems %q", rep.Dagit, rep.Problems)
	}
}
