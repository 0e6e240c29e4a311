package readiness

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

// stuckMounting is a pod scheduled `since` ago whose containers never started.
func stuckMounting(since time.Duration) podOpt {
	return func(p *corev1.Pod) {
		setCond(p, corev1.PodScheduled, corev1.ConditionTrue, "", "", ago(since))
	}
}

func failedMount(pod string, uid types.UID, msg string, at time.Duration) corev1.Event {
	return podEvent(pod, uid, "FailedMount", msg, at)
}

func TestMountFailure(t *testing.T) {
	const msg = `MountVolume.SetUp failed for volume "workspace" : configmap "dagster-workspace-yaml" not found`
	p := newPod("dagster-dagit-abc-1")
	tests := []struct {
		name   string
		pod    *corev1.Pod
		events []corev1.Event
		fail   bool
	}{
		{"missing ConfigMap past grace", newPod(p.Name, stuckMounting(time.Minute)), []corev1.Event{failedMount(p.Name, p.UID, msg, 10*time.Second)}, true},
		{"event without UID", newPod(p.Name, stuckMounting(time.Minute)), []corev1.Event{failedMount(p.Name, "", msg, 10*time.Second)}, true},
		{"within grace", newPod(p.Name, stuckMounting(10*time.Second)), []corev1.Event{failedMount(p.Name, p.UID, msg, 5*time.Second)}, false},
		{"no event", newPod(p.Name, stuckMounting(time.Minute)), nil, false},
		{"event of an earlier pod with the same name (UID)", newPod(p.Name, stuckMounting(time.Minute)), []corev1.Event{failedMount(p.Name, "old-uid", msg, 10*time.Second)}, false},
		{"event from before this pod was scheduled", newPod(p.Name, stuckMounting(time.Minute)), []corev1.Event{failedMount(p.Name, "", msg, 5*time.Minute)}, false},
		{"another pod's event", newPod(p.Name, stuckMounting(time.Minute)), []corev1.Event{failedMount("other", "", msg, 10*time.Second)}, false},
		{"other mount failure", newPod(p.Name, stuckMounting(time.Minute)), []corev1.Event{failedMount(p.Name, p.UID, `MountVolume.SetUp failed for volume "data" : timed out`, 10*time.Second)}, false},
		{"containers already ran", newPod(p.Name, stuckMounting(time.Minute), initRunning(time.Second)), []corev1.Event{failedMount(p.Name, p.UID, msg, 10*time.Second)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, failed := MountFailure(tt.pod, tt.events, t0)
			if failed != tt.fail {
				t.Fatalf("failed = %v, want %v (%+v)", failed, tt.fail, st)
			}
			if failed && (st.Kind != KindMount || st.Hint != "create ConfigMap dagster-workspace-yaml in namespace dagster, or remove the volume that mounts it from the chart values") {
				t.Errorf("state = %+v", st)
			}
		})
	}
}

func TestWaitFailsFastOnMissingVolumeSource(t *testing.T) {
	_, _, p, objs := release(stuckMounting(time.Minute))
	ev := failedMount(p.Name, p.UID, `MountVolume.SetUp failed for volume "env" : secret "my-secret" not found`, 20*time.Second)
	client := fake.NewClientset(append(objs, &ev)...)
	w, _ := testWaiter(client)
	err := w.run(context.Background(), time.Minute)
	var f *FailureError
	if !errors.As(err, &f) || f.Kind != KindMount {
		t.Fatalf("Wait = %v, want a FailedMount failure", err)
	}
	if !strings.Contains(f.Error(), "pod dagster-dagit-abc-1: FailedMount") || !strings.Contains(f.Fix(), "create Secret my-secret in namespace dagster") {
		t.Errorf("Error() = %s", f.Error())
	}
	if len(f.Events) != 1 {
		t.Errorf("events = %q", f.Events)
	}
}
