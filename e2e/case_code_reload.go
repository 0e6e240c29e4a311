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
	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/stack"
	"github.com/dagster-dev/dagster-dev/watch"
)

// scratchLocationName is the code location the code cases declare for
// themselves; its files are written by the suite, so the cases run the same
// against any image that has Dagster and dagster-celery-k8s.
const scratchLocationName = "dagster-dev-test-code"

// scratchRepository is the repository of a Definitions-based location.
const scratchRepository = "__repository__"

// scratchCode is a definitions.py with the base job and extra, appended
// Python (empty for none).
func scratchCode(extra string) string {
	return `"""Written by dagster-dev test; removed when the case ends."""

import os

from dagster import Definitions, job, op
from dagster_celery_k8s import celery_k8s_job_executor
from dagster_k8s import k8s_job_executor

# As the chart's example: each step a Job, started by a Celery worker or (K8sRunLauncher) the run pod.
EXECUTOR = (
    k8s_job_executor
    if os.environ.get("DAGSTER_DEV_RUN_LAUNCHER") == "K8sRunLauncher"
    else celery_k8s_job_executor
)


@op
def base_op(context):
    context.log.info("base")


@job(executor_def=EXECUTOR)
def dagster_dev_scratch_base():
    base_op()

` + extra + `
defs = Definitions(jobs=[j for j in globals().values() if getattr(j, "__class__", None).__name__ == "JobDefinition"])
`
}

// scratchLocation is a code location the suite declares in a copy of the
// config, mounted from a directory under the cluster's code root.
type scratchLocation struct {
	dir    string // on the host
	file   string // definitions.py on the host
	cfg    *config.Config
	events *watchEvents
	done   chan error
}

// withScratchLocation deploys a path code location with scratchCode(""),
// starts an in-process watch on the extended config and runs fn; then it
// stops the watch, restores the release and removes the directory.
func (s *suite) withScratchLocation(ctx context.Context, t *T, fn func(loc *scratchLocation) error) (err error) {
	root := s.cfg.CodeRoot()
	if s.cfg.ExistingCluster() || root == "" {
		return skipf("needs a kind cluster with dagster-dev's code mount (path code locations); this environment is an existing cluster or has no config file")
	}
	// A cluster created from another directory's config mounts that one.
	if err := s.checkCodeMount(ctx); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(root, ".dagster-dev-test-code-")
	if err != nil {
		return fmt.Errorf("creating the scratch location under cluster.codeRoot %s: %w", root, err)
	}
	defer os.RemoveAll(dir)
	// Readable by whatever user the code server runs as.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	loc := &scratchLocation{dir: dir, file: filepath.Join(dir, "definitions.py")}
	if err := loc.write(scratchCode("")); err != nil {
		return err
	}
	c := *s.cfg
	c.CodeLocations = append(slices.Clone(s.cfg.CodeLocations), config.CodeLocation{Name: scratchLocationName, Path: dir, File: "definitions.py"})
	loc.cfg = &c
	vals, err := s.valuesFor(loc.cfg)
	if err != nil {
		return err
	}

	changed := false
	defer func() {
		err = errors.Join(err, s.cleanup(ctx, t, changed, nil))
	}()
	changed = true
	t.Logf("deploying code location %s from %s", scratchLocationName, dir)
	if err := s.release.Apply(ctx, vals); err != nil {
		return fmt.Errorf("upgrading release %s with the scratch code location: %w", s.cfg.Release, err)
	}
	if _, err := s.gql.WaitLocation(ctx, scratchLocationName, Poll{Interval: s.poll, Timeout: s.timeout()}); err != nil {
		return err
	}

	wctx, stopWatch := context.WithCancel(ctx)
	loc.events = &watchEvents{reloads: make(chan watch.Reload, 16), changes: make(chan watch.Change, 16), problems: make(chan error, 16)}
	loc.done = make(chan error, 1)
	go func() {
		loc.done <- watch.Run(wctx, watch.Options{Config: loc.cfg, Client: s.kube.client, Reporter: loc.events,
			RolloutTimeout: s.timeout(), Code: watch.DagitLocations(s.gql, s.timeout())})
	}()
	defer func() {
		stopWatch()
		<-loc.done
	}()
	// The start-up reload comes first; edits are measured after it.
	if _, err := loc.waitReload(ctx, s.timeout(), func(watch.Reload) bool { return true }); err != nil {
		return err
	}
	return fn(loc)
}

