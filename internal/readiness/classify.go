// Package readiness watches the workloads of a Helm release until they are
// rolled out, and fails fast with a readable explanation when they cannot be.
//
// It replaces Helm's --wait, which polls every 2 s, does not wait for
// StatefulSets in all versions, keeps waiting through a crash loop until the
// timeout and then only says "timed out waiting for the condition". Here the
// decision logic is pure (ClassifyPod, WorkloadProgress) so every rule is unit
// tested; Wait and WaitRollout only feed it fresh objects.
package readiness

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/dagster-dev/dagster-dev/internal/text"
)

// CrashLoopRestarts is how many restarts a container in CrashLoopBackOff may
// have before it counts as failed. Lower values would fail on containers that
// exit once or twice while their dependencies (database, message broker) are
// still starting; with the kubelet's back-off (10 s, 20 s, 40 s …) three
// restarts take over a minute, long enough for a local Postgres to come up.
const CrashLoopRestarts = 3

// UnschedulableGrace is how long a pod may stay unschedulable before it counts
// as failed. The scheduler briefly reports Unschedulable while a volume is
// being provisioned or a node is still joining, which heals by itself.
const UnschedulableGrace = 30 * time.Second

// Phase is the coarse state of a pod.
type Phase int

const (
	// PhaseProgressing means not ready yet, but nothing says it won't become ready.
	PhaseProgressing Phase = iota
	// PhaseReady means the pod's Ready condition is true.
	PhaseReady
	// PhaseFailed means it will not become ready without a change by the user.
	PhaseFailed
)

func (p Phase) String() string {
	switch p {
	case PhaseReady:
		return "Ready"
	case PhaseFailed:
		return "Failed"
	default:
		return "Progressing"
	}
}

// FailureKind says which rule classified a pod or workload as failed.
type FailureKind string

const (
	KindImagePull     FailureKind = "ImagePull"
	KindCrashLoop     FailureKind = "CrashLoop"
	KindInitCrashLoop FailureKind = "InitCrashLoop"
	KindConfig        FailureKind = "CreateContainerConfigError"
	KindUnschedulable FailureKind = "Unschedulable"
	// KindRollout is a controller-level failure: a Deployment past its
	// progress deadline or unable to create pods.
	KindRollout FailureKind = "Rollout"
	KindTimeout FailureKind = "Timeout"
)

// PodState is the result of ClassifyPod.
type PodState struct {
	Phase Phase
	// Reason is short, in the style of kubectl's STATUS column:
	// "Init:0/1", "ContainerCreating", "ImagePullBackOff", "Running".
	Reason string
	// Detail adds what is happening, e.g. "check-db-ready running 95s".
	Detail string
	// Container is the container the state is about, if any.
	Container     string
	InitContainer bool
	// Terminal is set for pods in phase Succeeded or Failed (e.g. evicted):
	// their controller replaces them, so they are neither waited for nor failures.
	Terminal bool
	// Kind, Message and Hint are set when Phase is PhaseFailed. Message is the
	// kubelet's or scheduler's text; Hint says what to change.
	Kind    FailureKind
	Message string
	Hint    string
	// Logs says which logs explain the failure: the previous run of Container
	// for crash loops. LogsNone when the container never ran.
	Logs LogSource
}

// LogSource says which logs of PodState.Container are worth showing.
type LogSource int

const (
	LogsNone LogSource = iota
	LogsCurrent
	LogsPrevious
)

// Short renders the state for a one-line status: "Init:0/1 (check-db-ready running 95s)".
func (s PodState) Short() string {
	if s.Detail == "" {
		return s.Reason
	}
	return s.Reason + " (" + s.Detail + ")"
}

