package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/sources"
	"github.com/dagster-dev/dagster-dev/watch"
)

func ptr[T any](v T) *T { return &v }

func deployment(name, component string, annotated bool, envFrom ...corev1.EnvFromSource) *appsv1.Deployment {
	sel := map[string]string{kube.LabelInstance: "dagster", kube.LabelComponent: component}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "dagster", Generation: 1, Labels: sel},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: component, EnvFrom: envFrom}}},
			},
		},
	}
	if annotated {
		d.Annotations = map[string]string{kube.HelmReleaseAnnotation: "dagster"}
	}
	return d
}

func TestReleaseWorkloadsOnlyTheRelease(t *testing.T) {
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "dagster-postgresql", Namespace: "dagster", Annotations: map[string]string{kube.HelmReleaseAnnotation: "dagster"}},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{kube.LabelName: "postgresql"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{kube.LabelComponent: kube.ComponentDatabase}}},
		},
	}
	other := deployment("team-app", "web", false)
	otherRelease := deployment("staging-dagit", "dagit", false)
	otherRelease.Annotations = map[string]string{kube.HelmReleaseAnnotation: "staging"}
	worker := deployment("dagster-celery-workers", kube.ComponentWorker, true,
		corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "dagster-job-runner-env"}}},
		corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "team-secret"}}})
	k := testKube(deployment("dagster-dagit", kube.ComponentDagit, true), worker, other, otherRelease, sts)
	ws, err := k.releaseWorkloads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := workloadIDs(ws); got != "Deployment/dagster-celery-workers, Deployment/dagster-dagit, StatefulSet/dagster-postgresql" {
		t.Fatalf("workloads %s", got)
	}
	w, ok := findWorkload(ws, kube.ComponentWorker, "")
	if !ok || !w.refs["ConfigMap/dagster-job-runner-env"] || !w.refs["Secret/team-secret"] {
		t.Errorf("worker %+v", w)
	}
	if pg, ok := findWorkload(ws, kube.ComponentDatabase, "postgresql"); !ok || pg.Name != "dagster-postgresql" {
		t.Errorf("postgresql not found by component: %+v", pg)
	}
	if pg, ok := findWorkload(ws, "no-such-component", "postgresql"); !ok || pg.Name != "dagster-postgresql" {
		t.Errorf("postgresql not found by name: %+v", pg)
	}
	if _, ok := findWorkload(ws, kube.ComponentBroker, "rabbitmq"); ok {
		t.Error("found a broker that does not exist")
	}
	// No pods exist, so nothing is rolled out.
	for _, w := range ws {
		if w.status.Done {
			t.Errorf("%s is Done without pods", w.ID())
		}
	}
	// The same refs watch uses to decide what to restart.
	if !reflect.DeepEqual(w.refs, sources.TemplateRefs(&worker.Spec.Template.Spec)) {
		t.Error("refs differ from watch.TemplateRefs")
	}
}

func readyPod(name, component, ip string, created time.Time) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "dagster", UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(created),
			Labels: map[string]string{kube.LabelInstance: "dagster", kube.LabelComponent: component}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: component, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 3000}, {Name: "metrics", ContainerPort: 9000}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func TestComponentPods(t *testing.T) {
	now := time.Now()
	old := readyPod("dagster-dagit-old", kube.ComponentDagit, "10.0.0.1", now.Add(-time.Hour))
	cur := readyPod("dagster-dagit-new", kube.ComponentDagit, "10.0.0.2", now)
	terminating := readyPod("dagster-dagit-gone", kube.ComponentDagit, "10.0.0.3", now.Add(-2*time.Hour))
	terminating.DeletionTimestamp = ptr(metav1.NewTime(now))
	notReady := readyPod("dagster-dagit-starting", kube.ComponentDagit, "10.0.0.4", now)
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	worker := readyPod("dagster-celery-workers-1", kube.ComponentWorker, "10.0.0.5", now)
	k := testKube(old, cur, terminating, notReady, worker)
	pods, err := k.componentPods(context.Background(), kube.ComponentDagit)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 2 || pods[0].Name != "dagster-dagit-old" || pods[1].Name != "dagster-dagit-new" {
		t.Fatalf("pods %v", podNames(pods))
	}
}

