package readiness

// These tests drive the wait loop with k8s.io/client-go/kubernetes/fake. The
// fake stands in for the API server because the logic under test is ours
// (when to list, when to give up, what to report): the tests play the
// controllers and the kubelet by feeding status transitions. Whether a real
// cluster produces these transitions is proven by the `up` integration tests.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

var selector = kube.ReleaseSelector("dagster")

// release is a small Dagster release: the webserver Deployment waiting on
// its init container, and a ready Postgres StatefulSet.
func release(dagitPod ...podOpt) (*appsv1.Deployment, *appsv1.ReplicaSet, *corev1.Pod, []runtime.Object) {
	d := deployment("dagster-dagit", 1)
	d.Status.ReadyReplicas, d.Status.AvailableReplicas = 0, 0
	rs := replicaSet(d, "abc", "1")
	p := newPod("dagster-dagit-abc-1", append([]podOpt{ownedBy("ReplicaSet", rs.UID)}, dagitPod...)...)
	pg := statefulSet("dagster-postgresql", 1, "pg-1", "pg-1")
	pgPod := newPod("dagster-postgresql-0", ownedBy("StatefulSet", pg.UID, appsv1.StatefulSetRevisionLabel, "pg-1"), ready())
	return d, rs, p, []runtime.Object{d, rs, p, pg, pgPod}
}

// testWaiter is a waiter whose progress goes to a channel the test reads to
// synchronise with the loop, and whose poll fallback is effectively off
// unless a test turns it on.
func testWaiter(client *fake.Clientset) (*waiter, chan Snapshot) {
	snaps := make(chan Snapshot, 1000)
	w := newWaiter(client, ns)
	w.selector = selector
	w.poll = time.Hour
	w.debounce = 5 * time.Millisecond
	w.now = func() time.Time { return t0 }
	w.progress = func(s Snapshot) { snaps <- s }
	return w, snaps
}

func start(w *waiter, ctx context.Context, timeout time.Duration) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- w.run(ctx, timeout) }()
	return errc
}

// awaitSnapshot returns the first snapshot satisfying ok, failing the test
// if the loop returns or nothing matches within a few seconds.
func awaitSnapshot(t *testing.T, snaps <-chan Snapshot, errc <-chan error, what string, ok func(Snapshot) bool) Snapshot {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case s := <-snaps:
			if ok(s) {
				return s
			}
		case err := <-errc:
			t.Fatalf("wait returned %v while expecting snapshot %s", err, what)
		case <-deadline:
			t.Fatalf("no snapshot %s", what)
		}
	}
}

func awaitResult(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not return")
		return nil
	}
}

