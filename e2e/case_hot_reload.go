package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/text"
	"github.com/dagster-dev/dagster-dev/watch"
)

// hotReloadSource is the watched source the hot-reload case adds to a copy
// of the config: a dotenv file attached to job_runner, so the Celery
// workers and the user-code server read it and Dagit does not.
func hotReloadSource(name, path string) config.Source {
	return config.Source{Name: name, Kind: config.KindConfigMap, Path: path, Format: config.FormatDotenv, Attach: []string{config.TargetJobRunner}}
}

// withSource returns a copy of cfg with one more watched source. The copy
// shares nothing mutable with cfg.
func withSource(cfg *config.Config, src config.Source) *config.Config {
	c := *cfg
	c.Watch.Sources = append(slices.Clone(cfg.Watch.Sources), src)
	return &c
}

// watchEvents collects what the in-process watch reports.
type watchEvents struct {
	reloads  chan watch.Reload
	changes  chan watch.Change
	problems chan error
}

func (w *watchEvents) Info(string) {}
func (w *watchEvents) Problem(err error) {
	select {
	case w.problems <- err:
	default:
	}
}
func (w *watchEvents) Reloaded(r watch.Reload) {
	select {
	case w.reloads <- r:
	default:
	}
}
func (w *watchEvents) Changed(c watch.Change) {
	select {
	case w.changes <- c:
	default:
	}
}