func podNames(ps []corev1.Pod) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestParsePrintenv(t *testing.T) {
	out := "PATH=/usr/bin\nDAGSTER_HOME=/opt/dagster/dagster_home\nMULTI=line one\nline two\nEMPTY=\nEQ=a=b\n"
	got := parsePrintenv(out)
	want := map[string]string{"PATH": "/usr/bin", "DAGSTER_HOME": "/opt/dagster/dagster_home", "MULTI": "line one\nline two", "EMPTY": "", "EQ": "a=b"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsePrintenv = %#v", got)
	}
}

func TestWorkerQueues(t *testing.T) {
	c := corev1.Container{Command: []string{"dagster-celery"}, Args: []string{"worker", "start", "-A", "dagster_celery_k8s.app", "-y", "/c.yaml", "-q", "dagster", "--queue", "extra", "--queue=third", "--", "-q", "celery-arg"}}
	if got := workerQueues(c); !reflect.DeepEqual(got, []string{"dagster", "extra", "third"}) {
		t.Errorf("queues %v", got)
	}
	if got := workerQueues(corev1.Container{Args: []string{"worker", "start"}}); !reflect.DeepEqual(got, []string{"dagster"}) {
		t.Errorf("default queues %v", got)
	}
}

func TestBrokerChecks(t *testing.T) {
	var queues []struct {
		Name      string `json:"name"`
		Consumers int    `json:"consumers"`
	}
	out := "Timeout: 60.0 seconds ...\nListing queues for vhost / ...\n[\n{\"name\":\"dagster\",\"consumers\":2}\n,{\"name\":\"celeryev.x\",\"consumers\":1}\n]\n"
	if err := parseRabbitJSON(out, &queues); err != nil || len(queues) != 2 || queues[0].Consumers != 2 {
		t.Fatalf("parse: %+v, %v", queues, err)
	}
	if err := parseRabbitJSON("Error: unable to perform an operation on node", &queues); err == nil {
		t.Error("no error for output without JSON")
	}

	w1 := *readyPod("w1", kube.ComponentWorker, "10.0.0.5", time.Now())
	w2 := *readyPod("w2", kube.ComponentWorker, "10.0.0.6", time.Now())
	ok := brokerState{consumers: map[string]int{"dagster": 2}, peers: map[string]bool{"10.0.0.5": true, "10.0.0.6": true}}
	if p := brokerProblems(ok, []string{"dagster"}, []corev1.Pod{w1, w2}); len(p) != 0 {
		t.Errorf("healthy broker reported %v", p)
	}
	bad := brokerState{consumers: map[string]int{"dagster": 1}, peers: map[string]bool{"10.0.0.5": true}}
	p := brokerProblems(bad, []string{"dagster", "extra"}, []corev1.Pod{w1, w2})
	want := []string{
		`queue "dagster" has 1 consumers, want at least 2 (one per Celery worker pod)`,
		`queue "extra" does not exist in RabbitMQ (queues: dagster)`,
		`Celery worker pod w2 (10.0.0.6) has no connection to RabbitMQ`,
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("problems %q, want %q", p, want)
	}
}

func TestUnhealthyPods(t *testing.T) {
	now := time.Now()
	ready := readyPod("dagster-dagit-1", kube.ComponentDagit, "", now)
	crash := readyPod("dagster-celery-workers-1", kube.ComponentWorker, "", now.Add(-time.Minute))
	crash.Status.Conditions[0].Status = corev1.ConditionFalse
	crash.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: kube.ComponentWorker, RestartCount: 5,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
	starting := readyPod("dagster-daemon-1", kube.ComponentDaemon, "", now)
	starting.Status.Conditions[0].Status = corev1.ConditionFalse
	stepFailed := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dagster-step-abc", Labels: map[string]string{kube.LabelRunID: "r1"}}, Status: corev1.PodStatus{Phase: corev1.PodFailed}}
	stepOK := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dagster-step-def", Labels: map[string]string{kube.LabelRunID: "r1"}}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}
	users := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "team-app"}, Status: corev1.PodStatus{Phase: corev1.PodFailed}}
	got := podNames(unhealthyPods([]corev1.Pod{*ready, *starting, *crash, stepFailed, stepOK, users}, "dagster", now))
	want := []string{"dagster-celery-workers-1", "dagster-step-abc", "dagster-daemon-1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unhealthy %v, want %v", got, want)
	}
}

