package readiness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

const (
	// maxEvents and logTailLines bound the evidence attached to a failure:
	// enough to see the cause, short enough to read in a terminal.
	maxEvents    = 10
	logTailLines = 20
	// explainTimeout bounds the extra API calls made after a failure, on a
	// fresh context because the wait's own context may already be done.
	explainTimeout = 15 * time.Second
)

// ProgressFunc receives a snapshot after every evaluation: on each watched
// change (debounced) and at least every few seconds. It runs on the waiting
// goroutine, so it must not block. States contain elapsed seconds, so
// consecutive snapshots differ; a line-based (non-TTY) renderer should
// throttle.
type ProgressFunc func(Snapshot)

// Snapshot is the state of every watched workload at one evaluation.
type Snapshot struct {
	Workloads []WorkloadStatus
	Elapsed   time.Duration
}

// Pending counts the workloads that are not done yet.
func (s Snapshot) Pending() int {
	n := 0
	for _, w := range s.Workloads {
		if !w.Done {
			n++
		}
	}
	return n
}

// String renders a spinner line:
// "waiting for 5 workloads: dagster-dagit 1/1, dagster-daemon 0/1 (Init:0/1 (check-db-ready running 95s))".
func (s Snapshot) String() string {
	n := len(s.Workloads)
	if n == 0 {
		return "waiting for workloads"
	}
	if s.Pending() == 0 {
		return fmt.Sprintf("%d %s ready", n, plural(n, "workload", "workloads"))
	}
	parts := make([]string, 0, n)
	for _, w := range s.Workloads {
		p := fmt.Sprintf("%s %d/%d", w.Name, w.Ready, w.Desired)
		if !w.Done && w.State != "" {
			p += " (" + w.State + ")"
		}
		parts = append(parts, p)
	}
	return fmt.Sprintf("waiting for %d %s: %s", n, plural(n, "workload", "workloads"), strings.Join(parts, ", "))
}

// Wait blocks until every Deployment, StatefulSet and DaemonSet in namespace
// matching selector (e.g. "app.kubernetes.io/instance=dagster") is fully
// rolled out and all their pods are Ready. It returns a *FailureError as soon
// as a pod fails in a way waiting cannot fix, or when timeout (if > 0)
// expires; if ctx is cancelled it returns an error wrapping ctx.Err().
// progress may be nil.
func Wait(ctx context.Context, client kubernetes.Interface, namespace, selector string, timeout time.Duration, progress ProgressFunc) error {
	w := newWaiter(client, namespace)
	w.selector = selector
	w.progress = progress
	return w.run(ctx, timeout)
}

// WaitRollout blocks until the named Deployment, StatefulSet or DaemonSet has
// rolled out its latest pod template: new pods Ready, old ones gone. It is
// meant to be called right after patching the template. kind accepts the
// kubectl spellings ("Deployment", "deploy", "sts", ...). Failures and
// timeouts are reported as by Wait.
func WaitRollout(ctx context.Context, client kubernetes.Interface, namespace, kind, name string, timeout time.Duration) error {
	k, err := parseWorkloadKind(kind)
	if err != nil {
		return err
	}
	w := newWaiter(client, namespace)
	w.kind, w.name = k, name
	return w.run(ctx, timeout)
}

func parseWorkloadKind(kind string) (string, error) {
	switch strings.ToLower(kind) {
	case "deployment", "deployments", "deploy":
		return "Deployment", nil
	case "statefulset", "statefulsets", "sts":
		return "StatefulSet", nil
	case "daemonset", "daemonsets", "ds":
		return "DaemonSet", nil
	}
	return "", fmt.Errorf("readiness: cannot wait for a rollout of kind %q (want Deployment, StatefulSet or DaemonSet)", kind)
}

// waiter holds one wait's parameters. Timing knobs are fields so tests can
// prove the loop is driven by watch events rather than by the poll fallback.
type waiter struct {
	client    kubernetes.Interface
	namespace string
	selector  string // Wait: which workloads
	kind      string // WaitRollout: the one workload
	name      string
	progress  ProgressFunc

	// poll is the fallback re-evaluation interval: it catches changes a
	// dropped watch missed and advances time-based rules (unschedulable
	// grace, "running 95s") when nothing else happens.
	poll time.Duration
	// debounce lets a burst of watch events (a rollout produces dozens)
	// settle into a single evaluation.
	debounce time.Duration
	// now is the clock for classification; tests may move it.
	now func() time.Time
}

