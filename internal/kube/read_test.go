package kube

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func ptrTo[T any](v T) *T { return &v }

// meta is an object of release rel ("" = not Helm's) labelled for it.
func meta(name, rel string, labels map[string]string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: name, Namespace: "dagster", Labels: labels}
	if rel != "" {
		m.Annotations = map[string]string{HelmReleaseAnnotation: rel}
	}
	return m
}

func workloadFixtures() []runtime.Object {
	ours := map[string]string{LabelInstance: "dagster"}
	return []runtime.Object{
		&appsv1.Deployment{ObjectMeta: meta("dagster-dagit", "dagster", ours),
			Spec:   appsv1.DeploymentSpec{Replicas: ptrTo(int32(2))},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 1}},
		// A subchart's object without the instance label: only Helm's
		// annotation says it belongs to the release.
		&appsv1.StatefulSet{ObjectMeta: meta("dagster-postgresql", "dagster", map[string]string{LabelName: "postgresql"}),
			Status: appsv1.StatefulSetStatus{ReadyReplicas: 1}},
		&appsv1.DaemonSet{ObjectMeta: meta("dagster-agent", "dagster", ours),
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, NumberReady: 2}},
		&appsv1.Deployment{ObjectMeta: meta("staging-dagit", "staging", map[string]string{LabelInstance: "staging"})},
		&appsv1.Deployment{ObjectMeta: meta("team-app", "", nil)},
		// Another namespace.
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "dagster-dagit", Namespace: "other", Labels: ours,
			Annotations: map[string]string{HelmReleaseAnnotation: "dagster"}}},
	}
}

func names(ws *Workloads) string {
	var out []string
	for _, w := range ws.All() {
		out = append(out, w.Kind+"/"+w.Meta.Name)
	}
	return strings.Join(out, ",")
}

func TestListWorkloads(t *testing.T) {
	client := fake.NewClientset(workloadFixtures()...)
	ctx := context.Background()

	ws, err := ListWorkloads(ctx, client, "dagster", ReleaseSelector("dagster"))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ws); got != "Deployment/dagster-dagit,DaemonSet/dagster-agent" {
		t.Errorf("by label: %s", got)
	}
	all, err := ListWorkloads(ctx, client, "dagster", "")
	if err != nil || all.Len() != 5 {
		t.Errorf("everything in the namespace: %d, %v", all.Len(), err)
	}

	rel, err := ReleaseWorkloads(ctx, client, "dagster", "dagster")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(rel); got != "Deployment/dagster-dagit,StatefulSet/dagster-postgresql,DaemonSet/dagster-agent" {
		t.Errorf("by Helm's annotation: %s", got)
	}
	type counts struct{ Desired, Ready int32 }
	var got []counts
	for _, w := range rel.All() {
		got = append(got, counts{w.Desired, w.Ready})
		if w.Template == nil || w.Object == nil || w.Object.GetName() != w.Meta.Name {
			t.Errorf("%s/%s: incomplete %+v", w.Kind, w.Meta.Name, w)
		}
	}
	// spec.replicas 2; unset (the API's default, 1); a DaemonSet's nodes.
	if want := []counts{{2, 1}, {1, 1}, {3, 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("desired/ready %v, want %v", got, want)
	}
	if _, ok := rel.All()[0].Object.(*appsv1.Deployment); !ok {
		t.Errorf("Object is %T, want *appsv1.Deployment", rel.All()[0].Object)
	}
}

func TestGetWorkload(t *testing.T) {
	client := fake.NewClientset(workloadFixtures()...)
	ctx := context.Background()
	ws, err := GetWorkload(ctx, client, "dagster", KindStatefulSet, "dagster-postgresql")
	if err != nil || names(ws) != "StatefulSet/dagster-postgresql" {
		t.Fatalf("got %v, %v", ws, err)
	}
	if _, err := GetWorkload(ctx, client, "dagster", KindDeployment, "nope"); !apierrors.IsNotFound(err) {
		t.Errorf("missing workload: %v, want the API's NotFound", err)
	}
	if _, err := GetWorkload(ctx, client, "dagster", "Pod", "x"); err == nil {
		t.Error("a Pod is not a workload")
	}
}

