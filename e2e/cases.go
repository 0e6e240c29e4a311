package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/readiness"
	"github.com/dagster-dev/dagster-dev/internal/values"
	"github.com/dagster-dev/dagster-dev/watch"
)

// The chart's example code location (chart/dagster/files/dagster_dev_example.py):
// the job dagster_dev_probe, whose op "probe" logs
// "DAGSTER_DEV_PROBE KEY=value" ("<unset>" when missing) for each key of
// its config. It is loaded from a ConfigMap, so it runs on the stock
// Dagster image: the suite needs nothing baked into an image of its own.
const (
	probeJob   = "dagster_dev_probe"
	probeOp    = "probe"
	probeUnset = "<unset>"
	// defaultLocation is the chart's userCode.locationName default.
	defaultLocation = "user-code"
	// tagCase marks the suite's runs in Dagit's run list.
	tagCase  = "dagster-dev/test-case"
	tagToken = "dagster-dev/test-run"
)

func probeRunConfig(keys []string) map[string]any {
	return map[string]any{"ops": map[string]any{probeOp: map[string]any{"config": map[string]any{"keys": keys}}}}
}

// lookup follows path through nested maps.
func lookup(m map[string]any, path ...string) (any, bool) {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// valueOr reads a chart value the user may have set, with the chart's default.
func valueOr[T any](m map[string]any, def T, path ...string) T {
	if v, ok := lookup(m, path...); ok {
		if t, ok := v.(T); ok {
			return t
		}
	}
	return def
}

// ---------------------------------------------------------------- health

func (s *suite) caseHealth(ctx context.Context, t *T) error {
	nodes, err := s.kube.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	if len(nodes.Items) == 0 {
		return errors.New("the cluster has no nodes")
	}
	var problems []string
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				ready = c.Status == corev1.ConditionTrue
				if !ready {
					problems = append(problems, fmt.Sprintf("node %s is not Ready: %s %s", n.Name, c.Reason, c.Message))
				}
			}
		}
		if !ready && len(problems) == 0 {
			problems = append(problems, fmt.Sprintf("node %s reports no Ready condition", n.Name))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	t.Logf("%d %s Ready", len(nodes.Items), pluralize(len(nodes.Items), "node", "nodes"))

	// Right after `up` or a previous case's restore a workload may still be
	// finishing its roll; a short grace tells that from a broken one, and a
	// pod failure (crash loop, image pull) ends the wait at once.
	deadline := time.Now().Add(min(s.timeout(), 2*time.Minute))
	for {
		ws, err := s.kube.releaseWorkloads(ctx)
		if err != nil {
			return err
		}
		if len(ws) == 0 {
			return fmt.Errorf("release %s has no workloads in namespace %s: run `dagster-dev up`", s.cfg.Release, s.cfg.Namespace)
		}
		var missing []string
		for _, comp := range []string{componentDagit, componentWorker, componentCode} {
			if _, ok := findWorkload(ws, comp, ""); !ok {
				missing = append(missing, comp)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("release %s has no workload for %s (workloads: %s)", s.cfg.Release, strings.Join(missing, ", "), workloadIDs(ws))
		}
		var pending []string
		for _, w := range ws {
			if f := w.status.Failure; f != nil {
				return f
			}
			if !w.status.Done {
				pending = append(pending, fmt.Sprintf("%s: %d/%d ready, %s", w.ID(), w.status.Ready, w.status.Desired, w.status.Waiting))
			}
		}
		if len(pending) == 0 {
			t.Logf("%d workloads healthy: %s", len(ws), workloadIDs(ws))
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d workloads of release %s are not healthy:\n%s", len(pending), len(ws), s.cfg.Release, strings.Join(pending, "\n"))
		}
		if err := sleep(ctx, 3*time.Second); err != nil {
			return err
		}
	}
}

func workloadIDs(ws []workload) string {
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.ID()
	}
	return strings.Join(ids, ", ")
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// ---------------------------------------------------------------- dagit

func (s *suite) caseDagit(ctx context.Context, t *T) error {
	info, err := waitServerInfo(ctx, s.http, s.dagit.BaseURL, Poll{Interval: s.poll, Timeout: min(s.timeout(), 2*time.Minute)})
	if err != nil {
		err = fmt.Errorf("GET %s/server_info: %w", s.dagit.Describe(), err)
		if !s.cfg.ExistingCluster() && strings.Contains(err.Error(), "connection refused") {
			err = fmt.Errorf("%w\n  hint: 127.0.0.1:%d is kind's port mapping to Dagit's NodePort %d, fixed when the cluster was created; if dagit.hostPort or dagit.nodePort changed since, recreate the cluster (dagster-dev down, then up)",
				err, s.cfg.Dagit.HostPort, s.cfg.Dagit.NodePort)
		}
		return err
	}
	t.Logf("Dagit %s (Dagster %s) at %s", info.WebserverVersion, info.DagsterVersion, s.dagit.Describe())
	return nil
}

// ---------------------------------------------------------------- code location

// locationName is the chart's code location name for this config.
func (s *suite) locationName() string {
	base, err := s.baseValues()
	if err != nil {
		return defaultLocation
	}
	return valueOr(base, defaultLocation, "userCode", "locationName")
}

func (s *suite) caseCodeLocation(ctx context.Context, t *T) error {
	name := s.locationName()
	st, err := s.gql.WaitLocation(ctx, name, Poll{Interval: s.poll, Timeout: s.timeout()})
	if err != nil {
		return err
	}
	var jobs []string
	for repo, js := range st.Jobs {
		for _, j := range js {
			jobs = append(jobs, repo+"/"+j)
		}
	}
	slices.Sort(jobs)
	t.Logf("location %s loaded: %s", name, strings.Join(jobs, ", "))
	return nil
}

// probeSelector waits for the code location and finds the probe job in it.
// Without the chart's example (userCode.example.enabled=false) there is no
// probe and the cases that need it are skipped, not failed.
func (s *suite) probeSelector(ctx context.Context) (JobSelector, error) {
	base, err := s.baseValues()
	if err != nil {
		return JobSelector{}, err
	}
	name := valueOr(base, defaultLocation, "userCode", "locationName")
	st, err := s.gql.WaitLocation(ctx, name, Poll{Interval: s.poll, Timeout: s.timeout()})
	if err != nil {
		return JobSelector{}, err
	}
	for _, repo := range sortedKeys(st.Jobs) {
		if st.HasJob(repo, probeJob) {
			return JobSelector{Location: name, Repository: repo, Job: probeJob}, nil
		}
	}
	if !valueOr(base, true, "userCode", "example", "enabled") {
		return JobSelector{}, skipf("needs the chart's example job %s, and userCode.example.enabled is false", probeJob)
	}
	return JobSelector{}, fmt.Errorf("code location %s has no job %s (repositories: %s)", name, probeJob, strings.Join(sortedKeys(st.Jobs), ", "))
}

// ---------------------------------------------------------------- runs

// probeRun is a finished probe run.
type probeRun struct {
	ID   string
	Jobs map[string]bool // Kubernetes Jobs seen while it ran
}

// runProbe launches the probe with keys and waits for SUCCESS. On any other
// outcome it attaches the run's error events and its pods' logs.
func (s *suite) runProbe(ctx context.Context, t *T, caseName string, keys []string) (probeRun, error) {
	sel, err := s.probeSelector(ctx)
	if err != nil {
		return probeRun{}, err
	}
	id, err := s.launch(ctx, t, sel, probeRunConfig(keys), map[string]string{tagCase: caseName, tagToken: s.token})
	if err != nil {
		return probeRun{}, err
	}
	t.Logf("launched run %s of %s/%s", id, sel.Location, sel.Job)
	res := probeRun{ID: id, Jobs: map[string]bool{}}
	// Jobs are recorded while the run is polled, not only at the end: the
	// proof that the steps ran as Kubernetes Jobs must not depend on them
	// outliving the run (a TTL or a cleanup could remove them).
	record := func() {
		if names, err := s.kube.jobsOfRun(ctx, id); err == nil {
			for _, n := range names {
				res.Jobs[n] = true
			}
		}
	}
	run, err := s.gql.WaitRun(ctx, id, Poll{Interval: s.poll, Timeout: s.timeout()}, func(Run) { record() })
	record()
	if err == nil && run.Status == RunSuccess {
		t.Logf("run %s: %s; Jobs %s", id, run.Status, strings.Join(sortedKeys(res.Jobs), ", "))
		return res, nil
	}
	s.diagnoseRun(ctx, t, id)
	if err != nil {
		return res, err
	}
	return res, fmt.Errorf("run %s of %s finished %s, want %s (Dagit: %s/runs/%s)", id, sel.Job, run.Status, RunSuccess, s.dagitURLForHumans(), id)
}

// launch launches a run, riding out the moments after a roll of the
// user-code server: Dagit may still hold the old server's handle (the job
// "not found", the server "unreachable") although the new one is Ready.
// Anything else, such as invalid run config, fails at once.
func (s *suite) launch(ctx context.Context, t *T, sel JobSelector, runConfig map[string]any, tags map[string]string) (string, error) {
	deadline := time.Now().Add(min(s.timeout(), 2*time.Minute))
	for {
		id, err := s.gql.LaunchRun(ctx, sel, runConfig, tags)
		if err == nil || !retryableLaunch(err) || time.Now().After(deadline) {
			return id, err
		}
		t.Logf("launch refused (%s); waiting for the code location", firstLine(err.Error()))
		if err := sleep(ctx, 2*s.poll); err != nil {
			return "", err
		}
		if _, err := s.gql.WaitLocation(ctx, sel.Location, Poll{Interval: s.poll, Timeout: time.Until(deadline) + s.poll}); err != nil {
			return "", err
		}
	}
}

// retryableLaunch recognises the launch failures of a code location that is
// being reloaded.
func retryableLaunch(err error) bool {
	if isTemporary(err) {
		return true
	}
	var le *LaunchError
	if !errors.As(err, &le) {
		return false
	}
	switch le.Typename {
	case "PipelineNotFoundError":
		return true
	case "PythonError":
		msg := le.Error()
		for _, m := range []string{"DagsterUserCodeUnreachableError", "StatusCode.UNAVAILABLE", "Could not reach user code server"} {
			if strings.Contains(msg, m) {
				return true
			}
		}
	}
	return false
}

// dagitURLForHumans is the Dagit URL to print in messages.
func (s *suite) dagitURLForHumans() string {
	if s.cfg.ExistingCluster() {
		return "(port-forward Dagit)"
	}
	return s.cfg.DagitURL()
}

// diagnoseRun attaches what explains a run's failure: its error events from
// the event log and the last log lines of its run and step pods.
func (s *suite) diagnoseRun(ctx context.Context, t *T, runID string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if events, err := s.gql.Logs(dctx, runID); err == nil {
		if errs := ErrorEvents(events); len(errs) > 0 {
			t.Diagnose("run "+runID+" error events", FormatEvents(errs))
		} else if len(events) > 0 {
			t.Diagnose("run "+runID+" last events", FormatEvents(events[max(0, len(events)-10):]))
		}
	} else {
		t.Diagnose("run "+runID+" events", "could not read them: "+err.Error())
	}
	pods, err := s.kube.podsOfRun(dctx, runID)
	if err != nil {
		return
	}
	for _, p := range pods {
		for _, c := range p.Spec.Containers {
			logs, err := s.kube.podLogs(dctx, p.Name, c.Name, 30, false)
			if err == nil {
				t.Diagnose(fmt.Sprintf("pod %s (%s) last log lines", p.Name, readiness.ClassifyPod(&p, time.Now()).Short()), logs)
			}
		}
	}
}

// probeValues reads what the probe reported from the run's event log, and
// from its step pods' logs if the event log has no probe line (a compute
// log setting could keep op logs out of it).
func (s *suite) probeValues(ctx context.Context, runID string) (map[string]string, error) {
	events, err := s.gql.Logs(ctx, runID)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, e := range events {
		b.WriteString(e.Message)
		b.WriteByte('\n')
	}
	if got := ParseProbe(b.String()); len(got) > 0 {
		return got, nil
	}
	pods, err := s.kube.podsOfRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	b.Reset()
	for _, p := range pods {
		if !strings.HasPrefix(p.Name, "dagster-step-") {
			continue
		}
		logs, err := s.kube.podLogs(ctx, p.Name, "", 0, false)
		if err == nil {
			b.WriteString(logs)
		}
	}
	got := ParseProbe(b.String())
	if len(got) == 0 {
		return nil, fmt.Errorf("run %s logged no DAGSTER_DEV_PROBE line (neither in its event log nor in its step pods' logs)", runID)
	}
	return got, nil
}

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
			res.ID, runJob, s.cfg.Namespace, labelRunID, res.ID, listOrNone(sortedKeys(res.Jobs)))
	case len(steps) == 0:
		return fmt.Errorf("run %s succeeded but no step Job (dagster-step-*) was seen: its steps did not run through the celery-k8s executor (Jobs: %s)",
			res.ID, listOrNone(sortedKeys(res.Jobs)))
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
	if len(runs) != 1 || runs[0].ID != res.ID || runs[0].Status != RunSuccess {
		return fmt.Errorf("run history (runsOrError with runIds [%s]) returned %v, want the run with status %s", res.ID, runs, RunSuccess)
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
	if inst.RunLauncher != "" && inst.RunLauncher != "LocationContextCeleryK8sRunLauncher" && inst.RunLauncher != "CeleryK8sRunLauncher" {
		return fmt.Errorf("the instance's run launcher is %s, want LocationContextCeleryK8sRunLauncher or CeleryK8sRunLauncher", inst.RunLauncher)
	}
	t.Logf("run %s in the run history; run launcher %s", res.ID, inst.RunLauncher)
	return nil
}

