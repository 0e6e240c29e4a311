package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/text"

	"github.com/dagster-dev/dagster-dev/internal/dagit"
)

func (s *suite) caseRun(ctx context.Context, t *T) error {
	res, err := s.runProbe(ctx, t, CaseRun, []string{envHome})
	if err != nil {
		return err
	}
	s.runID = res.ID

	runJob := "dagster-run-" + res.ID
	var steps []string
	for n := range res.Jobs {
		if strings.HasPrefix(n, "dagster-step-") {
			steps = append(steps, n)
		}
	}
	switch {
	case !res.Jobs[runJob]:
		return fmt.Errorf("run %s succeeded but its Kubernetes Job %s was never seen in namespace %s (Jobs labelled %s=%s: %s)",
			res.ID, runJob, s.cfg.Namespace, kube.LabelRunID, res.ID, text.ListOrNone(sortedKeys(res.Jobs)))
	case len(steps) == 0:
		return fmt.Errorf("run %s succeeded but no step Job (dagster-step-*) was seen: its steps did not run as Jobs (celery-k8s or k8s executor) (Jobs: %s)",
			res.ID, text.ListOrNone(sortedKeys(res.Jobs)))
	}

	got, err := s.probeValues(ctx, res.ID)
	if err != nil {
		return err
	}
	if v := got[envHome]; v == "" || v == probeUnset {
		return fmt.Errorf("run %s: the step pod has no %s (probe reported %q)", res.ID, envHome, v)
	}

	// The run history is the run storage listing, read back through a
	// second query: the run is recorded, not only cached by the launch.
	runs, err := s.gql.Runs(ctx, res.ID)
	if err != nil {
		return fmt.Errorf("reading the run history: %w", err)
	}
	if len(runs) != 1 || runs[0].ID != res.ID || runs[0].Status != dagit.RunSuccess {
		return fmt.Errorf("run history (runsOrError with runIds [%s]) returned %v, want the run with status %s", res.ID, runs, dagit.RunSuccess)
	}
	inst, err := s.gql.Instance(ctx)
	if err != nil {
		return fmt.Errorf("reading the instance: %w", err)
	}
	if inst.Info != "" && !strings.Contains(inst.Info, "PostgresRunStorage") {
		return fmt.Errorf("the instance's run storage is not PostgreSQL:\n%s", inst.Info)
	}
	// The chart's default is dagster-dev's subclass (runLauncher.locationContext); the plain class
	// when that is off.
	if inst.RunLauncher != "" && !slices.Contains([]string{"LocationContextCeleryK8sRunLauncher", "CeleryK8sRunLauncher", "StepIdentityK8sRunLauncher", "K8sRunLauncher"}, inst.RunLauncher) {
		return fmt.Errorf("the instance's run launcher is %s, want one of the chart's (LocationContextCeleryK8sRunLauncher, CeleryK8sRunLauncher, StepIdentityK8sRunLauncher)", inst.RunLauncher)
	}
	t.Logf("run %s in the run history; run launcher %s", res.ID, inst.RunLauncher)
	return nil
}