// List errors come back as the API's, so callers can classify them.
func TestListWorkloadsKeepsAPIErrors(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("list", "statefulsets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "statefulsets"}, "", nil)
	})
	if _, err := ListWorkloads(context.Background(), client, "dagster", ""); !apierrors.IsForbidden(err) {
		t.Errorf("err = %v, want Forbidden", err)
	}
}

func TestPodsAndReplicaSets(t *testing.T) {
	client := fake.NewClientset(
		&corev1.Pod{ObjectMeta: meta("run-1", "", map[string]string{LabelRunID: "r1"})},
		&corev1.Pod{ObjectMeta: meta("dagit-1", "", map[string]string{LabelInstance: "dagster"})},
		&appsv1.ReplicaSet{ObjectMeta: meta("dagster-dagit-7d9f", "", nil)},
	)
	ctx := context.Background()
	pods, err := ListPods(ctx, client, "dagster", RunSelector("r1"))
	if err != nil || len(pods) != 1 || pods[0].Name != "run-1" {
		t.Errorf("run pods %v, %v", pods, err)
	}
	if pods, _ := ListPods(ctx, client, "dagster", ""); len(pods) != 2 {
		t.Errorf("all pods: %d", len(pods))
	}
	if rss, err := ListReplicaSets(ctx, client, "dagster", ""); err != nil || len(rss) != 1 {
		t.Errorf("ReplicaSets %v, %v", rss, err)
	}
}

func TestEvents(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ev := func(name, typ, kind, obj, uid string, at time.Time) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "dagster"}, Type: typ,
			InvolvedObject: corev1.ObjectReference{Kind: kind, Name: obj, UID: types.UID(uid)}, LastTimestamp: metav1.NewTime(at)}
	}
	client := fake.NewClientset(
		ev("e1", corev1.EventTypeWarning, "Pod", "db-0", "old", t0),
		ev("e2", corev1.EventTypeNormal, "Pod", "db-0", "new", t0.Add(time.Minute)),
		ev("e3", corev1.EventTypeWarning, "Pod", "db-0", "", t0.Add(-time.Minute)),
		ev("e4", corev1.EventTypeWarning, "Deployment", "db-0", "", t0),
	)
	ctx := context.Background()
	all, err := ListEvents(ctx, client, "dagster", "")
	if err != nil || len(all) != 4 {
		t.Fatalf("all events: %d, %v", len(all), err)
	}
	warnings, err := ListEvents(ctx, client, "dagster", corev1.EventTypeWarning)
	if err != nil || len(warnings) != 3 {
		t.Fatalf("warnings: %d, %v", len(warnings), err)
	}

	// The pod db-0 with UID "new": not the earlier pod of the same name,
	// not the Deployment; an event without a UID counts.
	mine := EventsFor(all, "Pod", "db-0", "new")
	SortEvents(mine)
	var got []string
	for _, e := range mine {
		got = append(got, e.Name)
	}
	if want := []string{"e3", "e2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("events of the pod %v, want %v (oldest first)", got, want)
	}
	if n := len(EventsFor(all, "Pod", "db-0", "")); n != 3 {
		t.Errorf("without a UID every event of the name counts: %d", n)
	}
}

func TestEventTimeAndCount(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		ev   corev1.Event
		want time.Time
		n    int32
	}{
		{"series", corev1.Event{Series: &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(t0)}, LastTimestamp: metav1.NewTime(t0.Add(-time.Hour)), Count: 2}, t0, 7},
		{"core/v1", corev1.Event{LastTimestamp: metav1.NewTime(t0), FirstTimestamp: metav1.NewTime(t0.Add(-time.Hour)), Count: 3}, t0, 3},
		{"events.k8s.io", corev1.Event{EventTime: metav1.NewMicroTime(t0)}, t0, 1},
		{"first only", corev1.Event{FirstTimestamp: metav1.NewTime(t0)}, t0, 1},
		{"created", corev1.Event{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(t0)}}, t0, 1},
	} {
		if got := EventTime(&tc.ev); !got.Equal(tc.want) {
			t.Errorf("%s: EventTime %v, want %v", tc.name, got, tc.want)
		}
		if got := EventCount(&tc.ev); got != tc.n {
			t.Errorf("%s: EventCount %d, want %d", tc.name, got, tc.n)
		}
	}
}