// ---------------------------------------------------------------- env precedence

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
	{componentDagit, true},
	{componentDaemon, false},
	{componentWorker, true},
	{componentCode, false},
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
	for _, tg := range envTargets {
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

// cleanup undoes a case that changed the release: it restores the values
// and then removes the fixtures. Fixtures are removed only after a
// successful restore, because the release's pods reference them until then
// and would fail to start without them.
func (s *suite) cleanup(ctx context.Context, t *T, changed bool, created []fixtureObject) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout()+2*time.Minute)
	defer cancel()
	if changed {
		t.Logf("restoring release %s to its values", s.cfg.Release)
		if err := s.restore(cctx); err != nil {
			names := make([]string, len(created))
			for i, o := range created {
				names[i] = o.Kind + "/" + o.Name
			}
			return fmt.Errorf("%w\nthe fixtures %s were kept because the release may still use them; run `dagster-dev up` to restore the release, then delete them (label %s=%s)",
				err, strings.Join(names, ", "), fixtureLabel, fixtureLabelValue)
		}
	}
	return s.kube.deleteFixtures(cctx, created)
}

// ---------------------------------------------------------------- hot reload

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
	vals, err := values.For(cfg2)
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
	if _, ok := findWorkload(affected, componentWorker, ""); !ok {
		return fmt.Errorf("after attaching ConfigMap %s to job_runner, no Celery worker reads it (workloads reading it: %s)", name, listOrNone(strings.Split(workloadIDs(affected), ", ")))
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

// ---------------------------------------------------------------- persistence

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
	pg, ok := findWorkload(ws, componentDatabase, "postgresql")
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
		case err == nil && run.Status == RunSuccess:
			runs, err := s.gql.Runs(ctx, runID)
			if err != nil {
				return fmt.Errorf("reading the run history after the restart: %w", err)
			}
			if len(runs) != 1 || runs[0].Status != RunSuccess {
				return fmt.Errorf("after the PostgreSQL restart the run history has %v for run %s, want it with status %s", runs, runID, RunSuccess)
			}
			t.Logf("run %s is still in the history with status %s", runID, run.Status)
			// Leave the environment as healthy as it was for the next case.
			return readiness.Wait(ctx, s.kube.client, s.cfg.Namespace, labelInstance+"="+s.cfg.Release, s.timeout(), nil)
		case err == nil:
			return fmt.Errorf("after the PostgreSQL restart run %s has status %s, want %s", runID, run.Status, RunSuccess)
		case errors.Is(err, ErrRunNotFound):
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

// ---------------------------------------------------------------- broker

// workerQueues reads the queues a worker consumes from its `-q` arguments
// (up to the `--` that starts Celery's own arguments); dagster-celery's
// default queue is "dagster".
func workerQueues(c corev1.Container) []string {
	args := append(slices.Clone(c.Command), c.Args...)
	var qs []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		switch {
		case (a == "-q" || a == "--queue") && i+1 < len(args):
			qs = append(qs, args[i+1])
			i++
		case strings.HasPrefix(a, "--queue="):
			qs = append(qs, strings.TrimPrefix(a, "--queue="))
		}
	}
	if len(qs) == 0 {
		qs = []string{"dagster"}
	}
	return qs
}

