package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/podlogs"
	"github.com/dagster-dev/dagster-dev/stack"
	"github.com/dagster-dev/dagster-dev/watch"
)

// recordedLine is a log line and when it reached the sink.
type recordedLine struct {
	podlogs.Line
	at time.Time
}

// lineRecorder is a podlogs.Sink that keeps what `dagster-dev logs` would
// print.
type lineRecorder struct {
	mu    sync.Mutex
	lines []recordedLine
}

func (r *lineRecorder) Line(l podlogs.Line) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, recordedLine{Line: l, at: time.Now()})
}

func (r *lineRecorder) Notice(string, string) {}

// first is the first line whose label ok accepts.
func (r *lineRecorder) first(ok func(label string) bool) (recordedLine, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		if ok(l.Label) {
			return l, true
		}
	}
	return recordedLine{}, false
}

func (r *lineRecorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, l := range r.lines {
		fmt.Fprintf(&b, "%s | %s\n", l.Label, l.Text)
	}
	return b.String()
}

// caseObserve checks what a user reads when something is off: `logs -f`
// shows a new run's pods as they start, `logs --run` of a failed run shows
// its error, and `status` reports the code locations, the run, and a
// location broken on purpose.
func (s *suite) caseObserve(ctx context.Context, t *T) error {
	return s.withScratchLocation(ctx, t, func(loc *scratchLocation) error {
		job := "dagster_dev_fails_" + s.token
		marker := "dagster-dev observe " + s.token
		if err := loc.write(scratchCode(fmt.Sprintf(`
@op
def failing_op(context):
    print("about to fail", flush=True)
    raise ValueError(%q)


@job(executor_def=EXECUTOR)
def %s():
    failing_op()
`, marker, job))); err != nil {
			return err
		}
		if r, err := loc.waitReload(ctx, s.timeout(), func(r watch.Reload) bool { return r.Err != nil || added(r, job) }); err != nil {
			return err
		} else if r.Err != nil {
			return fmt.Errorf("the scratch location failed to load: %w", r.Err)
		}

		// logs -f, started before the run exists.
		followed := &lineRecorder{}
		fctx, stopFollow := context.WithCancel(ctx)
		followDone := make(chan error, 1)
		go func() {
			followDone <- (&stack.Logs{Env: s.env, Components: []string{"runs"}, Follow: true,
				Options: podlogs.Options{Tail: 0}, Out: followed}).Run(fctx)
		}()
		defer func() { stopFollow(); <-followDone }()
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}

		id, err := s.launch(ctx, t, dagit.JobSelector{Location: scratchLocationName, Repository: scratchRepository, Job: job}, nil,
			map[string]string{tagCase: CaseObserve, tagToken: s.token})
		if err != nil {
			return err
		}
		t.Logf("launched run %s of %s, which fails on purpose", id, job)
		run, err := s.gql.WaitRun(ctx, id, Poll{Interval: s.poll, Timeout: s.timeout()}, nil)
		if err != nil {
			return err
		}
		if run.Status != dagit.RunFailure {
			return fmt.Errorf("run %s of %s finished %s, want %s", id, job, run.Status, dagit.RunFailure)
		}

		// 1. logs -f showed the run's pod, seconds after it started.
		short := id[:8]
		isRunPod := func(label string) bool { return label == "run-"+short || strings.HasPrefix(label, short+"/") }
		var line recordedLine
		if err := waitUntil(ctx, 30*time.Second, func() bool { var ok bool; line, ok = followed.first(isRunPod); return ok }); err != nil {
			return fmt.Errorf("logs -f showed no line of run %s's pods within 30s of its end; it showed:\n%s", id, followed.text())
		}
		if started := containerStart(ctx, s, id, line.Label); !started.IsZero() {
			late := line.at.Sub(started)
			t.Logf("logs -f: first line of %s shown %.1fs after its container started (%s after the line was written)", line.Label,
				late.Seconds(), line.at.Sub(line.Time).Round(time.Millisecond))
			// Python's start-up is most of it (2 s here); a follower that
			// only found the pod on a relist would take far longer.
			if late > 15*time.Second {
				return fmt.Errorf("logs -f showed the first line of %s %s after its container started, want within 15s", line.Label, late.Round(time.Second))
			}
		}

		// 2. logs --run shows the error, from the event log and the pods.
		runLogs := &lineRecorder{}
		if err := (&stack.Logs{Env: s.env, RunID: id, Options: podlogs.Options{Tail: -1}, Out: runLogs}).Run(ctx); err != nil {
			return fmt.Errorf("logs --run %s: %w", id, err)
		}
		out := runLogs.text()
		if !strings.Contains(out, "ValueError: "+marker) || !strings.Contains(out, "events | STEP_FAILURE [failing_op]") {
			return fmt.Errorf("logs --run %s does not show the step's ValueError %q; it showed:\n%s", id, marker, out)
		}
		if !strings.Contains(out, "about to fail") {
			return fmt.Errorf("logs --run %s does not show the step pod's own output; it showed:\n%s", id, out)
		}
		t.Logf("logs --run %s: %d lines, with the step's ValueError", id, strings.Count(out, "\n"))

		// 3. status lists the locations loaded and the failed run, which
		// is the suite's and so does not make the environment unhealthy.
		rep, err := (&stack.Status{Env: s.env, Runs: 20}).Run(ctx)
		if err != nil {
			return err
		}
		if err := statusHas(rep, scratchLocationName, "loaded", id); err != nil {
			return err
		}
		if probe, err := s.probeSelector(ctx); err == nil {
			if err := statusHas(rep, probe.Location, "loaded", ""); err != nil {
				return err
			}
		}
		t.Logf("status: %d code locations, run %s %s, took %s", len(rep.Locations), short, dagit.RunFailure, rep.Took.Round(time.Millisecond))

		// 4. A location broken on purpose makes status unhealthy, with
		// the error.
		if err := loc.write(scratchCode("\ndef broken(:\n    pass\n")); err != nil {
			return err
		}
		if _, err := loc.waitReload(ctx, s.timeout(), func(r watch.Reload) bool { return r.Err != nil }); err != nil {
			return err
		}
		rep, err = (&stack.Status{Env: s.env}).Run(ctx)
		if err != nil {
			return err
		}
		if err := statusHas(rep, scratchLocationName, "failed", ""); err != nil {
			return err
		}
		if rep.Healthy || !strings.Contains(strings.Join(rep.Problems, "\n"), "code location "+scratchLocationName+" failed to load: ") {
			return fmt.Errorf("with code location %s broken, status says healthy=%v, problems %q", scratchLocationName, rep.Healthy, rep.Problems)
		}
		t.Logf("status with the location broken: unhealthy, %q", rep.Problems)
		return nil
	})
}