func newWaiter(client kubernetes.Interface, namespace string) *waiter {
	return &waiter{
		client:    client,
		namespace: namespace,
		poll:      5 * time.Second,
		debounce:  100 * time.Millisecond,
		now:       time.Now,
	}
}

// errHard marks errors that retrying cannot fix.
type errHard struct{ error }

func (e errHard) Unwrap() error { return e.error }

func (w *waiter) run(ctx context.Context, timeout time.Duration) error {
	start := time.Now()
	var wctx context.Context
	var cancel context.CancelFunc
	if timeout > 0 {
		wctx, cancel = context.WithTimeout(ctx, timeout)
	} else {
		wctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()

	nudge := make(chan struct{}, 1)
	w.startWatches(wctx, nudge)
	ticker := time.NewTicker(w.poll)
	defer ticker.Stop()

	var last []WorkloadStatus
	var lastErr error
	for {
		statuses, err := w.observe(wctx)
		var hard errHard
		switch {
		case err != nil && wctx.Err() != nil:
			// The deadline cut the list short; report the last good state.
		case errors.As(err, &hard):
			return hard.error
		case err != nil:
			// API hiccups (apiserver restarting, connection reset) are
			// retried until the timeout, which then names the error.
			lastErr = err
		default:
			last, lastErr = statuses, nil
			if w.progress != nil {
				w.progress(Snapshot{Workloads: statuses, Elapsed: time.Since(start)})
			}
			for i := range statuses {
				if statuses[i].Failure != nil {
					// A copy: the progress callback may still hold the snapshot.
					f := *statuses[i].Failure
					w.explain(ctx, &f, []WorkloadStatus{statuses[i]})
					return &f
				}
			}
			if allDone(statuses) {
				return nil
			}
		}

		select {
		case <-wctx.Done():
			return w.timedOut(ctx, last, lastErr, time.Since(start), timeout)
		case <-nudge:
			t := time.NewTimer(w.debounce)
			select {
			case <-wctx.Done():
			case <-t.C:
			}
			t.Stop()
		case <-ticker.C:
		}
	}
}

func allDone(statuses []WorkloadStatus) bool {
	for _, s := range statuses {
		if !s.Done {
			return false
		}
	}
	return true
}

// observe lists the workloads and the namespace's ReplicaSets and pods, and
// evaluates them. Watches only signal that something changed; a fresh list
// is the source of truth, which keeps the loop correct even when a watch
// event is lost, and a dev namespace holds few enough objects for it to be
// cheap.
func (w *waiter) observe(ctx context.Context) ([]WorkloadStatus, error) {
	apps := w.client.AppsV1()
	var deps []appsv1.Deployment
	var stss []appsv1.StatefulSet
	var dss []appsv1.DaemonSet
	if w.name != "" {
		var err error
		switch w.kind {
		case "Deployment":
			var d *appsv1.Deployment
			if d, err = apps.Deployments(w.namespace).Get(ctx, w.name, metav1.GetOptions{}); err == nil {
				deps = append(deps, *d)
			}
		case "StatefulSet":
			var s *appsv1.StatefulSet
			if s, err = apps.StatefulSets(w.namespace).Get(ctx, w.name, metav1.GetOptions{}); err == nil {
				stss = append(stss, *s)
			}
		case "DaemonSet":
			var d *appsv1.DaemonSet
			if d, err = apps.DaemonSets(w.namespace).Get(ctx, w.name, metav1.GetOptions{}); err == nil {
				dss = append(dss, *d)
			}
		}
		if err != nil {
			return nil, classifyAPIError(err, fmt.Sprintf("%s %s in namespace %s", w.kind, w.name, w.namespace))
		}
	} else {
		opts := metav1.ListOptions{LabelSelector: w.selector}
		what := fmt.Sprintf("workloads in namespace %s", w.namespace)
		dl, err := apps.Deployments(w.namespace).List(ctx, opts)
		if err != nil {
			return nil, classifyAPIError(err, what)
		}
		sl, err := apps.StatefulSets(w.namespace).List(ctx, opts)
		if err != nil {
			return nil, classifyAPIError(err, what)
		}
		dl2, err := apps.DaemonSets(w.namespace).List(ctx, opts)
		if err != nil {
			return nil, classifyAPIError(err, what)
		}
		deps, stss, dss = dl.Items, sl.Items, dl2.Items
		if len(deps)+len(stss)+len(dss) == 0 {
			// Helm has created the objects before we are called, so an
			// empty result means a wrong namespace or selector; waiting
			// for nothing would report success for a broken setup.
			return nil, errHard{fmt.Errorf("no Deployments, StatefulSets or DaemonSets match %q in namespace %s", w.selector, w.namespace)}
		}
	}

	var rss []appsv1.ReplicaSet
	if len(deps) > 0 {
		l, err := apps.ReplicaSets(w.namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, classifyAPIError(err, "ReplicaSets in namespace "+w.namespace)
		}
		rss = l.Items
	}
	pl, err := w.client.CoreV1().Pods(w.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, classifyAPIError(err, "pods in namespace "+w.namespace)
	}

	now := w.now()
	out := make([]WorkloadStatus, 0, len(deps)+len(stss)+len(dss))
	for i := range deps {
		out = append(out, WorkloadProgress(&deps[i], rss, pl.Items, now))
	}
	for i := range stss {
		out = append(out, WorkloadProgress(&stss[i], rss, pl.Items, now))
	}
	for i := range dss {
		out = append(out, WorkloadProgress(&dss[i], rss, pl.Items, now))
	}
	w.checkMounts(ctx, out, pl.Items, now)
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Name != out[b].Name {
			return out[a].Name < out[b].Name
		}
		return out[a].Kind < out[b].Kind
	})
	return out, nil
}

