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
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/internal/kube"
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
		return PodState{Reason: reason, Detail: firstLine(pod.Status.Message), Terminal: true}
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
			f.Message += ": " + firstLine(t.Message)
		}
		f.Hint = crashLoopHint(c, st, init)
		f.Logs = LogsPrevious
		return f, true
	}
	return PodState{}, false
}

func imagePullHint(c *corev1.Container, reason string) string {
	switch reason {
	case "InvalidImageName":
		return fmt.Sprintf("%q is not a valid image reference: check the image name and tag in the chart values", c.Image)
	case "ErrImageNeverPull":
		return fmt.Sprintf("imagePullPolicy is Never and %q is not on the node: side-load it by listing it under images: in dagster-dev.yaml", c.Image)
	}
	hint := fmt.Sprintf("the image %q isn't available in the cluster: side-load it by listing it under images: in dagster-dev.yaml, or check the name/tag", c.Image)
	if effectivePullPolicy(c) == corev1.PullAlways {
		hint += "; its imagePullPolicy is Always, so side-loaded images are ignored: set imagePullPolicy: IfNotPresent and use a tag other than latest"
	}
	return hint
}

// effectivePullPolicy mirrors the API server's defaulting, for pods that were
// built by hand (tests) or by clients that skip defaulting.
func effectivePullPolicy(c *corev1.Container) corev1.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	ref := c.Image
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		return corev1.PullIfNotPresent
	}
	if i := strings.LastIndex(ref, ":"); i >= 0 && !strings.Contains(ref[i:], "/") {
		if ref[i+1:] == "latest" {
			return corev1.PullAlways
		}
		return corev1.PullIfNotPresent
	}
	return corev1.PullAlways
}

var (
	missingObjectRE = regexp.MustCompile(`(?i)\b(configmap|secret)s? "([^"]+)" not found`)
	missingKeyRE    = regexp.MustCompile(`(?i)couldn't find key (\S+) in (ConfigMap|Secret) ([^/\s]+)/(\S+)`)
)

// MissingRef is what a CreateContainerConfigError message says is missing.
type MissingRef struct {
	Kind string // "ConfigMap" or "Secret"
	Name string
	Key  string // empty when the whole object is missing
}

// ParseMissingRef extracts the missing ConfigMap/Secret (and key) from a
// kubelet CreateContainerConfigError message such as `configmap "x" not found`
// or `couldn't find key K in Secret ns/x`.
func ParseMissingRef(message string) (MissingRef, bool) {
	if m := missingKeyRE.FindStringSubmatch(message); m != nil {
		return MissingRef{Kind: refKind(m[2]), Name: m[4], Key: m[1]}, true
	}
	if m := missingObjectRE.FindStringSubmatch(message); m != nil {
		return MissingRef{Kind: refKind(m[1]), Name: m[2]}, true
	}
	return MissingRef{}, false
}

func refKind(s string) string {
	if strings.EqualFold(s, "secret") {
		return "Secret"
	}
	return "ConfigMap"
}

func configErrorHint(pod *corev1.Pod, message string) string {
	ref, ok := ParseMissingRef(message)
	if !ok {
		return "fix the container's configuration in the chart values: " + firstLine(message)
	}
	if ref.Key != "" {
		return fmt.Sprintf("add key %s to %s %s in namespace %s, or stop referencing that key", ref.Key, ref.Kind, ref.Name, pod.Namespace)
	}
	// Only whole-object references through envFrom come from the
	// env_config_maps / env_secrets lists; a single env entry (such as the
	// chart's own Postgres password) or a volume is set elsewhere.
	if !inEnvFrom(pod, ref) {
		return fmt.Sprintf("create %s %s in namespace %s, or change the chart values that reference it", ref.Kind, ref.Name, pod.Namespace)
	}
	field := "env_config_maps"
	if ref.Kind == "Secret" {
		field = "env_secrets"
	}
	where := "the chart values that list it"
	if comp := chartComponent(pod); comp != "" {
		where = comp + "." + field
	} else {
		where += fmt.Sprintf(" (dagit.%s / job_runner.%s)", field, field)
	}
	return fmt.Sprintf("create %s %s in namespace %s or remove it from %s", ref.Kind, ref.Name, pod.Namespace, where)
}

// inEnvFrom reports whether any container of the pod imports ref through envFrom.
func inEnvFrom(pod *corev1.Pod, ref MissingRef) bool {
	cs := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range cs {
		for _, e := range c.EnvFrom {
			switch {
			case ref.Kind == "ConfigMap" && e.ConfigMapRef != nil && e.ConfigMapRef.Name == ref.Name,
				ref.Kind == "Secret" && e.SecretRef != nil && e.SecretRef.Name == ref.Name:
				return true
			}
		}
	}
	return false
}

// chartComponent names the top-level values key whose env_config_maps /
// env_secrets feed the pod, so a hint can name the exact list to edit. The
// mapping mirrors chart/dagster/templates: dagit and the daemon include
// dagster.dagit.envFrom, celery workers and user code dagster.jobRunner.envFrom.
// It returns "" when unsure rather than pointing at the wrong key.
func chartComponent(pod *corev1.Pod) string {
	switch pod.Labels[kube.LabelComponent] {
	case chart.ComponentDagit, chart.ComponentDaemon:
		return "dagit"
	case chart.ComponentWorker, chart.ComponentUserCode:
		return "job_runner"
	}
	// Pods from other charts or older templates: fall back to names.
	for _, n := range []string{pod.Labels["component"], pod.Name} {
		n = strings.ToLower(n)
		switch {
		case n == "":
		case strings.Contains(n, "dagit") || strings.Contains(n, "webserver") || strings.Contains(n, "daemon"):
			return "dagit"
		case strings.Contains(n, "celery") || strings.Contains(n, "user-code") || strings.Contains(n, "job-runner"):
			return "job_runner"
		}
	}
	return ""
}

func crashLoopHint(c *corev1.Container, st *corev1.ContainerStatus, init bool) string {
	if t := st.LastTerminationState.Terminated; t != nil {
		switch {
		case t.Reason == "OOMKilled":
			return "it was killed for exceeding its memory limit: raise resources.limits.memory for it in the chart values, or give Docker more memory"
		case t.ExitCode == 127:
			return "its command was not found in the image: check the image and the container's command/args"
		case t.ExitCode == 126:
			return "its command is not executable: check the image and the container's command/args"
		}
	}
	if init {
		return fmt.Sprintf("init container %s usually waits for a dependency (such as the database): check that dependency's pod and the log lines below", c.Name)
	}
	return "the log lines below show why it exits; fix the cause and run dagster-dev up again"
}

func unschedulableHint(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "insufficient cpu") || strings.Contains(m, "insufficient memory"):
		return "the kind node(s) lack the CPU or memory the pod requests: lower resources.requests in the chart values or give Docker more CPU/memory"
	case strings.Contains(m, "persistentvolumeclaim"):
		return "its PersistentVolumeClaim cannot be bound: check the claim's storageClassName (kind provides \"standard\") and size"
	case strings.Contains(m, "taint"):
		return "the nodes carry taints the pod does not tolerate: add tolerations in the chart values or remove the taint"
	case strings.Contains(m, "affinity") || strings.Contains(m, "selector"):
		return "no node matches the pod's nodeSelector/affinity: adjust them in the chart values"
	}
	return "the scheduler cannot place the pod; see its message and events"
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
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