// write saves content the way an editor does: a temp file renamed over
// the original.
func (l *scratchLocation) write(content string) error {
	tmp := l.file + ".tmp-dagster-dev"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, l.file)
}

// waitReload waits for watch to report a reload of the scratch location
// that ok accepts.
func (l *scratchLocation) waitReload(ctx context.Context, timeout time.Duration, ok func(watch.Reload) bool) (watch.Reload, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var problems []error
	for {
		select {
		case r := <-l.events.reloads:
			if r.Location == scratchLocationName && ok(r) {
				return r, nil
			}
		case p := <-l.events.problems:
			// Nothing else reports problems in the scratch config: this
			// one is about the reload being waited for.
			return watch.Reload{}, fmt.Errorf("watch reported a problem instead of the expected reload of %s: %w", scratchLocationName, p)
		case err := <-l.done:
			if errors.Is(err, watch.ErrAlreadyWatching) {
				return watch.Reload{}, skipf("%v: stop it to test code reload", err)
			}
			if err == nil {
				err = errors.New("watch stopped")
			}
			return watch.Reload{}, fmt.Errorf("watch ended before reloading %s: %w", scratchLocationName, errors.Join(append(problems, err)...))
		case <-timer.C:
			msg := fmt.Sprintf("watch did not report the expected reload of code location %s within %s", scratchLocationName, timeout)
			if len(problems) > 0 {
				return watch.Reload{}, fmt.Errorf("%s; it reported: %w", msg, errors.Join(problems...))
			}
			return watch.Reload{}, errors.New(msg)
		case <-ctx.Done():
			return watch.Reload{}, ctx.Err()
		}
	}
}

// added reports whether the reload added job.
func added(r watch.Reload, job string) bool {
	return slices.ContainsFunc(r.Added, func(d dagit.Definition) bool { return d.Kind == dagit.KindJob && d.Name == job })
}

func (s *suite) caseCodeReload(ctx context.Context, t *T) error {
	return s.withScratchLocation(ctx, t, func(loc *scratchLocation) error {
		job := "dagster_dev_edited_" + s.token
		marker := "DAGSTER_DEV_CODE_MARKER edited-" + s.token
		t.Logf("adding job %s to %s", job, loc.file)
		if err := loc.write(scratchCode(fmt.Sprintf(`
@op
def edited_op(context):
    context.log.info(%q)
    print(%q, flush=True)


@job(executor_def=EXECUTOR)
def %s():
    edited_op()
`, marker, marker, job))); err != nil {
			return err
		}
		r, err := loc.waitReload(ctx, s.timeout(), func(r watch.Reload) bool { return r.Err != nil || added(r, job) })
		if err != nil {
			return err
		}
		if r.Err != nil {
			return fmt.Errorf("the edited location failed to load: %w", r.Err)
		}
		t.Logf("watch: %s", r.Summary())

		st, err := s.gql.Location(ctx, scratchLocationName)
		if err != nil {
			return err
		}
		if !st.HasJob(scratchRepository, job) {
			return fmt.Errorf("watch reported the reload, but Dagit's code location %s has no job %s (%s)", scratchLocationName, job, st)
		}
		res, err := s.runJob(ctx, t, dagit.JobSelector{Location: scratchLocationName, Repository: scratchRepository, Job: job}, nil, CaseCodeReload)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(sortedKeys(res.Jobs), func(n string) bool { return strings.HasPrefix(n, "dagster-step-") }) {
			return fmt.Errorf("run %s succeeded but no step Job ran it (Jobs: %s)", res.ID, strings.Join(sortedKeys(res.Jobs), ", "))
		}
		events, err := s.gql.Logs(ctx, res.ID)
		if err != nil {
			return fmt.Errorf("reading run %s's events: %w", res.ID, err)
		}
		if !slices.ContainsFunc(events, func(e dagit.Event) bool { return strings.Contains(e.Message, marker) }) {
			return fmt.Errorf("run %s succeeded but its events do not carry %q: the step pod did not run the edited file", res.ID, marker)
		}
		t.Logf("run %s of the edited job succeeded through a step Job, and logged the marker", res.ID)
		return nil
	})
}

