package readiness

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

// What the kubelet reported on a kind node whose Docker data root was full.
const (
	sandboxENOSPC   = `Failed to create pod sandbox: rpc error: code = Unknown desc = failed to create containerd container: failed to prepare extraction snapshot "extract-1": mkdir /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/311: no space left on device`
	containerENOSPC = `failed to create containerd container: mkdir /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/312: no space left on device`
)

func podEvent(pod string, uid types.UID, reason, msg string, at time.Duration) corev1.Event {
	return corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: pod + "." + reason, Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod, UID: uid, Namespace: ns},
		Type:           corev1.EventTypeWarning, Reason: reason,
		Message:       msg,
		LastTimestamp: ago(at),
	}
}

func TestClassifyPodContainerDiskFull(t *testing.T) {
	for _, reason := range []string{"CreateContainerError", "RunContainerError", "ErrImagePull"} {
		st := ClassifyPod(newPod("dagster-dagit-abc-1", mainState(waiting(reason, containerENOSPC), 0)), t0)
		if st.Phase != PhaseFailed || st.Kind != KindDiskFull || st.Reason != reason {
			t.Errorf("%s: state = %+v, want a DiskFull failure", reason, st)
		}
		if !strings.Contains(st.Hint, "disk is full") || !strings.Contains(st.Hint, "docker system prune") {
			t.Errorf("%s: hint = %q", reason, st.Hint)
		}
	}
	// Other CreateContainerErrors stay what they were: progress.
	st := ClassifyPod(newPod("p", mainState(waiting("CreateContainerError", "context deadline exceeded"), 0)), t0)
	if st.Phase == PhaseFailed {
		t.Errorf("a CreateContainerError without ENOSPC: state = %+v, want progress", st)
	}
}

func TestDiskFailure(t *testing.T) {
	p := newPod("dagster-dagit-abc-1")
	tests := []struct {
		name   string
		pod    *corev1.Pod
		events []corev1.Event
		fail   bool
	}{
		{"sandbox could not be created", newPod(p.Name, stuckMounting(10*time.Second)), []corev1.Event{podEvent(p.Name, p.UID, "FailedCreatePodSandBox", sandboxENOSPC, 2*time.Second)}, true},
		{"volume could not be written", newPod(p.Name, stuckMounting(10*time.Second)), []corev1.Event{podEvent(p.Name, p.UID, "FailedMount", `MountVolume.SetUp failed for volume "tmp" : write /var/lib/kubelet/pods/x: no space left on device`, 2*time.Second)}, true},
		{"just scheduled", newPod(p.Name, stuckMounting(time.Second)), []corev1.Event{podEvent(p.Name, p.UID, "FailedCreatePodSandBox", sandboxENOSPC, 0)}, false},
		{"another sandbox failure", newPod(p.Name, stuckMounting(10*time.Second)), []corev1.Event{podEvent(p.Name, p.UID, "FailedCreatePodSandBox", "failed to setup network for sandbox", 2*time.Second)}, false},
		{"an earlier pod's event", newPod(p.Name, stuckMounting(10*time.Second)), []corev1.Event{podEvent(p.Name, "old-uid", "FailedCreatePodSandBox", sandboxENOSPC, 2*time.Second)}, false},
		{"from before it was scheduled", newPod(p.Name, stuckMounting(10*time.Second)), []corev1.Event{podEvent(p.Name, "", "FailedCreatePodSandBox", sandboxENOSPC, time.Minute)}, false},
		{"containers already ran", newPod(p.Name, stuckMounting(10*time.Second), initRunning(time.Second)), []corev1.Event{podEvent(p.Name, p.UID, "FailedCreatePodSandBox", sandboxENOSPC, 2*time.Second)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, failed := DiskFailure(tt.pod, tt.events, t0)
			if failed != tt.fail {
				t.Fatalf("failed = %v, want %v (%+v)", failed, tt.fail, st)
			}
			if failed && (st.Kind != KindDiskFull || st.Hint != diskFullHint) {
				t.Errorf("state = %+v", st)
			}
		})
	}
}

func TestWaitFailsFastOnFullDisk(t *testing.T) {
	_, _, p, objs := release(stuckMounting(5 * time.Second))
	ev := podEvent(p.Name, p.UID, "FailedCreatePodSandBox", sandboxENOSPC, 2*time.Second)
	client := fake.NewClientset(append(objs, &ev)...)
	w, _ := testWaiter(client)
	err := w.run(context.Background(), time.Minute)
	var f *FailureError
	if !errors.As(err, &f) || f.Kind != KindDiskFull {
		t.Fatalf("Wait = %v, want a DiskFull failure", err)
	}
	if !strings.Contains(f.Error(), "pod dagster-dagit-abc-1: FailedCreatePodSandBox") || !strings.Contains(f.Error(), "no space left on device") || f.Fix() != diskFullHint {
		t.Errorf("Error() = %s\nFix() = %s", f.Error(), f.Fix())
	}
}
