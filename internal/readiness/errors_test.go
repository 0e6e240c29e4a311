package readiness

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFailureErrorMessageForMissingConfigMap(t *testing.T) {
	d := deployment("dagster-dagit", 1)
	rs := replicaSet(d, "5d8f", "1")
	p := newPod("dagster-dagit-5d8f-x1", ownedBy("ReplicaSet", rs.UID), envFrom("ConfigMap", "dagster-pipeline-env"),
		mainState(waiting("CreateContainerConfigError", `configmap "dagster-pipeline-env" not found`), 0))
	f := WorkloadProgress(d, rsList(rs), pods(p), t0).Failure
	if f == nil {
		t.Fatal("no failure")
	}
	want := `Deployment dagster-dagit in namespace dagster cannot become ready: pod dagster-dagit-5d8f-x1, container dagit: CreateContainerConfigError
  configmap "dagster-pipeline-env" not found`
	if got := f.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if got, want := f.Fix(), "create ConfigMap dagster-pipeline-env in namespace dagster or remove it from dagit.env_config_maps"; got != want {
		t.Errorf("Fix() = %q, want %q", got, want)
	}
	if f.Details() != "" {
		t.Errorf("Details() without events or logs = %q", f.Details())
	}
}

func TestFailureErrorMessageForInitCrashLoop(t *testing.T) {
	st := statefulSet("dagster-daemon", 1, "r1", "r1")
	p := newPod("dagster-daemon-0", ownedBy("StatefulSet", st.UID),
		initState(waiting("CrashLoopBackOff", "back-off 40s"), 4), func(p *corev1.Pod) {
			p.Status.InitContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}
		})
	f := WorkloadProgress(st, nil, pods(p), t0).Failure
	if f == nil {
		t.Fatal("no failure")
	}
	for _, s := range []string{
		"StatefulSet dagster-daemon in namespace dagster cannot become ready: pod dagster-daemon-0, init container check-db-ready: Init:CrashLoopBackOff",
		"init container check-db-ready keeps exiting: 4 restarts, last exit code 2",
	} {
		if !strings.Contains(f.Error(), s) {
			t.Errorf("Error() =\n%s\nlacks %q", f.Error(), s)
		}
	}
	if !strings.HasPrefix(f.Fix(), "init container check-db-ready usually waits for a dependency") {
		t.Errorf("Fix() = %q", f.Fix())
	}
}

func TestTimeoutErrorMessage(t *testing.T) {
	f := &FailureError{
		Kind: KindTimeout, Namespace: ns, Total: 5, Timeout: 10 * time.Minute,
		Hint:  "raise timeout",
		cause: context.DeadlineExceeded,
		NotReady: []WorkloadStatus{
			{Name: "dagster-daemon", Desired: 1, Waiting: "pod dagster-daemon-xyz Init:0/1 (check-db-ready running 95s)"},
			{Name: "dagster-postgresql", Desired: 1, Waiting: "0 of 1 pods ready"},
		},
		Events: []string{"95s ago  Normal  pod/dagster-daemon-xyz  Started: Started container check-db-ready"},
		Pod:    "dagster-daemon-xyz", Container: "check-db-ready",
		Logs: "waiting for database\nwaiting for database\n",
	}
	want := `timed out after 10m0s waiting for 2 of 5 workloads in namespace dagster:
  dagster-daemon: 0/1 ready, pod dagster-daemon-xyz Init:0/1 (check-db-ready running 95s)
  dagster-postgresql: 0/1 ready, 0 of 1 pods ready`
	if got := f.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	wantDetails := `Recent events:
  95s ago  Normal  pod/dagster-daemon-xyz  Started: Started container check-db-ready
Last log lines of pod dagster-daemon-xyz, container check-db-ready:
  waiting for database
  waiting for database`
	if got := f.Details(); got != wantDetails {
		t.Errorf("Details() =\n%s\nwant\n%s", got, wantDetails)
	}
	if !errors.Is(f, context.DeadlineExceeded) {
		t.Error("timeout does not unwrap to context.DeadlineExceeded")
	}

	single := &FailureError{Kind: KindTimeout, Namespace: ns, Total: 1, Timeout: time.Minute,
		NotReady: []WorkloadStatus{{Kind: "Deployment", Name: "dagster-dagit", Desired: 1, Ready: 0, Waiting: "1 old pod left"}}}
	if got, want := strings.SplitN(single.Error(), "\n", 2)[0], "timed out after 1m0s waiting for Deployment dagster-dagit in namespace dagster:"; got != want {
		t.Errorf("single-workload timeout headline = %q, want %q", got, want)
	}
}

func TestSelectEvents(t *testing.T) {
	ev := func(kind, name, reason, msg string, at time.Duration, count int32) corev1.Event {
		return corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: name + "." + reason, Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: kind, Name: name, Namespace: ns},
			Type:           corev1.EventTypeWarning, Reason: reason, Message: msg,
			LastTimestamp: ago(at), Count: count,
		}
	}
	var items []corev1.Event
	for i := 12; i >= 1; i-- { // newest last after sorting; given oldest-last here
		items = append(items, ev("Pod", "dagit-1", "BackOff", "Back-off restarting failed container", time.Duration(i)*time.Second, 1))
	}
	items = append(items,
		ev("Pod", "other-1", "BackOff", "not ours", 0, 1),
		ev("ReplicaSet", "dagster-dagit-5d8f", "FailedCreate", "Error creating:\n  forbidden", 400*time.Millisecond, 7),
		ev("ReplicaSet", "dagster-dagit-extra-5d8f", "FailedCreate", "belongs to dagster-dagit-extra", 0, 1),
		ev("Deployment", "dagster-dagit", "ScalingReplicaSet", "Scaled up", 30*time.Second, 1),
	)
	got := selectEvents(items, map[string]bool{"dagit-1": true}, map[string]string{"dagster-dagit": "Deployment"}, t0)
	if len(got) != maxEvents {
		t.Fatalf("%d events, want %d: %q", len(got), maxEvents, got)
	}
	if want := "9s ago  Warning pod/dagit-1  BackOff: Back-off restarting failed container"; got[0] != want {
		t.Errorf("oldest kept = %q, want %q", got[0], want)
	}
	if want := "0s ago  Warning replicaset/dagster-dagit-5d8f  FailedCreate: Error creating: forbidden (x7)"; got[len(got)-1] != want {
		t.Errorf("newest = %q, want %q", got[len(got)-1], want)
	}
	for _, s := range got {
		if strings.Contains(s, "not ours") || strings.Contains(s, "dagster-dagit-extra") || strings.Contains(s, "Scaled up") {
			t.Errorf("foreign or too old event kept: %q", s)
		}
	}
}
