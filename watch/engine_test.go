package watch

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/sources"
)

const ns = "dagster"

// recorder is a Reporter that keeps everything for assertions.
type recorder struct {
	mu       sync.Mutex
	infos    []string
	problems []string
	changes  []Change
	reloads  []Reload
}

func (r *recorder) Info(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.infos = append(r.infos, msg)
}

func (r *recorder) Problem(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, err.Error())
}

func (r *recorder) Changed(c Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
}

func (r *recorder) Reloaded(rl Reload) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reloads = append(r.reloads, rl)
}

func (r *recorder) reloadList() []Reload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reloads)
}

func (r *recorder) snapshot() (infos, problems []string, changes []Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.infos), slices.Clone(r.problems), slices.Clone(r.changes)
}

// everything is all the text the reporter received, for leak checks.
func (r *recorder) everything() string {
	infos, problems, changes := r.snapshot()
	var b strings.Builder
	for _, s := range append(infos, problems...) {
		b.WriteString(s + "\n")
	}
	for _, c := range changes {
		b.WriteString(c.Summary() + "\n")
		fmt.Fprintf(&b, "%+v\n", c)
	}
	return b.String()
}

// waiter is a RolloutWaiter that records what it was asked to wait for.
type waiter struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (w *waiter) wait(ctx context.Context, _ kubernetes.Interface, _, kind, name string, _ time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, kind+"/"+name)
	return w.err
}

func (w *waiter) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.calls
	w.calls = nil
	sort.Strings(out)
	return out
}

func envFromCM(name string) corev1.EnvFromSource {
	return corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}
}

func deployment(name string, spec corev1.PodSpec) *appsv1.Deployment {
	if len(spec.Containers) == 0 {
		spec.Containers = []corev1.Container{{Name: "c", Image: "i"}}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: spec}},
	}
}

// cluster is a fake cluster with four workloads:
//
//	dagit:   envFrom ConfigMap team
//	worker:  env valueFrom Secret creds
//	db:      StatefulSet, projected volume of ConfigMap team
//	other:   reads nothing watched
func cluster(extra ...runtime.Object) *fake.Clientset {
	objs := []runtime.Object{
		deployment("dagit", corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i", EnvFrom: []corev1.EnvFromSource{envFromCM("team")}}}}),
		deployment("worker", corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i", Env: []corev1.EnvVar{{Name: "T", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "TOKEN"}}}}}}}),
		&appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
			Spec: appsv1.StatefulSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "c", Image: "i"}},
				Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "team"}}}},
				}}}},
			}}},
		},
		deployment("other", corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i", EnvFrom: []corev1.EnvFromSource{envFromCM("not-watched")}}}}),
	}
	return fake.NewClientset(append(objs, extra...)...)
}

// project writes a config with a ConfigMap source (dotenv) and a Secret
// source (manifest) into a temp dir.
func project(t *testing.T) *config.Config {
	t.Helper()
	cfg := testConfig(t)
	cfg.Timeout = config.Duration{Duration: time.Minute}
	cfg.Watch.Debounce = config.Duration{Duration: 30 * time.Millisecond}
	cfg.Watch.Sources = []config.Source{
		{Name: "team", Kind: config.KindConfigMap, Path: "team.env", Format: config.FormatAuto, Attach: []string{config.TargetDagit}},
		{Name: "creds", Kind: config.KindSecret, Path: "creds.yaml", Format: config.FormatAuto, Attach: []string{config.TargetJobRunner}},
	}
	write(t, cfg.Dir, "team.env", "LOG_LEVEL=info\nREGION=eu\n")
	write(t, cfg.Dir, "creds.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData:\n  TOKEN: hunter2-original\n")
	return cfg
}

func templateHash(t *testing.T, c kubernetes.Interface, kind, name string) string {
	t.Helper()
	ctx := context.Background()
	switch kind {
	case "Deployment":
		d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Annotations[sources.HashAnnotation]
	default:
		s, err := c.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Spec.Template.Annotations[sources.HashAnnotation]
	}
}

func configMapData(t *testing.T, c kubernetes.Interface, name string) map[string]string {
	t.Helper()
	cm, err := c.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data
}

// writes counts the API calls that write ConfigMaps, Secrets or workloads.
func writes(c *fake.Clientset) []string {
	var out []string
	for _, a := range c.Actions() {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			if r := a.GetResource().Resource; r != "leases" {
				out = append(out, a.GetVerb()+" "+r)
			}
		}
	}
	return out
}

