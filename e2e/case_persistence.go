package e2e

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dagster-dev/dagster-dev/internal/kube"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/internal/readiness"
)

func (s *suite) casePersistence(ctx context.Context, t *T) error {
	base, err := s.baseValues()
	if err != nil {
		return err
	}
	if !valueOr(base, true, "postgresql", "enabled") {
		return skipf("postgresql.enabled is false: the database is external and the suite does not restart it")
	}
	if !valueOr(base, true, "postgresql", "persistence", "enabled") {
		return skipf("postgresql.persistence.enabled is false: runs are not meant to survive a database restart")
	}
	runID := s.runID
	if runID == "" {
		// The run case was filtered out: make the run to look for.
		res, err := s.runProbe(ctx, t, CasePersistence, []string{envHome})
		if err != nil {
			return err
		}
		runID = res.ID
	}

	ws, err := s.kube.releaseWorkloads(ctx)
	if err != nil {
		return err
	}
	pg, ok := findWorkload(ws, kube.ComponentDatabase, "postgresql")
	if !ok {
		return fmt.Errorf("release %s has no PostgreSQL workload (workloads: %s)", s.cfg.Release, workloadIDs(ws))
	}
	pods, err := s.kube.readyPods(ctx, pg.selector)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		return fmt.Errorf("%s has no Ready pod", pg.ID())
	}
	old := map[string]bool{}
	for _, p := range pods {
		old[string(p.UID)] = true
		uid := p.UID
		err := s.kube.client.CoreV1().Pods(s.cfg.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting pod %s: %w", p.Name, err)
		}
		t.Logf("deleted pod %s", p.Name)
	}

	// Back means a new pod is Ready and none of the deleted ones is left.
	deadline := time.Now().Add(s.timeout())
	for {
		cur, err := s.kube.readyPods(ctx, pg.selector)
		if err == nil && len(cur) > 0 {
			fresh := true
			for _, p := range cur {
				fresh = fresh && !old[string(p.UID)]
			}
			if fresh {
				t.Logf("PostgreSQL is back: pod %s", cur[0].Name)
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no new Ready pod %s after deleting %s", pg.ID(), s.timeout(), pods[0].Name)
		}
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}
	}

	// Dagit's connection pool may need a few queries to reconnect; only a
	// run that is missing or changed once it answers is a failure.
	var lastErr error
	for {
		run, err := s.gql.Run(ctx, runID)
		switch {
		case err == nil && run.Status == dagit.RunSuccess:
			runs, err := s.gql.Runs(ctx, runID)
			if err != nil {
				return fmt.Errorf("reading the run history after the restart: %w", err)
			}
			if len(runs) != 1 || runs[0].Status != dagit.RunSuccess {
				return fmt.Errorf("after the PostgreSQL restart the run history has %v for run %s, want it with status %s", runs, runID, dagit.RunSuccess)
			}
			t.Logf("run %s is still in the history with status %s", runID, run.Status)
			// Leave the environment as healthy as it was for the next case.
			return readiness.Wait(ctx, s.kube.client, s.cfg.Namespace, kube.LabelInstance+"="+s.cfg.Release, s.timeout(), nil)
		case err == nil:
			return fmt.Errorf("after the PostgreSQL restart run %s has status %s, want %s", runID, run.Status, dagit.RunSuccess)
		case errors.Is(err, dagit.ErrRunNotFound):
			return fmt.Errorf("after the PostgreSQL restart run %s is gone from the history: the database did not persist", runID)
		case ctx.Err() != nil:
			return ctx.Err()
		}
		lastErr = err
		if time.Now().After(deadline) {
			return fmt.Errorf("reading run %s through Dagit after the PostgreSQL restart: %w", runID, lastErr)
		}
		if err := sleep(ctx, s.poll); err != nil {
			return err
		}
	}
}
