package readiness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/podlogs"
)

const (
	// maxEvents and logTailLines bound the evidence attached to a failure:
	// enough to see the cause, short enough to read in a terminal.
	maxEvents    = 10
	logTailLines = 20
	maxLogLine   = 400
	// explainTimeout bounds the extra API calls made after a failure, on a
	// fresh context because the wait's own context may already be done.
	explainTimeout = 15 * time.Second
)

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
	if evs, err := kube.ListEvents(ctx, w.client, w.namespace, ""); err == nil {
		f.Events = selectEvents(evs, pods, owners, w.now())
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
	kube.SortEvents(picked)
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

func formatEvent(ev *corev1.Event, now time.Time) string {
	msg := strings.Join(strings.Fields(ev.Message), " ")
	s := fmt.Sprintf("%s ago  %-7s %s/%s  %s: %s", shortDuration(now.Sub(kube.EventTime(ev))), ev.Type,
		strings.ToLower(ev.InvolvedObject.Kind), ev.InvolvedObject.Name, ev.Reason, msg)
	if count := kube.EventCount(ev); count > 1 {
		s += fmt.Sprintf(" (x%d)", count)
	}
	return s
}

// tailLogs returns the last logTailLines lines of a container's log, each
// cut at maxLogLine bytes: evidence to read in a terminal.
func (w *waiter) tailLogs(ctx context.Context, pod, container string, previous bool) (string, error) {
	logs, err := podlogs.Tail(ctx, w.client, w.namespace, pod, container, logTailLines, previous)
	if err != nil {
		return "", err
	}
	return lastLines(logs, logTailLines, maxLogLine), nil
}

// lastLines keeps a log's last n lines and cuts each at maxLine bytes (a
// single enormous line must not flood the report).
func lastLines(logs string, n, maxLine int) string {
	lines := strings.Split(strings.TrimRight(logs, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > maxLine {
			lines[i] = l[:maxLine] + " …"
		}
	}
	return strings.Join(lines, "\n")
}