func (s *suite) caseCodeError(ctx context.Context, t *T) error {
	return s.withScratchLocation(ctx, t, func(loc *scratchLocation) error {
		broken := scratchCode("\ndef broken(:\n    pass\n")
		wantLine := strings.Count(broken[:strings.Index(broken, "def broken(")], "\n") + 1
		t.Logf("saving a syntax error at line %d of %s", wantLine, loc.file)
		if err := loc.write(broken); err != nil {
			return err
		}
		r, err := loc.waitReload(ctx, s.timeout(), func(r watch.Reload) bool { return r.Err != nil })
		if err != nil {
			return err
		}
		if filepath.Base(r.Err.File) != "definitions.py" || r.Err.Line != wantLine {
			return fmt.Errorf("watch reported the load error at %q line %d, want definitions.py line %d: %s", r.Err.File, r.Err.Line, wantLine, r.Summary())
		}
		host := r.Err.File
		if !filepath.IsAbs(host) {
			host = filepath.Join(loc.cfg.Dir, host)
		}
		if host != loc.file {
			return fmt.Errorf("the load error names %s, not the user's file %s", r.Err.File, loc.file)
		}
		t.Logf("watch: %s", r.Summary())

		// What Dagit shows meanwhile: the location with the error, and no
		// definitions of it.
		st, err := s.gql.Location(ctx, scratchLocationName)
		if err != nil {
			return err
		}
		if st.LoadError == nil || st.HasJob(scratchRepository, "dagster_dev_scratch_base") {
			return fmt.Errorf("after the syntax error Dagit shows code location %s as %s, want it failed with the error", scratchLocationName, st)
		}
		t.Logf("Dagit meanwhile: %s", st)

		fixed := "dagster_dev_fixed_" + s.token
		if err := loc.write(scratchCode(fmt.Sprintf("\n@job(executor_def=EXECUTOR)\ndef %s():\n    base_op()\n", fixed))); err != nil {
			return err
		}
		r, err = loc.waitReload(ctx, s.timeout(), func(r watch.Reload) bool { return r.Err == nil })
		if err != nil {
			return err
		}
		if !r.Recovered || !added(r, fixed) {
			return fmt.Errorf("after the fix watch reported %q, want a recovery that adds job %s", r.Summary(), fixed)
		}
		st, err = s.gql.Location(ctx, scratchLocationName)
		if err != nil {
			return err
		}
		if !st.Ready() || !st.HasJob(scratchRepository, fixed) {
			return fmt.Errorf("after the fix Dagit shows code location %s as %s, want it loaded with job %s", scratchLocationName, st, fixed)
		}
		t.Logf("watch: %s", r.Summary())
		return nil
	})
}

// checkCodeMount fails when the kind cluster does not mount this config's
// code root (it was created from another directory's config): a scratch
// location there would only show up as a pod failing on its subPath.
func (s *suite) checkCodeMount(ctx context.Context) error {
	spec := stack.ClusterSpec(s.cfg)
	spec.CodeMount.Required = true
	return s.env.Cluster.CheckCodeMount(ctx, spec)
}
