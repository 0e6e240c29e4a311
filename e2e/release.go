package e2e

import (
	"context"
	"errors"
	"fmt"

	"helm.sh/helm/v3/pkg/action"

	"github.com/dagster-dev/dagster-dev/internal/kube"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/readiness"
)

// chartRelease changes the release through the chart package, exactly as
// `up` does, and waits for the rollout with internal/readiness.
type chartRelease struct {
	cfg  *config.Config
	kube *kubeClient
	helm *action.Configuration
}

func (r *chartRelease) Apply(ctx context.Context, vals map[string]any) error {
	ac := r.helm
	// The suite tests an environment, it never creates one: upgrading a
	// release that is not there would install a fresh Dagster.
	if _, err := (&chart.Status{Config: ac, ReleaseName: r.cfg.Release}).Run(); err != nil {
		if errors.Is(err, chart.ErrReleaseNotFound) {
			return fmt.Errorf("release %s is not installed in namespace %s: run `dagster-dev up` first", r.cfg.Release, r.cfg.Namespace)
		}
		return err
	}
	if _, err := (&chart.Apply{Config: ac, Namespace: r.cfg.Namespace, ReleaseName: r.cfg.Release, Values: vals}).Run(ctx); err != nil {
		return err
	}
	return readiness.Wait(ctx, r.kube.client, r.cfg.Namespace, kube.LabelInstance+"="+r.cfg.Release, r.cfg.Timeout.Duration, nil)
}
