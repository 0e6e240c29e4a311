package readiness

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestDeploymentProgress(t *testing.T) {
	d := deployment("dagster-dagit", 1)
	rsNew := replicaSet(d, "new", "2")
	rsOld := replicaSet(d, "old", "1")
	d2 := func(mut func(*appsv1.Deployment)) *appsv1.Deployment {
		x := d.DeepCopy()
		x.Annotations[revisionAnnotation] = "2"
		if mut != nil {
			mut(x)
		}
		return x
	}
	newPodOf := func(name string, opts ...podOpt) *corev1.Pod {
		return newPod(name, append([]podOpt{ownedBy("ReplicaSet", rsNew.UID)}, opts...)...)
	}
	oldPodOf := func(name string, opts ...podOpt) *corev1.Pod {
		return newPod(name, append([]podOpt{ownedBy("ReplicaSet", rsOld.UID)}, opts...)...)
	}
	other := deployment("other", 1)
	rsOther := replicaSet(other, "x", "1")

	tests := []struct {
		name    string
		d       *appsv1.Deployment
		pods    []*corev1.Pod
		done    bool
		ready   int32
		state   string // substring of State
		waiting string // substring of Waiting
		fail    FailureKind
	}{
		{name: "rolled out", d: d2(nil), pods: []*corev1.Pod{newPodOf("dagit-new-1", ready())}, done: true, ready: 1},
		{
			name:  "init container waiting for the database",
			d:     d2(func(x *appsv1.Deployment) { x.Status.ReadyReplicas, x.Status.AvailableReplicas = 0, 0 }),
			pods:  []*corev1.Pod{newPodOf("dagit-new-1", initRunning(95*time.Second))},
			state: "Init:0/1 (check-db-ready running 95s)", waiting: "pod dagit-new-1 Init:0/1 (check-db-ready running 95s)",
		},
		{
			name:  "controller has not seen the new spec",
			d:     d2(func(x *appsv1.Deployment) { x.Generation = 2 }),
			pods:  []*corev1.Pod{oldPodOf("dagit-old-1", ready())},
			state: "waiting for the controller to see generation 2",
		},
		{
			name:  "old ReplicaSet pod still running though counters look done",
			d:     d2(nil),
			pods:  []*corev1.Pod{newPodOf("dagit-new-1", ready()), oldPodOf("dagit-old-1", ready())},
			state: "1 old pod left", ready: 1,
		},
		{
			name:  "old ReplicaSet pod terminating",
			d:     d2(nil),
			pods:  []*corev1.Pod{newPodOf("dagit-new-1", ready()), oldPodOf("dagit-old-1", ready(), deleting())},
			state: "1 old pod left", ready: 1,
		},
		{
			name:  "status counts old replicas",
			d:     d2(func(x *appsv1.Deployment) { x.Status.Replicas = 2 }),
			pods:  []*corev1.Pod{newPodOf("dagit-new-1", ready())},
			state: "1 old pods pending termination", ready: 1,
		},
		{
			name:  "new pod not available yet (minReadySeconds)",
			d:     d2(func(x *appsv1.Deployment) { x.Status.AvailableReplicas = 0 }),
			pods:  []*corev1.Pod{newPodOf("dagit-new-1", ready())},
			state: "0 of 1 pods available", ready: 1,
		},
		{
			name: "new ReplicaSet not created yet",
			d: d2(func(x *appsv1.Deployment) {
				x.Annotations[revisionAnnotation] = "3"
				x.Status.UpdatedReplicas = 0
			}),
			pods:  []*corev1.Pod{oldPodOf("dagit-old-1", ready())},
			state: "0 of 1 pods updated",
		},
		{
			name: "crash looping old pod does not fail the rollout",
			d:    d2(func(x *appsv1.Deployment) { x.Status.UpdatedReplicas, x.Status.AvailableReplicas = 0, 0 }),
			pods: []*corev1.Pod{
				oldPodOf("dagit-old-1", mainState(waiting("CrashLoopBackOff", ""), 9)),
				newPodOf("dagit-new-1", mainState(waiting("ContainerCreating", ""), 0)),
			},
			state: "ContainerCreating",
		},
		{
			name: "new pod cannot pull its image",
			d:    d2(nil),
			pods: []*corev1.Pod{newPodOf("dagit-new-1", mainState(waiting("ImagePullBackOff", "Back-off pulling image"), 0))},
			fail: KindImagePull, state: "ImagePullBackOff",
		},
		{
			name: "evicted pod of the new ReplicaSet is ignored",
			d:    d2(nil),
			pods: []*corev1.Pod{
				newPodOf("dagit-new-0", func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted" }),
				newPodOf("dagit-new-1", ready()),
			},
			done: true, ready: 1,
		},
		{
			name: "pods of other Deployments are not ours",
			d:    d2(nil),
			pods: []*corev1.Pod{
				newPodOf("dagit-new-1", ready()),
				newPod("other-x-1", ownedBy("ReplicaSet", rsOther.UID), mainState(waiting("ErrImagePull", ""), 0)),
				newPod("bare", mainState(waiting("ErrImagePull", ""), 0)),
			},
			done: true, ready: 1,
		},
		{
			name: "progress deadline exceeded",
			d: d2(func(x *appsv1.Deployment) {
				x.Status.AvailableReplicas = 0
				x.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
					Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "dagster-dagit-new" has timed out progressing.`}}
			}),
			pods: []*corev1.Pod{newPodOf("dagit-new-1", mainState(waiting("ContainerCreating", ""), 0))},
			fail: KindRollout, state: "ProgressDeadlineExceeded",
		},
		{
			name: "pod creation failing, within grace",
			d: d2(func(x *appsv1.Deployment) {
				x.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Conditions: []appsv1.DeploymentCondition{{
					Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate",
					Message:            `pods "dagster-dagit-new-" is forbidden: error looking up service account dagster/dagster: serviceaccount "dagster" not found`,
					LastTransitionTime: ago(5 * time.Second)}}}
			}),
			state: "0 of 1 pods updated",
		},
		{
			name: "pod creation failing, past grace",
			d: d2(func(x *appsv1.Deployment) {
				x.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Conditions: []appsv1.DeploymentCondition{{
					Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate",
					Message: `serviceaccount "dagster" not found`, LastTransitionTime: ago(time.Minute)}}}
			}),
			fail: KindRollout, state: "FailedCreate", waiting: `serviceaccount "dagster" not found`,
		},
		{
			name: "crash loop being fixed by a patch the controller has not seen",
			d: d2(func(x *appsv1.Deployment) {
				x.Generation = 3
				x.Status.AvailableReplicas = 0
				x.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
					Reason: "ProgressDeadlineExceeded", Message: "stale"}}
			}),
			pods:  []*corev1.Pod{newPodOf("dagit-new-1", mainState(waiting("CrashLoopBackOff", ""), 9))},
			state: "generation 3",
		},
		{
			name:  "paused",
			d:     d2(func(x *appsv1.Deployment) { x.Spec.Paused = true }),
			pods:  []*corev1.Pod{newPodOf("dagit-new-1", ready())},
			state: "rollout paused", ready: 1,
		},
		{
			name: "scaled to zero",
			d: d2(func(x *appsv1.Deployment) {
				x.Spec.Replicas = ptr(int32(0))
				x.Status = appsv1.DeploymentStatus{ObservedGeneration: 1}
			}),
			done: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := WorkloadProgress(tt.d, rsList(rsNew, rsOld, rsOther), pods(tt.pods...), t0)
			checkStatus(t, got, tt.done, tt.ready, tt.state, tt.waiting, tt.fail)
		})
	}
}

func TestDeploymentFailureNamesPodAndContainer(t *testing.T) {
	d := deployment("dagster-dagit", 1)
	rs := replicaSet(d, "abc", "1")
	p := newPod("dagster-dagit-abc-x1", ownedBy("ReplicaSet", rs.UID),
		mainState(waiting("CreateContainerConfigError", `configmap "my-env" not found`), 0))
	got := WorkloadProgress(d, rsList(rs), pods(p), t0)
	f := got.Failure
	if f == nil {
		t.Fatal("no failure")
	}
	if f.WorkloadKind != "Deployment" || f.Name != "dagster-dagit" || f.Namespace != ns || f.Pod != p.Name || f.Container != "dagit" {
		t.Errorf("failure does not identify the object: %+v", f)
	}
	if f.Kind != KindConfig || f.Reason != "CreateContainerConfigError" {
		t.Errorf("kind/reason = %s/%s", f.Kind, f.Reason)
	}
}

func TestStatefulSetProgress(t *testing.T) {
	const cur, upd = "dagster-postgresql-6b8d", "dagster-postgresql-7f9c"
	sts := func(current, update string, mut func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
		s := statefulSet("dagster-postgresql", 1, current, update)
		if mut != nil {
			mut(s)
		}
		return s
	}
	podAt := func(name, rev string, opts ...podOpt) *corev1.Pod {
		return newPod(name, append([]podOpt{ownedBy("StatefulSet", "uid-dagster-postgresql", appsv1.StatefulSetRevisionLabel, rev)}, opts...)...)
	}
	tests := []struct {
		name    string
		s       *appsv1.StatefulSet
		pods    []*corev1.Pod
		done    bool
		ready   int32
		state   string
		waiting string
		fail    FailureKind
	}{
		{name: "rolled out", s: sts(upd, upd, nil), pods: []*corev1.Pod{podAt("pg-0", upd, ready())}, done: true, ready: 1},
		{
			name:  "revision mismatch although every pod is ready",
			s:     sts(cur, upd, func(s *appsv1.StatefulSet) { s.Status.UpdatedReplicas = 0 }),
			pods:  []*corev1.Pod{podAt("pg-0", cur, ready())},
			state: "0 of 1 pods at revision " + upd,
		},
		{
			name:  "new revision pod ready, status not caught up",
			s:     sts(cur, upd, nil),
			pods:  []*corev1.Pod{podAt("pg-0", upd, ready())},
			state: "1 of 1 pods at revision " + upd, ready: 1,
		},
		{
			name:  "old pod left",
			s:     sts(upd, upd, func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr(int32(1)) }),
			pods:  []*corev1.Pod{podAt("pg-0", upd, ready()), podAt("pg-1", cur, ready(), deleting())},
			state: "1 old pod left", ready: 1,
		},
		{
			name: "crash looping pod of the old revision blocks the StatefulSet",
			s:    sts(cur, upd, nil),
			pods: []*corev1.Pod{podAt("pg-0", cur, mainState(waiting("CrashLoopBackOff", ""), 4))},
			fail: KindCrashLoop,
		},
		{
			name: "Parallel StatefulSet replaces a crash looping old pod by itself",
			s: sts(cur, upd, func(s *appsv1.StatefulSet) {
				s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
				s.Status.UpdatedReplicas = 0
			}),
			pods:  []*corev1.Pod{podAt("pg-0", cur, mainState(waiting("CrashLoopBackOff", ""), 4))},
			state: "0 of 1 pods at revision",
		},
		{
			name:  "crash loop being fixed by a patch the controller has not seen",
			s:     sts(cur, cur, func(s *appsv1.StatefulSet) { s.Generation = 2 }),
			pods:  []*corev1.Pod{podAt("pg-0", cur, mainState(waiting("CrashLoopBackOff", ""), 4))},
			state: "generation 2",
		},
		{
			name: "partition keeps old pods on purpose",
			s: sts(cur, upd, func(s *appsv1.StatefulSet) {
				s.Spec.Replicas = ptr(int32(2))
				s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr(int32(1))}}
				s.Status.Replicas, s.Status.ReadyReplicas, s.Status.AvailableReplicas, s.Status.UpdatedReplicas = 2, 2, 2, 1
			}),
			pods: []*corev1.Pod{podAt("pg-0", cur, ready()), podAt("pg-1", upd, ready())},
			done: true, ready: 2,
		},
		{
			name: "OnDelete only needs ready pods",
			s: sts(cur, upd, func(s *appsv1.StatefulSet) {
				s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
			}),
			pods: []*corev1.Pod{podAt("pg-0", cur, ready())},
			done: true, ready: 1,
		},
		{
			name:  "not observed",
			s:     sts(upd, upd, func(s *appsv1.StatefulSet) { s.Generation = 3 }),
			pods:  []*corev1.Pod{podAt("pg-0", upd, ready())},
			state: "generation 3", ready: 1,
		},
		{
			name: "unschedulable for long",
			s:    sts(upd, upd, func(s *appsv1.StatefulSet) { s.Status.ReadyReplicas, s.Status.AvailableReplicas = 0, 0 }),
			pods: []*corev1.Pod{podAt("pg-0", upd, unschedulable(2*time.Minute, "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."))},
			fail: KindUnschedulable, waiting: "pod pg-0 Unschedulable",
		},
		{
			name:  "no pods yet",
			s:     sts(upd, upd, func(s *appsv1.StatefulSet) { s.Status.ReadyReplicas, s.Status.AvailableReplicas = 0, 0 }),
			state: "0 of 1 pods ready",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := WorkloadProgress(tt.s, nil, pods(tt.pods...), t0)
			checkStatus(t, got, tt.done, tt.ready, tt.state, tt.waiting, tt.fail)
		})
	}
}

func TestStatefulSetOldPodFailureSaysToDeleteIt(t *testing.T) {
	s := statefulSet("dagster-postgresql", 1, "r1", "r2")
	p := newPod("dagster-postgresql-0", ownedBy("StatefulSet", s.UID, appsv1.StatefulSetRevisionLabel, "r1"),
		mainState(waiting("CrashLoopBackOff", ""), 4), lastExit(1, "Error"))
	f := WorkloadProgress(s, nil, pods(p), t0).Failure
	if f == nil || !strings.Contains(f.Hint, "delete pod dagster-postgresql-0 once the cause is fixed") {
		t.Fatalf("failure %v", f)
	}
}

func TestDaemonSetProgress(t *testing.T) {
	podOf := func(name string, opts ...podOpt) *corev1.Pod {
		return newPod(name, append([]podOpt{ownedBy("DaemonSet", "uid-agent")}, opts...)...)
	}
	ds := daemonSet("agent", 2)
	if got := WorkloadProgress(ds, nil, pods(podOf("a-1", ready()), podOf("a-2", ready())), t0); !got.Done || got.Ready != 2 {
		t.Errorf("rolled out DaemonSet: %+v", got)
	}
	updating := ds.DeepCopy()
	updating.Status.UpdatedNumberScheduled = 1
	got := WorkloadProgress(updating, nil, pods(podOf("a-1", ready()), podOf("a-2", ready())), t0)
	checkStatus(t, got, false, 2, "1 of 2 pods updated", "", "")

	onDelete := updating.DeepCopy()
	onDelete.Spec.UpdateStrategy.Type = appsv1.OnDeleteDaemonSetStrategyType
	got = WorkloadProgress(onDelete, nil, pods(podOf("a-1", ready()), podOf("a-2", ready())), t0)
	checkStatus(t, got, true, 2, "", "", "")

	got = WorkloadProgress(ds, nil, pods(podOf("a-1", ready()), podOf("a-2", mainState(waiting("ErrImagePull", ""), 0))), t0)
	checkStatus(t, got, false, 1, "ErrImagePull", "pod a-2 ErrImagePull", KindImagePull)
}

func checkStatus(t *testing.T, got WorkloadStatus, done bool, ready int32, state, waiting string, fail FailureKind) {
	t.Helper()
	if got.Done != done {
		t.Errorf("Done = %v, want %v (state %q)", got.Done, done, got.State)
	}
	if got.Ready != ready {
		t.Errorf("Ready = %d, want %d", got.Ready, ready)
	}
	if done && (got.State != "" || got.Failure != nil) {
		t.Errorf("done but state %q, failure %v", got.State, got.Failure)
	}
	if !done && got.State == "" {
		t.Errorf("not done without a state")
	}
	if !strings.Contains(got.State, state) {
		t.Errorf("State = %q, want it to contain %q", got.State, state)
	}
	if !strings.Contains(got.Waiting, waiting) {
		t.Errorf("Waiting = %q, want it to contain %q", got.Waiting, waiting)
	}
	switch {
	case fail == "" && got.Failure != nil:
		t.Errorf("unexpected failure %v", got.Failure)
	case fail != "" && got.Failure == nil:
		t.Errorf("no failure, want %s", fail)
	case fail != "" && got.Failure.Kind != fail:
		t.Errorf("failure kind %s, want %s", got.Failure.Kind, fail)
	}
}

func TestSnapshotString(t *testing.T) {
	s := Snapshot{Workloads: []WorkloadStatus{
		{Name: "dagster-dagit", Ready: 1, Desired: 1, Done: true},
		{Name: "dagster-daemon", Ready: 0, Desired: 1, State: "Init:0/1 (check-db-ready running 95s)"},
	}}
	want := "waiting for 2 workloads: dagster-dagit 1/1, dagster-daemon 0/1 (Init:0/1 (check-db-ready running 95s))"
	if got := s.String(); got != want {
		t.Errorf("String() = %q\nwant        %q", got, want)
	}
	if s.Pending() != 1 {
		t.Errorf("Pending() = %d", s.Pending())
	}
	s.Workloads[1].Done, s.Workloads[1].Ready = true, 1
	if got := s.String(); got != "2 workloads ready" {
		t.Errorf("String() = %q", got)
	}
}
