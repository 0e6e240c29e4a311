package e2e

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/internal/readiness"
	"github.com/dagster-dev/dagster-dev/internal/text"
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
	tagCase  = dagit.SuiteRunTag
	tagToken = "dagster-dev/test-run"
)

func probeRunConfig(keys []string) map[string]any {
	return map[string]any{"ops": map[string]any{probeOp: map[string]any{"config": map[string]any{"keys": keys}}}}
}

// probeSelector waits for the code location and finds the probe job in it.
// Without the chart's example (userCode.example.enabled=false) there is no
// probe and the cases that need it are skipped, not failed.
func (s *suite) probeSelector(ctx context.Context) (dagit.JobSelector, error) {
	base, err := s.baseValues()
	if err != nil {
		return dagit.JobSelector{}, err
	}
	name := valueOr(base, defaultLocation, "userCode", "locationName")
	st, err := s.gql.WaitLocation(ctx, name, Poll{Interval: s.poll, Timeout: s.timeout()})
	if err != nil {
		return dagit.JobSelector{}, err
	}
	for _, repo := range sortedKeys(st.Jobs) {
		if st.HasJob(repo, probeJob) {
			return dagit.JobSelector{Location: name, Repository: repo, Job: probeJob}, nil
		}
	}
	if !valueOr(base, true, "userCode", "example", "enabled") {
		return dagit.JobSelector{}, skipf("needs the chart's example job %s, and userCode.example.enabled is false", probeJob)
	}
	return dagit.JobSelector{}, fmt.Errorf("code location %s has no job %s (repositories: %s)", name, probeJob, strings.Join(sortedKeys(st.Jobs), ", "))
}

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
	return s.runJob(ctx, t, sel, probeRunConfig(keys), caseName)
}

// runJob launches a run of sel and waits for SUCCESS, recording the
// Kubernetes Jobs it ran as. On any other outcome it attaches the run's
// error events and its pods' logs.
func (s *suite) runJob(ctx context.Context, t *T, sel dagit.JobSelector, runConfig map[string]any, caseName string) (probeRun, error) {
	id, err := s.launch(ctx, t, sel, runConfig, map[string]string{tagCase: caseName, tagToken: s.token})
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
	run, err := s.gql.WaitRun(ctx, id, Poll{Interval: s.poll, Timeout: s.timeout()}, func(dagit.Run) { record() })
	record()
	if err == nil && run.Status == dagit.RunSuccess {
		t.Logf("run %s: %s; Jobs %s", id, run.Status, strings.Join(sortedKeys(res.Jobs), ", "))
		return res, nil
	}
	s.diagnoseRun(ctx, t, id)
	if err != nil {
		return res, err
	}
	return res, fmt.Errorf("run %s of %s finished %s, want %s (Dagit: %s/runs/%s)", id, sel.Job, run.Status, dagit.RunSuccess, s.dagitURLForHumans(), id)
}

// launch launches a run, riding out the moments after a roll of the
// user-code server: Dagit may still hold the old server's handle (the job
// "not found", the server "unreachable") although the new one is Ready.
// Anything else, such as invalid run config, fails at once.
func (s *suite) launch(ctx context.Context, t *T, sel dagit.JobSelector, runConfig map[string]any, tags map[string]string) (string, error) {
	deadline := time.Now().Add(min(s.timeout(), 2*time.Minute))
	for {
		id, err := s.gql.LaunchRun(ctx, sel, runConfig, tags)
		if err == nil || !retryableLaunch(err) || time.Now().After(deadline) {
			return id, err
		}
		t.Logf("launch refused (%s); waiting for the code location", text.FirstLine(err.Error()))
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
	if dagit.IsTemporary(err) {
		return true
	}
	var le *dagit.LaunchError
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
		if errs := dagit.ErrorEvents(events); len(errs) > 0 {
			t.Diagnose("run "+runID+" error events", dagit.FormatEvents(errs))
		} else if len(events) > 0 {
			t.Diagnose("run "+runID+" last events", dagit.FormatEvents(events[max(0, len(events)-10):]))
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

// probeLine matches what the chart's probe op logs for each requested key.
var probeLine = regexp.MustCompile(`DAGSTER_DEV_PROBE ([A-Za-z_][A-Za-z0-9_]*)=(.*)`)

// ParseProbe collects KEY=value pairs from the probe's output lines (event
// messages or pod logs). A key reported twice keeps its last value.
func ParseProbe(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if m := probeLine.FindStringSubmatch(line); m != nil {
			out[m[1]] = strings.TrimRight(m[2], "\r")
		}
	}
	return out
}