// parseRabbitJSON decodes `rabbitmqctl ... --formatter json` output, which
// may be preceded by informational lines on older versions.
func parseRabbitJSON(out string, v any) error {
	i := strings.IndexByte(out, '[')
	if i < 0 {
		return fmt.Errorf("no JSON list in rabbitmqctl output: %s", snippet([]byte(out)))
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out[i:])), v); err != nil {
		return fmt.Errorf("decoding rabbitmqctl output: %w: %s", err, snippet([]byte(out)))
	}
	return nil
}

// brokerState is what RabbitMQ says about consumers and connections.
type brokerState struct {
	consumers map[string]int // queue -> consumer count
	peers     map[string]bool
}

func (s *suite) readBroker(ctx context.Context, pod *corev1.Pod) (brokerState, error) {
	st := brokerState{consumers: map[string]int{}, peers: map[string]bool{}}
	out, err := s.kube.exec(ctx, pod, "", "rabbitmqctl", "-q", "list_queues", "name", "consumers", "--formatter", "json")
	if err != nil {
		return st, err
	}
	var queues []struct {
		Name      string `json:"name"`
		Consumers int    `json:"consumers"`
	}
	if err := parseRabbitJSON(out, &queues); err != nil {
		return st, err
	}
	for _, q := range queues {
		st.consumers[q.Name] = q.Consumers
	}
	out, err = s.kube.exec(ctx, pod, "", "rabbitmqctl", "-q", "list_connections", "peer_host", "--formatter", "json")
	if err != nil {
		return st, err
	}
	var conns []struct {
		PeerHost json.RawMessage `json:"peer_host"`
	}
	if err := parseRabbitJSON(out, &conns); err != nil {
		return st, err
	}
	for _, c := range conns {
		ip, err := parsePeerHost(c.PeerHost)
		if err != nil {
			return st, err
		}
		st.peers[ip] = true
	}
	return st, nil
}

