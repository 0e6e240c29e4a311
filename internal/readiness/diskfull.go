package readiness

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/dagster-dev/dagster-dev/internal/diskspace"
)

// KindDiskFull is a pod that cannot start because its node's disk is full:
// containerd cannot unpack a snapshot for its sandbox or a container, or the
// kubelet cannot write a volume. The kubelet retries for ever, so waiting
// only ends in a timeout; nothing heals until the user frees space.
const KindDiskFull FailureKind = "DiskFull"

// diskFullHint is the same remedy as the cluster package's DiskFullError:
// a kind node's disk is Docker's data root on the host.
const diskFullHint = "the node's disk is full: " + diskspace.Fix +
	"; the kubelet retries by itself once there is room"

// diskFullGrace: a sandbox that failed a moment ago is already in an event,
// but a pod that has just been scheduled cannot have one; skipping those
// saves listing events for every pod of a normal start.
const diskFullGrace = 3 * time.Second

// containerDiskFull classifies a waiting container whose message says the
// disk is full (CreateContainerError, RunContainerError, an image pull that
// could not unpack), whatever the reason.
func containerDiskFull(f PodState) (PodState, bool) {
	if !diskspace.NoSpace(f.Message) {
		return PodState{}, false
	}
	f.Kind, f.Hint = KindDiskFull, diskFullHint
	return f, true
}

// diskCandidate: a sandbox or volume that cannot be written leaves the pod
// with no container ever run, like a missing mount, but fails at once.
func diskCandidate(pod *corev1.Pod, now time.Time) bool {
	return stuckBeforeStart(pod, now, diskFullGrace)
}

// DiskFailure reports a pod stuck because its node's disk is full, judged
// from the namespace's events (FailedCreatePodSandBox, FailedMount, Failed):
// the pod's status then only says ContainerCreating.
func DiskFailure(pod *corev1.Pod, events []corev1.Event, now time.Time) (PodState, bool) {
	if !diskCandidate(pod, now) {
		return PodState{}, false
	}
	found := latestPodEvent(pod, events, func(ev *corev1.Event) bool { return diskspace.NoSpace(ev.Message) })
	if found == nil {
		return PodState{}, false
	}
	return PodState{
		Phase:   PhaseFailed,
		Kind:    KindDiskFull,
		Reason:  found.Reason,
		Message: found.Message,
		Hint:    diskFullHint,
	}, true
}