func (s *suite) caseHotReload(ctx context.Context, t *T) (err error) {
	if _, err := s.probeSelector(ctx); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "dagster-dev-test-hot-reload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "hot-reload.env")
	before, after := "before-"+s.token, "after-"+s.token
	if err := os.WriteFile(file, []byte(envHotReload+"="+before+"\n"), 0o600); err != nil {
		return err
	}
	name := FixturePrefix + "hot-reload"
	cfg2 := withSource(s.cfg, hotReloadSource(name, file))
	obj := fixtureObject{Kind: config.KindConfigMap, Name: name, Data: map[string]string{envHotReload: before}}

	var created []fixtureObject
	changed := false
	defer func() {
		err = errors.Join(err, s.cleanup(ctx, t, changed, created))
	}()
	// The suite creates the object itself, with its fixture label, so that
	// it can tell it from a user's and remove it afterwards; watch then
	// finds the content equal to the file and leaves it alone until the
	// edit.
	if err := s.kube.createFixture(ctx, obj); err != nil {
		return fmt.Errorf("creating fixture ConfigMap %s: %w", name, err)
	}
	created = append(created, obj)

	// Attaching a new source changes the chart values (job_runner's
	// env_config_maps), the same upgrade `up` does for a config with that
	// source. It is the set-up; the hot reload is the edit below.
	vals, err := s.valuesFor(cfg2)
	if err != nil {
		return err
	}
	changed = true
	t.Logf("attaching ConfigMap %s to job_runner", name)
	if err := s.release.Apply(ctx, vals); err != nil {
		return fmt.Errorf("upgrading release %s with the watched source: %w", s.cfg.Release, err)
	}

	ws, err := s.kube.releaseWorkloads(ctx)
	if err != nil {
		return err
	}
	var affected, unaffected []workload
	for _, w := range ws {
		if w.refs[config.KindConfigMap+"/"+name] {
			affected = append(affected, w)
		} else {
			unaffected = append(unaffected, w)
		}
	}
	celery, err := s.celery()
	if err != nil {
		return err
	}
	// job_runner.* is read by the Celery workers, or (K8sRunLauncher) by the code server alone.
	reader, readerName := kube.ComponentWorker, "Celery worker"
	if !celery {
		reader, readerName = kube.ComponentUserCode, "code server"
	}
	if _, ok := findWorkload(affected, reader, ""); !ok {
		return fmt.Errorf("after attaching ConfigMap %s to job_runner, no %s reads it (workloads reading it: %s)", name, readerName, text.ListOrNone(strings.Split(workloadIDs(affected), ", ")))
	}
	uidsBefore, err := s.kube.podUIDs(ctx, ws)
	if err != nil {
		return err
	}

	wctx, stopWatch := context.WithCancel(ctx)
	events := &watchEvents{changes: make(chan watch.Change, 16), problems: make(chan error, 16)}
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- watch.Run(wctx, watch.Options{Config: cfg2, Client: s.kube.client, Reporter: events, RolloutTimeout: s.timeout()})
	}()
	defer func() {
		stopWatch()
		<-watchDone
	}()

	// An edit made before watch has its file watch in place is still
	// applied: its first full sync reads the file and finds it differs
	// from the cluster.
	t.Logf("editing %s: %s=%s", file, envHotReload, after)
	if err := os.WriteFile(file, []byte(envHotReload+"="+after+"\n"), 0o600); err != nil {
		return err
	}
	change, err := waitChange(ctx, events, watchDone, config.KindConfigMap+"/"+name, s.timeout()+time.Minute)
	if err != nil {
		return err
	}
	if change.RolloutErr != nil {
		return fmt.Errorf("watch applied the edit but a restarted workload did not become ready: %w", change.RolloutErr)
	}
	t.Logf("watch: %s", change.Summary())

	var problems []string
	uidsAfter, err := s.kube.podUIDs(ctx, ws)
	if err != nil {
		return err
	}
	for _, w := range affected {
		old, cur := uidsBefore[w.ID()], uidsAfter[w.ID()]
		if len(cur) == 0 {
			problems = append(problems, fmt.Sprintf("%s reads the edited source but has no Ready pod after the edit", w.ID()))
			continue
		}
		for _, u := range cur {
			if slices.Contains(old, u) {
				problems = append(problems, fmt.Sprintf("%s reads the edited source but pod %s was not restarted", w.ID(), u))
			}
		}
		pods, err := s.kube.readyPods(ctx, w.selector)
		if err != nil {
			return err
		}
		for i := range pods {
			env, err := s.kube.podEnv(ctx, &pods[i], "")
			if err != nil {
				return err
			}
			if got := env[envHotReload]; got != after {
				problems = append(problems, fmt.Sprintf("%s pod %s: %s=%q, want %q", w.ID(), pods[i].Name, envHotReload, got, after))
			}
		}
	}
	for _, w := range unaffected {
		if old, cur := uidsBefore[w.ID()], uidsAfter[w.ID()]; !slices.Equal(old, cur) {
			problems = append(problems, fmt.Sprintf("%s does not read the edited source but its pods changed (before %v, after %v)", w.ID(), old, cur))
		}
	}

	res, err := s.runProbe(ctx, t, CaseHotReload, []string{envHotReload})
	if err != nil {
		return err
	}
	got, err := s.probeValues(ctx, res.ID)
	if err != nil {
		return err
	}
	if got[envHotReload] != after {
		problems = append(problems, fmt.Sprintf("job pod of run %s: %s=%q, want %q", res.ID, envHotReload, got[envHotReload], after))
	}
	if len(problems) > 0 {
		return fmt.Errorf("hot reload of ConfigMap %s:\n%s", name, strings.Join(problems, "\n"))
	}
	return nil
}

// waitChange waits for watch to report the change of object (after its
// rollouts), a problem, or watch ending.
func waitChange(ctx context.Context, ev *watchEvents, done <-chan error, object string, timeout time.Duration) (watch.Change, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var problems []error
	for {
		select {
		case c := <-ev.changes:
			if c.Object == object && slices.Contains(append(append(c.Changed, c.Added...), c.Removed...), envHotReload) {
				return c, nil
			}
		case p := <-ev.problems:
			problems = append(problems, p)
		case err := <-done:
			if errors.Is(err, watch.ErrAlreadyWatching) {
				return watch.Change{}, skipf("%v: stop it to test hot reload", err)
			}
			if err == nil {
				err = errors.New("watch stopped")
			}
			return watch.Change{}, fmt.Errorf("watch ended before applying the edit: %w", errors.Join(append(problems, err)...))
		case <-timer.C:
			msg := fmt.Sprintf("watch did not report applying the edit of %s within %s", object, timeout)
			if len(problems) > 0 {
				return watch.Change{}, fmt.Errorf("%s; it reported: %w", msg, errors.Join(problems...))
			}
			return watch.Change{}, errors.New(msg)
		case <-ctx.Done():
			return watch.Change{}, ctx.Err()
		}
	}
}