// containerStart is when the container of the run's pod that label names
// started (zero when unknown).
func containerStart(ctx context.Context, s *suite, runID, label string) time.Time {
	pods, err := s.kube.podsOfRun(ctx, runID)
	if err != nil {
		return time.Time{}
	}
	for _, p := range pods {
		isRun := p.Labels[kube.LabelComponent] == kube.ComponentRunWorker
		if isRun != strings.HasPrefix(label, "run-") || len(p.Status.ContainerStatuses) == 0 {
			continue
		}
		st := p.Status.ContainerStatuses[0].State
		switch {
		case st.Terminated != nil:
			return st.Terminated.StartedAt.Time
		case st.Running != nil:
			return st.Running.StartedAt.Time
		}
	}
	return time.Time{}
}

// statusHas checks a location's status in the report and, when runID is
// set, that the run is listed as finished.
func statusHas(rep *stack.Report, location, status, runID string) error {
	found := false
	for _, l := range rep.Locations {
		if l.Name == location {
			found = true
			if l.Status != status || (status == "failed") != (l.Error != "") {
				return fmt.Errorf("status reports code location %s as %s (error %q), want %s", location, l.Status, l.Error, status)
			}
		}
	}
	if !found {
		return fmt.Errorf("status does not list code location %s: %+v", location, rep.Locations)
	}
	if runID == "" {
		return nil
	}
	for _, r := range rep.Runs {
		if r.ID == runID {
			if r.Status != dagit.RunFailure || r.Ended == nil || !r.Suite {
				return fmt.Errorf("status lists run %s as %+v, want a finished FAILURE marked as the suite's", runID, r)
			}
			return nil
		}
	}
	return fmt.Errorf("status does not list run %s among the newest runs: %+v", runID, rep.Runs)
}

// waitUntil polls cond every 200ms until it holds or timeout.
func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", timeout)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}