// checkMounts applies MountFailure to the current pods of workloads that
// have not failed otherwise. Events are listed only when some pod could be
// stuck on a mount, and a failure to list them is ignored: the timeout
// report still shows the pod's state.
func (w *waiter) checkMounts(ctx context.Context, statuses []WorkloadStatus, pods []corev1.Pod, now time.Time) {
	byName := make(map[string]*corev1.Pod, len(pods))
	for i := range pods {
		byName[pods[i].Name] = &pods[i]
	}
	var events []corev1.Event
	listed := false
	for i := range statuses {
		s := &statuses[i]
		if s.Failure != nil || s.Done || !s.observed {
			continue
		}
		for _, ps := range s.Pods {
			p := byName[ps.Name]
			if p == nil || !ps.Current || !mountCandidate(p, now) {
				continue
			}
			if !listed {
				l, err := w.client.CoreV1().Events(w.namespace).List(ctx, metav1.ListOptions{})
				if err != nil {
					return
				}
				events, listed = l.Items, true
			}
			if st, ok := MountFailure(p, events, now); ok {
				s.setPodFailure(PodStatus{Name: ps.Name, Current: true, State: st})
				break
			}
		}
	}
}

// classifyAPIError: a missing target or missing permissions will not heal
// by retrying; everything else might.
func classifyAPIError(err error, what string) error {
	switch {
	case apierrors.IsNotFound(err):
		return errHard{fmt.Errorf("%s not found", what)}
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return errHard{fmt.Errorf("reading %s: %w", what, err)}
	}
	return fmt.Errorf("reading %s: %w", what, err)
}

func (w *waiter) timedOut(ctx context.Context, last []WorkloadStatus, lastErr error, elapsed, timeout time.Duration) error {
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("stopped waiting for workloads in namespace %s: %w", w.namespace, ctx.Err())
	}
	if timeout <= 0 || elapsed < timeout {
		// The caller's deadline came first; report the time actually waited.
		timeout = elapsed.Round(time.Second)
	}
	f := &FailureError{
		Kind:      KindTimeout,
		Namespace: w.namespace,
		Total:     len(last),
		Timeout:   timeout,
		Hint:      "the events and logs below show what it is waiting for; if the cluster is only slow (first start, large images), raise timeout: in dagster-dev.yaml",
		cause:     context.DeadlineExceeded,
	}
	if w.name != "" {
		f.WorkloadKind, f.Name = w.kind, w.name
	}
	for _, s := range last {
		if !s.Done {
			f.NotReady = append(f.NotReady, s)
		}
	}
	if lastErr != nil {
		f.Message = "last error: " + lastErr.Error()
	}
	w.explain(ctx, f, f.NotReady)
	return f
}