func update[T runtime.Object](t *testing.T, f func(context.Context, T, metav1.UpdateOptions) (T, error), obj T) {
	t.Helper()
	if _, err := f(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestWaitIsDrivenByWatchEvents(t *testing.T) {
	d, _, p, objs := release(initRunning(95 * time.Second))
	client := fake.NewClientset(objs...)
	w, snaps := testWaiter(client) // poll is an hour: only watch events can finish this test
	errc := start(w, context.Background(), time.Minute)

	first := awaitSnapshot(t, snaps, errc, "initial", func(Snapshot) bool { return true })
	if want := "waiting for 2 workloads: dagster-dagit 0/1 (Init:0/1 (check-db-ready running 95s)), dagster-postgresql 1/1"; first.String() != want {
		t.Errorf("first snapshot %q, want %q", first.String(), want)
	}

	ready()(p)
	update(t, client.CoreV1().Pods(ns).Update, p)
	awaitSnapshot(t, snaps, errc, "with the pod ready", func(s Snapshot) bool {
		return s.Workloads[0].Ready == 1 && !s.Workloads[0].Done // the Deployment status still says 0 available
	})
	d.Status.ReadyReplicas, d.Status.AvailableReplicas = 1, 1
	update(t, client.AppsV1().Deployments(ns).UpdateStatus, d)

	if err := awaitResult(t, errc); err != nil {
		t.Fatalf("Wait = %v", err)
	}
}

func TestWaitFailsFastOnCrashLoopWithEventsAndPreviousLogs(t *testing.T) {
	_, _, p, objs := release(mainState(waiting("CrashLoopBackOff", "back-off 1m20s restarting failed container=dagit"), 5), lastExit(1, "Error"))
	for i, reason := range []string{"Scheduled", "Pulled", "Created", "Started", "BackOff"} {
		objs = append(objs, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("e%d", i), Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: p.Name, Namespace: ns},
			Type:           corev1.EventTypeNormal, Reason: reason, Message: reason + " message",
			// stored newest first, so sorting is observable
			LastTimestamp: ago(time.Duration(10-i) * time.Second),
		})
	}
	objs = append(objs, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "pg", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "dagster-postgresql-0", Namespace: ns},
		Reason:         "Started", LastTimestamp: ago(time.Second),
	})
	client := fake.NewClientset(objs...)
	var logOpts *corev1.PodLogOptions
	client.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		logOpts = a.(k8stesting.GenericAction).GetValue().(*corev1.PodLogOptions)
		return true, &runtime.Unknown{Raw: []byte("Traceback (most recent call last):\ndagster._core.errors.DagsterInvariantViolationError: boom\n")}, nil
	})
	w, snaps := testWaiter(client)

	err := w.run(context.Background(), time.Minute)
	var f *FailureError
	if !errors.As(err, &f) {
		t.Fatalf("Wait = %v, want *FailureError", err)
	}
	// On first sight, not at the timeout (that would be KindTimeout): one
	// look at the cluster, one snapshot.
	if n := len(snaps); n != 1 {
		t.Errorf("%d looks: a crash loop must fail on first sight", n)
	}
	if f.Kind != KindCrashLoop || f.Pod != p.Name || f.Container != "dagit" || f.Name != "dagster-dagit" {
		t.Errorf("failure = %+v", f)
	}
	if logOpts == nil || !logOpts.Previous || logOpts.TailLines == nil || *logOpts.TailLines != logTailLines || logOpts.Container != "dagit" {
		t.Errorf("log request %+v, want previous run of dagit, last %d lines", logOpts, logTailLines)
	}
	if !f.LogsPrevious || !strings.Contains(f.Logs, "DagsterInvariantViolationError: boom") {
		t.Errorf("logs = %q (previous %v)", f.Logs, f.LogsPrevious)
	}
	var reasons []string
	for _, e := range f.Events {
		if !strings.Contains(e, "pod/"+p.Name+"  ") {
			t.Errorf("event of another object: %q", e)
		}
		reasons = append(reasons, strings.Fields(e[strings.Index(e, p.Name)+len(p.Name):])[0])
	}
	if got, want := strings.Join(reasons, " "), "Scheduled: Pulled: Created: Started: BackOff:"; got != want {
		t.Errorf("event reasons in order %q, want %q", got, want)
	}
	if d := f.Details(); !strings.Contains(d, "Recent events:") || !strings.Contains(d, "container dagit, previous run:") {
		t.Errorf("Details() = %q", d)
	}
}

func TestWaitImagePullHasNoLogs(t *testing.T) {
	_, _, _, objs := release(mainState(waiting("ErrImagePull", "dial tcp: lookup registry-1.docker.io: no such host"), 0))
	client := fake.NewClientset(objs...)
	w, _ := testWaiter(client)
	err := w.run(context.Background(), time.Minute)
	var f *FailureError
	if !errors.As(err, &f) || f.Kind != KindImagePull {
		t.Fatalf("Wait = %v, want image pull failure", err)
	}
	for _, a := range client.Actions() {
		if a.GetSubresource() == "log" {
			t.Errorf("asked for logs of a container that never ran")
		}
	}
	if !strings.Contains(f.Fix(), "images: in dagster-dev.yaml") {
		t.Errorf("Fix() lacks the side-load hint: %s", f.Fix())
	}
}

// The poll fallback is what advances time-based rules when no object changes.
func TestWaitUnschedulableAfterGraceViaPollFallback(t *testing.T) {
	_, _, _, objs := release(unschedulable(10*time.Second, "0/1 nodes are available: 1 Insufficient memory."))
	client := fake.NewClientset(objs...)
	w, snaps := testWaiter(client)
	var offset atomic.Int64
	w.now = func() time.Time { return t0.Add(time.Duration(offset.Load())) }
	w.poll = 10 * time.Millisecond
	errc := start(w, context.Background(), time.Minute)

	awaitSnapshot(t, snaps, errc, "within grace", func(s Snapshot) bool {
		return strings.Contains(s.Workloads[0].State, "unschedulable for 10s")
	})
	offset.Store(int64(25 * time.Second))
	err := awaitResult(t, errc)
	var f *FailureError
	if !errors.As(err, &f) || f.Kind != KindUnschedulable || !strings.Contains(f.Hint, "more CPU/memory") {
		t.Fatalf("Wait = %v, want unschedulable failure", err)
	}
}

