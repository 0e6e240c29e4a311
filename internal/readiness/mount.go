package readiness

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// KindMount is a pod whose volume names a ConfigMap or Secret that does not
// exist. The pod status only says ContainerCreating (or PodInitializing) for
// ever; the cause is in FailedMount events, so this rule needs events and is
// separate from ClassifyPod.
const KindMount FailureKind = "FailedMount"

// MountGrace is how long after scheduling a missing volume source is
// tolerated: the kubelet retries mounts, so an object created a moment after
// the pod (by a later Helm resource, or by dagster-dev's watch) still works.
const MountGrace = 30 * time.Second

// mountCandidate: volumes are set up before any container starts, so only a
// pod whose containers have all never run, scheduled for longer than the
// grace period, can be stuck on a mount.
func mountCandidate(pod *corev1.Pod, now time.Time) bool {
	return stuckBeforeStart(pod, now, MountGrace)
}

// stuckBeforeStart: a pending pod, scheduled at least grace ago, none of
// whose containers has run yet.
func stuckBeforeStart(pod *corev1.Pod, now time.Time, grace time.Duration) bool {
	if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodPending && pod.Status.Phase != "" {
		return false
	}
	c := podCondition(pod, corev1.PodScheduled)
	if c == nil || c.Status != corev1.ConditionTrue || now.Sub(c.LastTransitionTime.Time) < grace {
		return false
	}
	for _, sts := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, st := range sts {
			if st.State.Running != nil || st.State.Terminated != nil || st.LastTerminationState.Terminated != nil {
				return false
			}
		}
	}
	return true
}

// MountFailure reports a pod stuck because a volume's ConfigMap or Secret is
// missing, judged from the namespace's events (any order, any objects).
func MountFailure(pod *corev1.Pod, events []corev1.Event, now time.Time) (PodState, bool) {
	if !mountCandidate(pod, now) {
		return PodState{}, false
	}
	found := latestPodEvent(pod, events, func(ev *corev1.Event) bool {
		return ev.Reason == "FailedMount" && missingObjectRE.MatchString(ev.Message)
	})
	if found == nil {
		return PodState{}, false
	}
	ref, _ := ParseMissingRef(found.Message)
	return PodState{
		Phase:   PhaseFailed,
		Kind:    KindMount,
		Reason:  "FailedMount",
		Message: found.Message,
		Hint: fmt.Sprintf("create %s %s in namespace %s, or remove the volume that mounts it from the chart values",
			ref.Kind, ref.Name, pod.Namespace),
	}, true
}

// latestPodEvent is the newest of pod's events since it was scheduled that
// match. StatefulSet pods reuse names, so an event of an earlier pod with
// the same name must not count: EventsFor matches the UID when the event
// has one, and events from before this pod was scheduled are ignored.
func latestPodEvent(pod *corev1.Pod, events []corev1.Event, match func(*corev1.Event) bool) *corev1.Event {
	scheduled := podCondition(pod, corev1.PodScheduled).LastTransitionTime.Time
	var found *corev1.Event
	mine := kube.EventsFor(events, "Pod", pod.Name, pod.UID)
	for i := range mine {
		ev := &mine[i]
		if kube.EventTime(ev).Before(scheduled) || !match(ev) {
			continue
		}
		if found == nil || kube.EventTime(ev).After(kube.EventTime(found)) {
			found = ev
		}
	}
	return found
}