// parsePeerHost reads rabbitmqctl's peer_host, which its JSON formatter
// writes as a string or as the Erlang address tuple: 4 octets, or 8 16-bit
// groups — an IPv4 peer on a dual-stack listener arrives IPv4-mapped, as
// [0,0,0,0,0,65535,2804,37] for 10.244.0.37. The result is the address as
// a pod's status.podIP spells it.
func parsePeerHost(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if ip := net.ParseIP(s); ip != nil {
			return ip.String(), nil
		}
		return s, nil
	}
	var parts []int
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Errorf("rabbitmqctl peer_host %s: neither a string nor an address tuple", raw)
	}
	var ip net.IP
	switch len(parts) {
	case 4:
		ip = net.IPv4(byte(parts[0]), byte(parts[1]), byte(parts[2]), byte(parts[3]))
	case 8:
		ip = make(net.IP, net.IPv6len)
		for i, p := range parts {
			ip[2*i], ip[2*i+1] = byte(p>>8), byte(p)
		}
	default:
		return "", fmt.Errorf("rabbitmqctl peer_host %s: not an IPv4 or IPv6 address tuple", raw)
	}
	return ip.String(), nil
}

// brokerProblems checks that each queue has at least one consumer per
// worker and that every worker pod has a connection open.
func brokerProblems(st brokerState, queues []string, workers []corev1.Pod) []string {
	var out []string
	for _, q := range queues {
		n, ok := st.consumers[q]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("queue %q does not exist in RabbitMQ (queues: %s)", q, listOrNone(sortedKeys(st.consumers))))
		case n < len(workers):
			out = append(out, fmt.Sprintf("queue %q has %d consumers, want at least %d (one per Celery worker pod)", q, n, len(workers)))
		}
	}
	for _, w := range workers {
		if w.Status.PodIP != "" && !st.peers[w.Status.PodIP] {
			out = append(out, fmt.Sprintf("Celery worker pod %s (%s) has no connection to RabbitMQ", w.Name, w.Status.PodIP))
		}
	}
	return out
}