func TestWaitTimeoutListsWhatIsPending(t *testing.T) {
	_, _, p, objs := release(initRunning(95 * time.Second))
	objs = append(objs, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "e", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: p.Name, Namespace: ns},
		Type:           corev1.EventTypeNormal, Reason: "Started", Message: "Started container check-db-ready", LastTimestamp: ago(95 * time.Second),
	})
	client := fake.NewClientset(objs...)
	w, _ := testWaiter(client)
	err := w.run(context.Background(), 150*time.Millisecond)
	var f *FailureError
	if !errors.As(err, &f) || f.Kind != KindTimeout {
		t.Fatalf("Wait = %v, want timeout", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("timeout is not a context.DeadlineExceeded")
	}
	want := "timed out after 150ms waiting for 1 of 2 workloads in namespace dagster:\n" +
		"  dagster-dagit: 0/1 ready, pod dagster-dagit-abc-1 Init:0/1 (check-db-ready running 95s)"
	if !strings.HasPrefix(f.Error(), want) {
		t.Errorf("Error() =\n%s\nwant prefix\n%s", f.Error(), want)
	}
	if f.Pod != p.Name || f.Container != "check-db-ready" || f.LogsPrevious || f.Logs != "fake logs" {
		t.Errorf("timeout logs from %s/%s previous=%v: %q", f.Pod, f.Container, f.LogsPrevious, f.Logs)
	}
	if len(f.Events) != 1 || !strings.Contains(f.Events[0], "Started container check-db-ready") {
		t.Errorf("events = %q", f.Events)
	}
}

func TestWaitCancelledIsNotATimeout(t *testing.T) {
	_, _, _, objs := release(initRunning(time.Second))
	w, snaps := testWaiter(fake.NewClientset(objs...))
	ctx, cancel := context.WithCancel(context.Background())
	errc := start(w, ctx, time.Minute)
	awaitSnapshot(t, snaps, errc, "initial", func(Snapshot) bool { return true })
	cancel()
	err := awaitResult(t, errc)
	var f *FailureError
	if !errors.Is(err, context.Canceled) || errors.As(err, &f) {
		t.Fatalf("Wait = %#v, want context.Canceled and no FailureError", err)
	}
}

func TestWaitRetriesTransientAPIErrorsUntilTimeout(t *testing.T) {
	_, _, _, objs := release()
	client := fake.NewClientset(objs...)
	client.PrependReactor("list", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	w, _ := testWaiter(client)
	w.poll = 10 * time.Millisecond
	err := w.run(context.Background(), 100*time.Millisecond)
	var f *FailureError
	if !errors.As(err, &f) || f.Kind != KindTimeout {
		t.Fatalf("Wait = %v, want timeout", err)
	}
	want := "timed out after 100ms waiting for workloads in namespace dagster\n" +
		"  last error: reading workloads in namespace dagster: connection refused"
	if !strings.HasPrefix(f.Error(), want) {
		t.Errorf("Error() =\n%s\nwant prefix\n%s", f.Error(), want)
	}
	lists := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "list" && a.GetResource().Resource == "deployments" {
			lists++
		}
	}
	if lists < 2 {
		t.Errorf("listed deployments %d times; a transient error must be retried", lists)
	}
}

func TestWaitStopsOnForbidden(t *testing.T) {
	_, _, _, objs := release()
	client := fake.NewClientset(objs...)
	client.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "", errors.New("RBAC"))
	})
	err := Wait(context.Background(), client, ns, selector, time.Minute, nil)
	var f *FailureError
	if err == nil || errors.As(err, &f) || !apierrors.IsForbidden(err) {
		t.Fatalf("Wait = %v, want the Forbidden error at once", err)
	}
}