// explain attaches events and a log tail to f. Errors here are not fatal:
// the failure itself is already known, the evidence is a bonus.
func (w *waiter) explain(ctx context.Context, f *FailureError, workloads []WorkloadStatus) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), explainTimeout)
	defer cancel()

	// Which objects' events matter: the failing pod, or for a timeout every
	// pod not Ready, plus the workloads and (for Deployments) their
	// ReplicaSets, which is where FailedCreate events land.
	pods := map[string]bool{}
	owners := map[string]string{} // workload name -> kind
	if f.Pod != "" {
		pods[f.Pod] = true
	}
	for _, s := range workloads {
		owners[s.Name] = s.Kind
		if f.Pod != "" {
			continue
		}
		for _, p := range s.Pods {
			if p.State.Phase != PhaseReady && !p.State.Terminal {
				pods[p.Name] = true
			}
		}
	}
	if evs, err := w.client.CoreV1().Events(w.namespace).List(ctx, metav1.ListOptions{}); err == nil {
		f.Events = selectEvents(evs.Items, pods, owners, w.now())
	} else {
		f.Events = []string{"(could not list events: " + err.Error() + ")"}
	}

	pod, container, source := f.Pod, f.Container, f.logSource
	if f.Kind == KindTimeout {
		pod, container, source = timeoutLogTarget(workloads)
		f.Pod, f.Container = pod, container
	}
	if source == LogsNone || pod == "" || container == "" {
		return
	}
	f.LogsPrevious = source == LogsPrevious
	logs, err := w.tailLogs(ctx, pod, container, f.LogsPrevious)
	if err != nil {
		f.Logs = "(could not read logs: " + err.Error() + ")"
		return
	}
	f.Logs = logs
}

// timeoutLogTarget picks the first pod still waiting whose container has
// run, so its log tail can say what it is stuck on.
func timeoutLogTarget(workloads []WorkloadStatus) (pod, container string, source LogSource) {
	for _, s := range workloads {
		for _, p := range s.Pods {
			if p.State.Phase != PhaseReady && p.State.Logs != LogsNone && p.State.Container != "" {
				return p.Name, p.State.Container, p.State.Logs
			}
		}
	}
	return "", "", LogsNone
}

func selectEvents(items []corev1.Event, pods map[string]bool, owners map[string]string, now time.Time) []string {
	var picked []corev1.Event
	for _, ev := range items {
		o := ev.InvolvedObject
		switch {
		case o.Kind == "Pod" && pods[o.Name]:
		case owners[o.Name] != "" && o.Kind == owners[o.Name]:
		case o.Kind == "ReplicaSet" && ownedReplicaSetName(o.Name, owners):
		default:
			continue
		}
		picked = append(picked, ev)
	}
	sort.SliceStable(picked, func(a, b int) bool { return eventTime(&picked[a]).Before(eventTime(&picked[b])) })
	if len(picked) > maxEvents {
		picked = picked[len(picked)-maxEvents:]
	}
	out := make([]string, 0, len(picked))
	for i := range picked {
		out = append(out, formatEvent(&picked[i], now))
	}
	return out
}

// ownedReplicaSetName: ReplicaSets are named <deployment>-<pod-template-hash>.
func ownedReplicaSetName(rs string, owners map[string]string) bool {
	i := strings.LastIndexByte(rs, '-')
	return i > 0 && owners[rs[:i]] == "Deployment"
}

// eventTime is the last time the event was seen; which field holds it depends
// on whether it was written through core/v1 or events.k8s.io/v1.
func eventTime(ev *corev1.Event) time.Time {
	switch {
	case ev.Series != nil && !ev.Series.LastObservedTime.IsZero():
		return ev.Series.LastObservedTime.Time
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	case !ev.FirstTimestamp.IsZero():
		return ev.FirstTimestamp.Time
	}
	return ev.CreationTimestamp.Time
}