// ClassifyPod decides whether a pod is ready, still on its way, or stuck in a
// way that waiting will not fix. now is passed in so the time-based rules
// (unschedulable grace, "running 95s") are deterministic in tests.
func ClassifyPod(pod *corev1.Pod, now time.Time) PodState {
	if pod.DeletionTimestamp != nil {
		return PodState{Reason: "Terminating"}
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		reason := pod.Status.Reason
		if reason == "" {
			reason = string(pod.Status.Phase)
		}
		return PodState{Reason: reason, Detail: text.FirstLine(pod.Status.Message), Terminal: true}
	}
	if c := podCondition(pod, corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue {
		return PodState{Phase: PhaseReady, Reason: "Ready"}
	}

	if c := podCondition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
		if c.Reason != corev1.PodReasonUnschedulable {
			return PodState{Reason: "Pending", Detail: c.Reason}
		}
		since := c.LastTransitionTime.Time
		if since.IsZero() {
			since = pod.CreationTimestamp.Time
		}
		waited := now.Sub(since)
		if waited >= UnschedulableGrace {
			return PodState{
				Phase:   PhaseFailed,
				Kind:    KindUnschedulable,
				Reason:  "Unschedulable",
				Message: c.Message,
				Hint:    unschedulableHint(c.Message),
			}
		}
		return PodState{Reason: "Pending", Detail: "unschedulable for " + shortDuration(waited)}
	}

	// Init containers run one after another, so the index of the first one
	// that is not done is also the number done, as in kubectl's "Init:1/2".
	initStatus := statusByName(pod.Status.InitContainerStatuses)
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		prefix := fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		st, ok := initStatus[c.Name]
		if !ok {
			return PodState{Reason: prefix, Container: c.Name, InitContainer: true}
		}
		if initDone(c, st) {
			continue
		}
		if f, failed := containerFailure(pod, c, st, true); failed {
			return f
		}
		s := PodState{Reason: prefix, Container: c.Name, InitContainer: true}
		switch {
		case st.State.Running != nil:
			s.Detail = c.Name + " running " + shortDuration(now.Sub(st.State.Running.StartedAt.Time))
			s.Logs = LogsCurrent // a wait-for-dependency script usually says what it waits for
		case st.State.Waiting != nil && st.State.Waiting.Reason == "CrashLoopBackOff":
			s.Detail = fmt.Sprintf("%s restarting, %s", c.Name, restartsText(st))
			s.Logs = LogsPrevious
		case st.State.Waiting != nil && st.State.Waiting.Reason != "":
			s.Detail = c.Name + " " + st.State.Waiting.Reason
		case st.State.Terminated != nil:
			s.Detail = fmt.Sprintf("%s exited with code %d", c.Name, st.State.Terminated.ExitCode)
			s.Logs = LogsCurrent
		}
		return s
	}

	// A failure of any main container decides the pod, even if another
	// container is merely slow, so check all of them before reporting progress.
	status := statusByName(pod.Status.ContainerStatuses)
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if st, ok := status[c.Name]; ok {
			if f, failed := containerFailure(pod, c, st, false); failed {
				return f
			}
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		st, ok := status[c.Name]
		if !ok {
			return PodState{Reason: "ContainerCreating", Container: c.Name}
		}
		if st.Ready {
			continue
		}
		s := PodState{Container: c.Name}
		switch {
		case st.State.Waiting != nil:
			s.Reason = st.State.Waiting.Reason
			if s.Reason == "" {
				s.Reason = "Waiting"
			}
			if s.Reason == "CrashLoopBackOff" {
				s.Detail = c.Name + " " + restartsText(st)
				s.Logs = LogsPrevious
			}
		case st.State.Running != nil:
			s.Reason = "Running"
			s.Detail = c.Name + " not ready, up " + shortDuration(now.Sub(st.State.Running.StartedAt.Time))
			if st.RestartCount > 0 {
				s.Detail += ", " + restartsText(st)
			}
			s.Logs = LogsCurrent
		case st.State.Terminated != nil:
			s.Reason = st.State.Terminated.Reason
			if s.Reason == "" {
				s.Reason = "Terminated"
			}
			s.Detail = fmt.Sprintf("%s exited with code %d", c.Name, st.State.Terminated.ExitCode)
			s.Logs = LogsCurrent
		default:
			s.Reason = "ContainerCreating"
		}
		return s
	}
	// All containers are ready but the pod is not: readiness gates, or the
	// kubelet has not updated the condition yet.
	return PodState{Reason: "NotReady", Detail: "containers ready, pod condition pending"}
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func statusByName(sts []corev1.ContainerStatus) map[string]*corev1.ContainerStatus {
	m := make(map[string]*corev1.ContainerStatus, len(sts))
	for i := range sts {
		m[sts[i].Name] = &sts[i]
	}
	return m
}

// initDone: a regular init container is done when it exited 0; a sidecar
// (restartPolicy Always) never exits and is done once it has started.
func initDone(c *corev1.Container, st *corev1.ContainerStatus) bool {
	if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
		return st.Started != nil && *st.Started
	}
	return st.State.Terminated != nil && st.State.Terminated.ExitCode == 0
}

func restartsText(st *corev1.ContainerStatus) string {
	s := fmt.Sprintf("%d restarts", st.RestartCount)
	if st.RestartCount == 1 {
		s = "1 restart"
	}
	if t := st.LastTerminationState.Terminated; t != nil {
		s += fmt.Sprintf(", last exit code %d", t.ExitCode)
		if t.Reason != "" && t.Reason != "Error" {
			s += " (" + t.Reason + ")"
		}
	}
	return s
}

// containerFailure applies the fail-fast rules to one container.
func containerFailure(pod *corev1.Pod, c *corev1.Container, st *corev1.ContainerStatus, init bool) (PodState, bool) {
	w := st.State.Waiting
	if w == nil {
		return PodState{}, false
	}
	f := PodState{
		Phase:         PhaseFailed,
		Reason:        w.Reason,
		Container:     c.Name,
		InitContainer: init,
		Message:       w.Message,
	}
	if full, ok := containerDiskFull(f); ok {
		return full, true
	}
	switch w.Reason {
	// A single ErrImagePull is enough: dagster-dev clusters are often
	// offline, where a pull that failed once will fail forever, and online a
	// typo in a tag does not fix itself either.
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
		f.Kind = KindImagePull
		f.Hint = imagePullHint(c, w.Reason)
		if f.Message == "" {
			f.Message = fmt.Sprintf("image %q", c.Image)
		}
		return f, true
	case "CreateContainerConfigError":
		// The kubelet reports its own slowness under the same reason: on a
		// loaded node its ConfigMap/Secret watch may not have synced within
		// its timeout. It retries by itself, so that is progress, not a
		// broken configuration.
		if kubeletCacheNotSynced(w.Message) {
			return PodState{}, false
		}
		f.Kind = KindConfig
		f.Hint = configErrorHint(pod, w.Message)
		return f, true
	case "CrashLoopBackOff":
		if st.RestartCount < CrashLoopRestarts {
			return PodState{}, false
		}
		f.Kind = KindCrashLoop
		what := "container"
		if init {
			f.Kind = KindInitCrashLoop
			f.Reason = "Init:CrashLoopBackOff"
			what = "init container"
		}
		f.Message = fmt.Sprintf("%s %s keeps exiting: %s", what, c.Name, restartsText(st))
		if t := st.LastTerminationState.Terminated; t != nil && t.Message != "" {
			f.Message += ": " + text.FirstLine(t.Message)
		}
		f.Hint = crashLoopHint(c, st, init)
		f.Logs = LogsPrevious
		return f, true
	}
	return PodState{}, false
}

// shortDuration renders durations the way people read a status line:
// "95s" below two minutes, then "3m05s", then "1h02m".
func shortDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	switch {
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}