func (s *suite) caseBroker(ctx context.Context, t *T) error {
	base, err := s.baseValues()
	if err != nil {
		return err
	}
	if !valueOr(base, true, "rabbitmq", "enabled") {
		return skipf("rabbitmq.enabled is false: the suite does not inspect an external broker")
	}
	ws, err := s.kube.releaseWorkloads(ctx)
	if err != nil {
		return err
	}
	rmq, ok := findWorkload(ws, componentBroker, "rabbitmq")
	if !ok {
		return fmt.Errorf("release %s has no RabbitMQ workload (workloads: %s)", s.cfg.Release, workloadIDs(ws))
	}
	worker, ok := findWorkload(ws, componentWorker, "celery-workers")
	if !ok {
		return fmt.Errorf("release %s has no Celery worker workload (workloads: %s)", s.cfg.Release, workloadIDs(ws))
	}

	// Workers restarted by an earlier case connect a few seconds after they
	// turn Ready; poll briefly before judging.
	deadline := time.Now().Add(min(s.timeout(), 2*time.Minute))
	for {
		// A crash-looping worker or broker will not connect by waiting.
		if ws, err := s.kube.releaseWorkloads(ctx); err == nil {
			for _, w := range ws {
				if (w.ID() == worker.ID() || w.ID() == rmq.ID()) && w.status.Failure != nil {
					return w.status.Failure
				}
			}
		}
		var problems []string
		workers, err := s.kube.readyPods(ctx, worker.selector)
		if err != nil {
			return err
		}
		rpods, err := s.kube.readyPods(ctx, rmq.selector)
		if err != nil {
			return err
		}
		switch {
		case len(workers) == 0:
			problems = append(problems, worker.ID()+" has no Ready pod")
		case len(rpods) == 0:
			problems = append(problems, rmq.ID()+" has no Ready pod")
		default:
			queues := workerQueues(workers[0].Spec.Containers[0])
			st, err := s.readBroker(ctx, &rpods[0])
			if err != nil {
				return err
			}
			problems = brokerProblems(st, queues, workers)
			if len(problems) == 0 {
				t.Logf("queues %s: %d worker pods connected and consuming", strings.Join(queues, ", "), len(workers))
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New(strings.Join(problems, "\n"))
		}
		if err := sleep(ctx, 3*time.Second); err != nil {
			return err
		}
	}
}
