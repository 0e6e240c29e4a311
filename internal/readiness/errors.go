package readiness

import (
	"fmt"
	"strings"
	"time"
)

// FailureError explains why a rollout cannot finish (or did not finish in
// time). Error() is a short human message (object, state, cause, fix);
// Details() adds the evidence: recent events and the failing container's log
// tail, the things chart-testing and Garden print and Helm hides.
type FailureError struct {
	Kind FailureKind
	// WorkloadKind and Name identify the workload ("Deployment",
	// "dagster-dagit"); both are empty for a timeout over several workloads.
	WorkloadKind string
	Namespace    string
	Name         string
	// Pod and Container are the failing pod and container, if any.
	Pod           string
	Container     string
	InitContainer bool
	// Reason is the Kubernetes reason (ImagePullBackOff, CrashLoopBackOff,
	// Unschedulable, ProgressDeadlineExceeded, ...); Message the kubelet's,
	// scheduler's or controller's text; Hint what to change.
	Reason  string
	Message string
	Hint    string
	// Events are the recent events of the pod (or workload), oldest first,
	// one formatted line each.
	Events []string
	// Logs are the last lines of Container's log (its previous run for crash loops).
	Logs string
	// LogsPrevious says Logs come from the container's previous run.
	LogsPrevious bool
	// NotReady lists the workloads still waiting when Kind is KindTimeout.
	NotReady []WorkloadStatus
	// Total and Timeout describe the wait that timed out.
	Total   int
	Timeout time.Duration

	logSource LogSource
	cause     error
}

func (e *FailureError) Error() string {
	var b strings.Builder
	if e.Kind == KindTimeout {
		fmt.Fprintf(&b, "timed out after %s waiting for ", e.Timeout)
		switch {
		case e.Name != "":
			fmt.Fprintf(&b, "%s %s", e.WorkloadKind, e.Name)
		case e.Total == 1 && len(e.NotReady) == 1:
			fmt.Fprintf(&b, "%s %s", e.NotReady[0].Kind, e.NotReady[0].Name)
		case e.Total == 0:
			b.WriteString("workloads") // never listed them: the last error says why
		default:
			fmt.Fprintf(&b, "%d of %d workloads", len(e.NotReady), e.Total)
		}
		fmt.Fprintf(&b, " in namespace %s", e.Namespace)
		if len(e.NotReady) > 0 {
			b.WriteString(":")
		}
		for _, w := range e.NotReady {
			fmt.Fprintf(&b, "\n  %s: %d/%d ready, %s", w.Name, w.Ready, w.Desired, w.Waiting)
		}
		if e.Message != "" {
			fmt.Fprintf(&b, "\n  %s", e.Message)
		}
	} else {
		fmt.Fprintf(&b, "%s %s in namespace %s cannot become ready: ", e.WorkloadKind, e.Name, e.Namespace)
		switch {
		case e.Pod != "" && e.Container != "":
			what := "container"
			if e.InitContainer {
				what = "init container"
			}
			fmt.Fprintf(&b, "pod %s, %s %s: %s", e.Pod, what, e.Container, e.Reason)
		case e.Pod != "":
			fmt.Fprintf(&b, "pod %s: %s", e.Pod, e.Reason)
		default:
			b.WriteString(e.Reason)
		}
		if e.Message != "" {
			fmt.Fprintf(&b, "\n%s", indent(strings.TrimSpace(e.Message), "  "))
		}
	}
	return b.String()
}

// Fix is what to do about the failure ("" when nothing specific is known);
// the CLI prints it once, after the message.
func (e *FailureError) Fix() string { return e.Hint }

// Details renders the events and logs gathered for the failure; empty when
// there are none. It is separate from Error() so a terminal UI can show the
// short message prominently and the evidence below it.
func (e *FailureError) Details() string {
	var b strings.Builder
	if len(e.Events) > 0 {
		b.WriteString("Recent events:\n")
		for _, ev := range e.Events {
			b.WriteString("  " + ev + "\n")
		}
	}
	if e.Logs != "" {
		run := ""
		if e.LogsPrevious {
			run = ", previous run"
		}
		fmt.Fprintf(&b, "Last log lines of pod %s, container %s%s:\n", e.Pod, e.Container, run)
		b.WriteString(indent(strings.TrimRight(e.Logs, "\n"), "  ") + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// Unwrap lets errors.Is(err, context.DeadlineExceeded) recognise a timeout.
func (e *FailureError) Unwrap() error { return e.cause }

// indent prefixes every line of s.
func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}