func TestRecentWarnings(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ev := func(name string, ago time.Duration, count int32) corev1.Event {
		return corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: name}, Reason: "BackOff", Message: "Back-off restarting\n",
			LastTimestamp: metav1.NewTime(now.Add(-ago)), Count: count}
	}
	events := []corev1.Event{ev("b", time.Minute, 3), ev("old", time.Hour, 1), ev("a", 2*time.Minute, 1)}
	got := recentWarnings(events, now)
	want := []string{"11:58:00 Pod/a BackOff: Back-off restarting", "11:59:00 Pod/b BackOff: Back-off restarting (x3)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
	var many []corev1.Event
	for i := range 40 {
		many = append(many, ev("p", time.Duration(i)*time.Second, 1))
	}
	if n := len(recentWarnings(many, now)); n != diagMaxEvents {
		t.Errorf("%d warnings, want at most %d", n, diagMaxEvents)
	}
}

func TestWaitChange(t *testing.T) {
	obj := "ConfigMap/dagster-dev-test-hot-reload"
	newEvents := func() *watchEvents {
		return &watchEvents{changes: make(chan watch.Change, 8), problems: make(chan error, 8)}
	}
	ev := newEvents()
	ev.Changed(watch.Change{Object: "ConfigMap/other", Changed: []string{envHotReload}})
	ev.Changed(watch.Change{Object: obj, Added: []string{"UNRELATED"}})
	ev.Changed(watch.Change{Object: obj, Changed: []string{envHotReload}, Restarted: []string{"Deployment/dagster-celery-workers"}})
	c, err := waitChange(context.Background(), ev, make(chan error), obj, time.Second)
	if err != nil || len(c.Restarted) != 1 {
		t.Fatalf("waitChange = %+v, %v", c, err)
	}

	ev = newEvents()
	done := make(chan error, 1)
	done <- errors.Join(errors.New("taking the lease"), watch.ErrAlreadyWatching)
	_, err = waitChange(context.Background(), ev, done, obj, time.Second)
	var skip *skipError
	if !errors.As(err, &skip) {
		t.Errorf("another watch running: err = %v, want a skip", err)
	}

	ev = newEvents()
	ev.Problem(errors.New("hot-reload.env:1: expected KEY=VALUE"))
	_, err = waitChange(context.Background(), ev, make(chan error), obj, 30*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "did not report") || !strings.Contains(err.Error(), "expected KEY=VALUE") {
		t.Errorf("timeout: err = %v", err)
	}
}

func TestServerInfo(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/server_info" {
			http.NotFound(w, r)
			return
		}
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Write([]byte("<html>nginx</html>"))
		default:
			w.Write([]byte(`{"dagster_webserver_version":"1.13.27","dagster_version":"1.13.27","dagster_graphql_version":"1.13.27"}`))
		}
	}))
	defer srv.Close()
	c := &dagit.Client{URL: func(context.Context) (string, error) { return srv.URL, nil }, HTTP: srv.Client()}
	info, err := waitServerInfo(context.Background(), c, Poll{Interval: time.Millisecond, Timeout: 2 * time.Second})
	if err != nil || info.DagsterVersion != "1.13.27" || calls.Load() != 3 {
		t.Fatalf("info %+v, %v after %d calls", info, err, calls.Load())
	}

	wrong := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"status":"ok"}`)) }))
	defer wrong.Close()
	_, err = waitServerInfo(context.Background(), &dagit.Client{BaseURL: wrong.URL, HTTP: wrong.Client()}, Poll{Interval: time.Millisecond, Timeout: 30 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "within 30ms") || !strings.Contains(err.Error(), "no dagster_version") {
		t.Errorf("a non-Dagit JSON answer: err = %v", err)
	}

	// The caller giving up is no timeout message.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := waitServerInfo(ctx, &dagit.Client{BaseURL: wrong.URL, HTTP: wrong.Client()}, Poll{Interval: time.Millisecond, Timeout: time.Hour}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}

func TestParsePeerHost(t *testing.T) {
	for raw, want := range map[string]string{
		`[0,0,0,0,0,65535,2804,37]`: "10.244.0.37", // seen on kind: IPv4-mapped on a dual-stack listener
		`[10,244,0,5]`:              "10.244.0.5",
		`[64768,0,0,0,0,0,0,1]`:     "fd00::1",
		`"10.244.0.6"`:              "10.244.0.6",
		`"::ffff:10.244.0.7"`:       "10.244.0.7",
	} {
		got, err := parsePeerHost(json.RawMessage(raw))
		if err != nil || got != want {
			t.Errorf("parsePeerHost(%s) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, bad := range []string{`[1,2,3]`, `{"a":1}`} {
		if _, err := parsePeerHost(json.RawMessage(bad)); err == nil {
			t.Errorf("parsePeerHost(%s): no error", bad)
		}
	}
}