func TestWaitNoMatchingWorkloads(t *testing.T) {
	_, _, _, objs := release()
	err := Wait(context.Background(), fake.NewClientset(objs...), ns, kube.ReleaseSelector("other"), time.Minute, nil)
	if err == nil || !strings.Contains(err.Error(), `no Deployments, StatefulSets or DaemonSets match "app.kubernetes.io/instance=other" in namespace dagster`) {
		t.Fatalf("Wait = %v", err)
	}
}

func TestWaitPublicSucceedsOnRolledOutRelease(t *testing.T) {
	d, _, _, objs := release(ready())
	d.Status.ReadyReplicas, d.Status.AvailableReplicas = 1, 1
	var got []Snapshot
	err := Wait(context.Background(), fake.NewClientset(objs...), ns, selector, time.Minute, func(s Snapshot) { got = append(got, s) })
	if err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if len(got) != 1 || got[0].String() != "2 workloads ready" {
		t.Errorf("progress = %v", got)
	}
}

// WaitRollout after a pod template patch: the loop must not return at any
// intermediate step of a Deployment rollout, only when the old pod is gone.
func TestWaitRolloutFollowsDeploymentRollout(t *testing.T) {
	d := deployment("dagster-dagit", 1)
	d.Generation = 2 // just patched; the controller has not reacted yet
	rsOld := replicaSet(d, "old", "1")
	oldPod := newPod("dagster-dagit-old-1", ownedBy("ReplicaSet", rsOld.UID), ready())
	client := fake.NewClientset(d, rsOld, oldPod)
	w, snaps := testWaiter(client)
	w.selector, w.kind, w.name = "", "Deployment", d.Name
	errc := start(w, context.Background(), time.Minute)
	ctx := context.Background()

	state := func(sub string) func(Snapshot) bool {
		return func(s Snapshot) bool { return len(s.Workloads) == 1 && strings.Contains(s.Workloads[0].State, sub) }
	}
	awaitSnapshot(t, snaps, errc, "before the controller reacts", state("generation 2"))

	// The controller creates the new ReplicaSet and a pod.
	rsNew := replicaSet(d, "new", "2")
	newP := newPod("dagster-dagit-new-1", ownedBy("ReplicaSet", rsNew.UID), mainState(waiting("ContainerCreating", ""), 0))
	if _, err := client.AppsV1().ReplicaSets(ns).Create(ctx, rsNew, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, newP, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d.Annotations[revisionAnnotation] = "2"
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	update(t, client.AppsV1().Deployments(ns).Update, d)
	awaitSnapshot(t, snaps, errc, "new pod creating", state("ContainerCreating"))

	ready()(newP)
	update(t, client.CoreV1().Pods(ns).Update, newP)
	d.Status.ReadyReplicas, d.Status.AvailableReplicas = 2, 2
	update(t, client.AppsV1().Deployments(ns).Update, d)
	awaitSnapshot(t, snaps, errc, "old replica pending", state("1 old pods pending termination"))

	deleting()(oldPod)
	update(t, client.CoreV1().Pods(ns).Update, oldPod)
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	update(t, client.AppsV1().Deployments(ns).Update, d)
	awaitSnapshot(t, snaps, errc, "old pod terminating", state("1 old pod left"))

	if err := client.CoreV1().Pods(ns).Delete(ctx, oldPod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := awaitResult(t, errc); err != nil {
		t.Fatalf("WaitRollout = %v", err)
	}
}

func TestWaitRolloutPublic(t *testing.T) {
	_, _, _, objs := release()
	client := fake.NewClientset(objs...)
	ctx := context.Background()
	if err := WaitRollout(ctx, client, ns, "sts", "dagster-postgresql", time.Minute); err != nil {
		t.Errorf("WaitRollout(ready StatefulSet) = %v", err)
	}
	if err := WaitRollout(ctx, client, ns, "Deployment", "nope", time.Minute); err == nil || !strings.Contains(err.Error(), "Deployment nope in namespace dagster not found") {
		t.Errorf("WaitRollout(missing) = %v", err)
	}
	if err := WaitRollout(ctx, client, ns, "Job", "x", time.Minute); err == nil || !strings.Contains(err.Error(), `kind "Job"`) {
		t.Errorf("WaitRollout(Job) = %v", err)
	}
}

// pump must re-open a watch the server closed or broke, and nudge the loop
// so it re-lists what changed while no watch was open.
func TestPumpReopensClosedWatches(t *testing.T) {
	watchers := make(chan *watch.FakeWatcher, 3)
	var opened atomic.Int32
	open := func(context.Context) (watch.Interface, error) {
		opened.Add(1)
		fw := watch.NewFake()
		watchers <- fw
		return fw, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nudge := make(chan struct{}, 1)
	first, _ := open(ctx)
	go pump(ctx, open, first, nudge, time.Second)

	fw := <-watchers
	go fw.Add(&corev1.Pod{})
	expectNudge(t, nudge, "on an event")
	fw.Stop() // server closed the watch
	fw = recvWatcher(t, watchers)
	expectNudge(t, nudge, "after re-opening")
	go fw.Error(&metav1.Status{Code: 410, Reason: metav1.StatusReasonExpired})
	recvWatcher(t, watchers)
	if n := opened.Load(); n != 3 {
		t.Errorf("opened %d watches, want 3", n)
	}
}

func recvWatcher(t *testing.T, c <-chan *watch.FakeWatcher) *watch.FakeWatcher {
	t.Helper()
	select {
	case fw := <-c:
		return fw
	case <-time.After(5 * time.Second):
		t.Fatal("watch not re-opened")
		return nil
	}
}

func expectNudge(t *testing.T, nudge <-chan struct{}, when string) {
	t.Helper()
	select {
	case <-nudge:
	case <-time.After(5 * time.Second):
		t.Fatalf("no nudge %s", when)
	}
}

// WaitRecovered sees the same crash loop WaitRollout fails on and keeps
// waiting; it returns when the pod comes back Ready (the kubelet's retry
// after the cause went away), and returns the context's end otherwise.
func TestWaitRecoveredWaitsThroughAFailure(t *testing.T) {
	d, _, p, objs := release(mainState(waiting("CrashLoopBackOff", "back-off 40s restarting failed container=dagit"), 3), lastExit(1, "Error"))
	client := fake.NewClientset(objs...)
	ctx := context.Background()
	if err := WaitRollout(ctx, client, ns, "Deployment", d.Name, time.Minute); err == nil {
		t.Fatal("WaitRollout on a crash loop = nil, want its failure")
	}

	// WaitRecovered's waiter, whose snapshots say where its loop is: each
	// is a look at the cluster, and only watch events make the next one.
	recoveryWaiter := func(client *fake.Clientset, name string) (*waiter, chan Snapshot) {
		w, err := newRecoveryWaiter(client, ns, "Deployment", name)
		if err != nil {
			t.Fatal(err)
		}
		snaps := make(chan Snapshot, 100)
		w.progress = func(s Snapshot) { snaps <- s }
		w.poll = time.Hour
		w.debounce = 5 * time.Millisecond
		return w, snaps
	}
	failing := func(s Snapshot) bool { return len(s.Workloads) == 1 && s.Workloads[0].Failure != nil }
	w, snaps := recoveryWaiter(client, d.Name)
	errc := start(w, ctx, 0)
	awaitSnapshot(t, snaps, errc, "with the crash loop", failing)
	// A look after a nudge: the loop went on waiting after it saw the
	// failure (awaitSnapshot fails if it returned instead).
	update(t, client.CoreV1().Pods(ns).Update, p)
	awaitSnapshot(t, snaps, errc, "with the crash loop, after a nudge", failing)

	ready()(p)
	update(t, client.CoreV1().Pods(ns).Update, p)
	d.Status.ReadyReplicas, d.Status.AvailableReplicas = 1, 1
	update(t, client.AppsV1().Deployments(ns).Update, d)
	if err := awaitResult(t, errc); err != nil {
		t.Fatalf("WaitRecovered after the pod came back = %v", err)
	}

	// Cancelled while it waits: the context's end, not a verdict.
	bad := d.DeepCopy()
	bad.Name = "stuck"
	ctx2, cancel := context.WithCancel(ctx)
	w, snaps = recoveryWaiter(fake.NewClientset(bad), "stuck")
	errc = start(w, ctx2, 0)
	awaitSnapshot(t, snaps, errc, "of the stuck workload", func(Snapshot) bool { return true })
	cancel()
	if err := awaitResult(t, errc); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitRecovered cancelled = %v, want context.Canceled", err)
	}
	if err := WaitRecovered(ctx, fake.NewClientset(), ns, "Deployment", "gone"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("WaitRecovered(deleted workload) = %v", err)
	}
}