func formatEvent(ev *corev1.Event, now time.Time) string {
	msg := strings.Join(strings.Fields(ev.Message), " ")
	s := fmt.Sprintf("%s ago  %-7s %s/%s  %s: %s", shortDuration(now.Sub(eventTime(ev))), ev.Type,
		strings.ToLower(ev.InvolvedObject.Kind), ev.InvolvedObject.Name, ev.Reason, msg)
	count := ev.Count
	if ev.Series != nil && ev.Series.Count > count {
		count = ev.Series.Count
	}
	if count > 1 {
		s += fmt.Sprintf(" (x%d)", count)
	}
	return s
}

// tailLogs returns the last logTailLines lines of a container's log. The
// server applies TailLines; the byte cap and trimming guard against single
// enormous lines.
func (w *waiter) tailLogs(ctx context.Context, pod, container string, previous bool) (string, error) {
	n := int64(logTailLines)
	req := w.client.CoreV1().Pods(w.namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container: container,
		TailLines: &n,
		Previous:  previous,
	})
	rc, err := req.Stream(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 256<<10))
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	const maxLine = 400
	for i, l := range lines {
		if len(l) > maxLine {
			lines[i] = l[:maxLine] + " …"
		}
	}
	return strings.Join(lines, "\n"), nil
}

// startWatches opens every watch before returning, so the first list in run
// happens after they are established and no change can slip between the two.
// Each watch then only nudges the loop; see observe.
func (w *waiter) startWatches(ctx context.Context, nudge chan<- struct{}) {
	apps := w.client.AppsV1()
	ns := w.namespace
	workloadOpts := metav1.ListOptions{LabelSelector: w.selector}
	if w.name != "" {
		workloadOpts = metav1.ListOptions{FieldSelector: "metadata.name=" + w.name}
	}
	type starter func(context.Context) (watch.Interface, error)
	starters := []starter{
		func(ctx context.Context) (watch.Interface, error) {
			return w.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
		},
	}
	if w.name == "" || w.kind == "Deployment" {
		starters = append(starters,
			func(ctx context.Context) (watch.Interface, error) {
				return apps.Deployments(ns).Watch(ctx, workloadOpts)
			},
			func(ctx context.Context) (watch.Interface, error) {
				return apps.ReplicaSets(ns).Watch(ctx, metav1.ListOptions{})
			})
	}
	if w.name == "" || w.kind == "StatefulSet" {
		starters = append(starters, func(ctx context.Context) (watch.Interface, error) {
			return apps.StatefulSets(ns).Watch(ctx, workloadOpts)
		})
	}
	if w.name == "" || w.kind == "DaemonSet" {
		starters = append(starters, func(ctx context.Context) (watch.Interface, error) {
			return apps.DaemonSets(ns).Watch(ctx, workloadOpts)
		})
	}
	for _, start := range starters {
		wi, err := start(ctx)
		if err != nil {
			wi = nil // pump retries; the poll fallback covers the gap
		}
		go pump(ctx, start, wi, nudge, w.poll)
	}
}

// pump forwards "something changed" from a watch to the loop and re-opens
// the watch when the server closes it (API servers end watches after a few
// minutes) or it fails.
func pump(ctx context.Context, start func(context.Context) (watch.Interface, error), wi watch.Interface, nudge chan<- struct{}, maxBackoff time.Duration) {
	const minBackoff = 250 * time.Millisecond
	backoff := minBackoff
	for {
		if wi != nil {
			drain(ctx, wi, nudge)
			wi.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		var err error
		if wi, err = start(ctx); err != nil {
			wi = nil
			backoff = min(backoff*2, max(maxBackoff, minBackoff))
			continue
		}
		backoff = minBackoff
		// Changes made while no watch was open are only seen by a fresh list.
		poke(nudge)
	}
}

func drain(ctx context.Context, wi watch.Interface, nudge chan<- struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-wi.ResultChan():
			if !ok || ev.Type == watch.Error {
				return
			}
			poke(nudge)
		}
	}
}

func poke(nudge chan<- struct{}) {
	select {
	case nudge <- struct{}{}:
	default:
	}
}
