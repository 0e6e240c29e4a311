package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// envTarget is a component whose pods must see the fixture environment.
type envTarget struct {
	component string
	// required: the chart always has it; optional ones are checked when
	// the release has them (the daemon can be disabled).
	required bool
}

// envTargets are the chart's long-running components. Dagit and the daemon
// read dagit.*, the Celery workers and the user-code server job_runner.*.
var envTargets = []envTarget{
	{kube.ComponentDagit, true},
	{kube.ComponentDaemon, false},
	{kube.ComponentWorker, true},
	{kube.ComponentUserCode, false},
}

func (s *suite) caseEnvPrecedence(ctx context.Context, t *T) (err error) {
	if _, err := s.probeSelector(ctx); err != nil {
		return err // before touching anything: without the probe there is no job pod to ask
	}
	fx := precedenceFixture(s.token)
	base, err := s.baseValues()
	if err != nil {
		return err
	}
	vals, err := overlayValues(base, fx)
	if err != nil {
		return err
	}

	var created []fixtureObject
	changed := false
	defer func() {
		err = errors.Join(err, s.cleanup(ctx, t, changed, created))
	}()
	for _, o := range fx.Objects {
		if err := s.kube.createFixture(ctx, o); err != nil {
			return fmt.Errorf("creating fixture %s %s: %w", o.Kind, o.Name, err)
		}
		created = append(created, o)
	}
	t.Logf("created %d fixtures; upgrading release %s with them", len(created), s.cfg.Release)
	changed = true
	if err := s.release.Apply(ctx, vals); err != nil {
		return fmt.Errorf("upgrading release %s with the fixture values: %w", s.cfg.Release, err)
	}

	var problems []string
	ws, err := s.kube.releaseWorkloads(ctx)
	if err != nil {
		return err
	}
	celery, err := s.celery()
	if err != nil {
		return err
	}
	for _, tg := range envTargets {
		if tg.component == kube.ComponentWorker && !celery {
			t.Logf("no Celery workers (runLauncher.type K8sRunLauncher): job_runner.* reaches the code server and the job pods")
			continue
		}
		if _, ok := findWorkload(ws, tg.component, ""); !ok {
			if tg.required {
				problems = append(problems, fmt.Sprintf("release has no %s workload", tg.component))
			}
			continue
		}
		p, err := s.checkComponentEnv(ctx, t, tg.component, fx.Want)
		if err != nil {
			return err
		}
		problems = append(problems, p...)
	}

	keys := append(sortedKeys(fx.Want), envHome)
	res, err := s.runProbe(ctx, t, CaseEnvPrecedence, keys)
	if err != nil {
		return err
	}
	got, err := s.probeValues(ctx, res.ID)
	if err != nil {
		return err
	}
	problems = append(problems, compareEnv("job pod of run "+res.ID, got, fx.Want)...)
	if len(problems) > 0 {
		return fmt.Errorf("environment precedence (values < ConfigMaps < Secrets) is broken:\n%s", strings.Join(problems, "\n"))
	}
	return nil
}

// checkComponentEnv execs printenv in every Ready pod of the component and
// compares with want.
func (s *suite) checkComponentEnv(ctx context.Context, t *T, component string, want map[string]string) ([]string, error) {
	pods, err := s.kube.componentPods(ctx, component)
	if err != nil {
		return nil, err
	}
	if len(pods) == 0 {
		return []string{fmt.Sprintf("%s: no Ready pod", component)}, nil
	}
	var problems []string
	for i := range pods {
		env, err := s.kube.podEnv(ctx, &pods[i], "")
		if err != nil {
			return nil, err
		}
		where := fmt.Sprintf("%s pod %s", component, pods[i].Name)
		problems = append(problems, compareEnv(where, env, want)...)
		t.Logf("%s: %d variables checked", where, len(want)+1)
	}
	return problems, nil
}

// compareEnv reports every variable that differs from want, and a missing
// DAGSTER_HOME. Values are fixture values, not secrets, so they are shown.
func compareEnv(where string, got, want map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(want) {
		g, ok := got[k]
		switch {
		case !ok || g == probeUnset:
			out = append(out, fmt.Sprintf("%s: %s is not set, want %q", where, k, want[k]))
		case g != want[k]:
			out = append(out, fmt.Sprintf("%s: %s=%q, want %q", where, k, g, want[k]))
		}
	}
	if h := got[envHome]; h == "" || h == probeUnset {
		out = append(out, fmt.Sprintf("%s: %s is not set", where, envHome))
	}
	return out
}