func TestSyncAppliesAndRestartsExactlyTheReaders(t *testing.T) {
	cfg := project(t)
	client := cluster()
	rec := &recorder{}
	w := &waiter{}
	opts := Options{Config: cfg, Client: client, Reporter: rec, WaitRollout: w.wait}
	if err := Sync(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if got := configMapData(t, client, "team"); !reflect.DeepEqual(got, map[string]string{"LOG_LEVEL": "info", "REGION": "eu"}) {
		t.Errorf("ConfigMap data %v", got)
	}
	sec, err := client.CoreV1().Secrets(ns).Get(context.Background(), "creds", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(sec.Data["TOKEN"]) != "hunter2-original" || sec.Type != corev1.SecretTypeOpaque {
		t.Errorf("Secret %v %s", sec.Data, sec.Type)
	}
	if sec.Annotations[sources.SourceAnnotation] != "creds.yaml" || sec.Labels["app.kubernetes.io/managed-by"] != "dagster-dev" {
		t.Errorf("metadata %v %v", sec.Annotations, sec.Labels)
	}
	// Created objects restart their readers (a pod that started without an
	// optional object must pick it up), and only those.
	if got := w.take(); !reflect.DeepEqual(got, []string{"Deployment/dagit", "Deployment/worker", "StatefulSet/db"}) {
		t.Errorf("waited for %v", got)
	}
	if templateHash(t, client, "Deployment", "other") != "" {
		t.Error("an unrelated workload was patched")
	}
	dagitHash := templateHash(t, client, "Deployment", "dagit")
	workerHash := templateHash(t, client, "Deployment", "worker")

	// Same files again (a fresh engine, as after a restart of watch): the
	// live objects match, so nothing is written and nothing restarts.
	client.ClearActions()
	if err := Sync(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if got := writes(client); len(got) != 0 {
		t.Errorf("unchanged content caused writes: %v", got)
	}
	if got := w.take(); len(got) != 0 {
		t.Errorf("unchanged content restarted %v", got)
	}

	// Change the ConfigMap only: dagit and db restart, worker does not.
	write(t, cfg.Dir, "team.env", "LOG_LEVEL=debug\nNEW=1\n")
	client.ClearActions()
	if err := Sync(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if got := w.take(); !reflect.DeepEqual(got, []string{"Deployment/dagit", "StatefulSet/db"}) {
		t.Errorf("waited for %v", got)
	}
	if templateHash(t, client, "Deployment", "dagit") == dagitHash {
		t.Error("dagit not restarted")
	}
	if templateHash(t, client, "Deployment", "worker") != workerHash {
		t.Error("worker restarted for a ConfigMap it does not read")
	}
	if got := configMapData(t, client, "team"); !reflect.DeepEqual(got, map[string]string{"LOG_LEVEL": "debug", "NEW": "1"}) {
		t.Errorf("ConfigMap data %v (removed keys must go)", got)
	}
	_, problems, changes := rec.snapshot()
	if len(problems) != 0 {
		t.Errorf("problems: %v", problems)
	}
	last := changes[len(changes)-1]
	if last.Object != "ConfigMap/team" || !reflect.DeepEqual(last.Added, []string{"NEW"}) ||
		!reflect.DeepEqual(last.Changed, []string{"LOG_LEVEL"}) || !reflect.DeepEqual(last.Removed, []string{"REGION"}) ||
		!reflect.DeepEqual(last.Restarted, []string{"Deployment/dagit", "StatefulSet/db"}) || last.JobPods {
		t.Errorf("change %+v", last)
	}
	if strings.Contains(rec.everything(), "hunter2") {
		t.Error("a Secret value reached the reporter")
	}
}

func TestSyncSecretChangeSaysJobPodsNeedNoRestart(t *testing.T) {
	cfg := project(t)
	client := cluster()
	rec := &recorder{}
	w := &waiter{}
	opts := Options{Config: cfg, Client: client, Reporter: rec, WaitRollout: w.wait}
	if err := Sync(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	w.take()
	write(t, cfg.Dir, "creds.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData:\n  TOKEN: hunter2-rotated\n")
	if err := Sync(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if got := w.take(); !reflect.DeepEqual(got, []string{"Deployment/worker"}) {
		t.Errorf("waited for %v", got)
	}
	_, _, changes := rec.snapshot()
	last := changes[len(changes)-1]
	if !last.JobPods || !strings.Contains(last.Summary(), "job pods read the new values on their next run") {
		t.Errorf("summary %q", last.Summary())
	}
	if !reflect.DeepEqual(last.Changed, []string{"TOKEN"}) {
		t.Errorf("%+v", last)
	}
	if s := rec.everything(); strings.Contains(s, "hunter2") {
		t.Errorf("a Secret value reached the reporter:\n%s", s)
	}
}

// Keys written by another field manager (kubectl create) are not removed by
// server-side apply; watch removes them so the object equals the file.
func TestSyncRemovesKeysOwnedByOthers(t *testing.T) {
	cfg := project(t)
	client := cluster(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "team", Namespace: ns}, Data: map[string]string{"LOG_LEVEL": "x", "STALE": "y"}})
	if err := Sync(context.Background(), Options{Config: cfg, Client: client, WaitRollout: (&waiter{}).wait}); err != nil {
		t.Fatal(err)
	}
	if got := configMapData(t, client, "team"); !reflect.DeepEqual(got, map[string]string{"LOG_LEVEL": "info", "REGION": "eu"}) {
		t.Errorf("data %v", got)
	}
}

func TestSyncBadInputAppliesNothingOfIt(t *testing.T) {
	cfg := project(t)
	client := cluster()
	rec := &recorder{}
	opts := Options{Config: cfg, Client: client, Reporter: rec, WaitRollout: (&waiter{}).wait}
	if err := Sync(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	write(t, cfg.Dir, "team.env", "LOG_LEVEL=changed\nthis line is broken\n")
	client.ClearActions()
	err := Sync(context.Background(), opts)
	if !errors.Is(err, ErrProblems) {
		t.Fatalf("got %v, want ErrProblems", err)
	}
	if got := writes(client); len(got) != 0 {
		t.Errorf("bad input caused writes: %v", got)
	}
	if got := configMapData(t, client, "team"); got["LOG_LEVEL"] != "info" {
		t.Errorf("last good state lost: %v", got)
	}
	_, problems, _ := rec.snapshot()
	if len(problems) != 1 || !strings.Contains(problems[0], "team.env:2: expected KEY=VALUE") || !strings.Contains(problems[0], "nothing applied") {
		t.Errorf("problems %v", problems)
	}
}
