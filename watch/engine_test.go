package watch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/values"
	"github.com/dagster-dev/dagster-dev/sources"
)

const ns = "dagster"

// recorder is a Reporter that keeps everything for assertions.
type recorder struct {
	mu       sync.Mutex
	infos    []string
	problems []string
	changes  []Change
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

// fakeRelease is a Release whose upgrade changes the pod template of the
// workloads whose env it touches, like the chart's checksum annotations.
type fakeRelease struct {
	mu        sync.Mutex
	client    kubernetes.Interface
	installed bool
	vals      map[string]any
	upgrades  int
	err       error
}

func (f *fakeRelease) Name() string { return "dagster" }

func (f *fakeRelease) Values(context.Context) (map[string]any, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.installed {
		return nil, false, nil
	}
	v, _ := canonical(f.vals)
	return v, true, nil
}

func (f *fakeRelease) Upgrade(ctx context.Context, vals map[string]any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.upgrades++
	oldDagit := fmt.Sprint(dig(f.vals, "dagit", "env"))
	f.vals = vals
	if fmt.Sprint(dig(vals, "dagit", "env")) != oldDagit {
		d, err := f.client.AppsV1().Deployments(ns).Get(ctx, "dagit", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Spec.Template.Annotations == nil {
			d.Spec.Template.Annotations = map[string]string{}
		}
		d.Spec.Template.Annotations["checksum/dagit-env"] = oldDagit + "+"
		_, err = f.client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	}
	return nil
}

func dig(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func valuesProject(t *testing.T) *config.Config {
	cfg := project(t)
	cfg.ValuesFiles = []string{"values.yaml"}
	cfg.Watch.Env.Dagit = ".env.dagit"
	write(t, cfg.Dir, "values.yaml", "image: {tag: \"1\"}\ndagit: {env: {FROM_VALUES: v}}\n")
	write(t, cfg.Dir, ".env.dagit", "MODE=dev\n")
	return cfg
}

func TestSyncValuesUpgradesOnlyOnChange(t *testing.T) {
	cfg := valuesProject(t)
	client := cluster()
	vals, err := values.For(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rel := &fakeRelease{client: client, installed: true, vals: vals}
	rec := &recorder{}
	w := &waiter{}
	opts := Options{Config: cfg, Client: client, Release: rel, Reporter: rec, WaitRollout: w.wait}
	if err := Sync(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if rel.upgrades != 0 {
		t.Fatalf("the release already has these values, yet %d upgrades", rel.upgrades)
	}
	w.take()

	write(t, cfg.Dir, ".env.dagit", "MODE=prod\nEXTRA=1\n")
	if err := Sync(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if rel.upgrades != 1 {
		t.Fatalf("upgrades %d", rel.upgrades)
	}
	if got := dig(rel.vals, "dagit", "env"); !reflect.DeepEqual(got, map[string]any{"FROM_VALUES": "v", "MODE": "prod", "EXTRA": "1"}) {
		t.Errorf("upgraded with dagit.env %v", got)
	}
	if got := w.take(); !reflect.DeepEqual(got, []string{"Deployment/dagit"}) {
		t.Errorf("waited for %v, want exactly the workload the upgrade changed", got)
	}
	_, problems, changes := rec.snapshot()
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	last := changes[len(changes)-1]
	if last.Object != "release dagster" || !reflect.DeepEqual(last.Added, []string{"dagit.env.EXTRA"}) ||
		!reflect.DeepEqual(last.Changed, []string{"dagit.env.MODE"}) || last.JobPods {
		t.Errorf("change %+v", last)
	}

	// A non-env value: an upgrade that restarts nothing here.
	write(t, cfg.Dir, "values.yaml", "image: {tag: \"2\"}\ndagit: {env: {FROM_VALUES: v}}\n")
	if err := Sync(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	_, _, changes = rec.snapshot()
	last = changes[len(changes)-1]
	if rel.upgrades != 2 || !reflect.DeepEqual(last.Changed, []string{"image.tag"}) {
		t.Errorf("upgrades %d, change %+v", rel.upgrades, last)
	}

	// Broken values: no upgrade, the error names the file and line.
	write(t, cfg.Dir, "values.yaml", "image: {tag: [\n")
	if err := Sync(context.Background(), opts); !errors.Is(err, ErrProblems) {
		t.Fatalf("got %v", err)
	}
	_, problems, _ = rec.snapshot()
	if rel.upgrades != 2 || len(problems) != 1 || !strings.Contains(problems[0], "values.yaml:2: invalid YAML") {
		t.Errorf("upgrades %d problems %v", rel.upgrades, problems)
	}
}

func TestSyncValuesWaitsForAnInstall(t *testing.T) {
	cfg := valuesProject(t)
	client := cluster()
	rel := &fakeRelease{client: client}
	rec := &recorder{}
	if err := Sync(context.Background(), Options{Config: cfg, Client: client, Release: rel, Reporter: rec, WaitRollout: (&waiter{}).wait}); err != nil {
		t.Fatal(err)
	}
	infos, _, _ := rec.snapshot()
	if rel.upgrades != 0 || !slices.ContainsFunc(infos, func(s string) bool { return strings.Contains(s, "is not installed") }) {
		t.Errorf("upgrades %d infos %v", rel.upgrades, infos)
	}
}

func TestValuesDiff(t *testing.T) {
	old := map[string]any{"a": map[string]any{"b": 1.0, "c": "x", "gone": true}, "list": []any{1.0}}
	cur := map[string]any{"a": map[string]any{"b": 2.0, "c": "x", "new": map[string]any{"d": 1.0}}, "list": []any{1.0, 2.0}}
	added, removed, changed := valuesDiff(old, cur)
	if !reflect.DeepEqual(added, []string{"a.new"}) || !reflect.DeepEqual(removed, []string{"a.gone"}) || !reflect.DeepEqual(changed, []string{"a.b", "list"}) {
		t.Errorf("added %v removed %v changed %v", added, removed, changed)
	}
}

func TestBackoff(t *testing.T) {
	var b backoff
	var got []time.Duration
	for i := 0; i < 8; i++ {
		got = append(got, b.step())
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 15 * time.Second, 15 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%v", got)
	}
	b.reset()
	if b.step() != 500*time.Millisecond {
		t.Error("reset")
	}
}

func TestChangeSummary(t *testing.T) {
	c := Change{Files: []string{"team.env"}, Object: "ConfigMap/team", Added: []string{"NEW"}, Changed: []string{"A"}, Removed: []string{"OLD"},
		Restarted: []string{"Deployment/dagit"}, Applied: 85 * time.Millisecond, Ready: 4213 * time.Millisecond, JobPods: true}
	want := "team.env → ConfigMap/team: +NEW ~A -OLD; restarted Deployment/dagit, Ready 4.21s after save (applied 85ms after save); job pods read the new values on their next run"
	if got := c.Summary(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	c = Change{Files: []string{"s.env"}, Object: "Secret/s", Created: true, Added: []string{"A"}, Applied: time.Millisecond}
	if got := c.Summary(); got != "s.env → Secret/s: created with +A; no running workload reads it (applied 1ms after save)" {
		t.Errorf("got %s", got)
	}
	c = Change{Files: []string{"s.env"}, Object: "Secret/s", Restarted: []string{"Deployment/x"}, RolloutErr: errors.New("CrashLoop")}
	if got := c.Summary(); !strings.HasSuffix(got, "ROLLOUT FAILED: CrashLoop") || strings.Contains(got, "Ready") {
		t.Errorf("got %s", got)
	}
	var many []string
	for i := 0; i < 20; i++ {
		many = append(many, fmt.Sprintf("K%02d", i))
	}
	if got := keyList(many, nil, nil); !strings.HasSuffix(got, "+K11 (+8 more)") {
		t.Errorf("got %s", got)
	}
}

func TestTextReporter(t *testing.T) {
	var b strings.Builder
	r := NewTextReporter(&b).(*textReporter)
	r.now = func() time.Time { return time.Date(2026, 1, 1, 9, 5, 7, 0, time.UTC) }
	r.Info("watching")
	r.Problem(errors.New("a.env:2: bad"))
	want := "09:05:07 watching\n09:05:07 error: a.env:2: bad\n"
	if b.String() != want {
		t.Errorf("%q", b.String())
	}
}

// unreachable makes the first n writes of ConfigMaps fail like a dead API
// server, then lets them through.
func unreachable(c *fake.Clientset, n int) *int {
	calls := new(int)
	var mu sync.Mutex
	c.PrependReactor("patch", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		*calls++
		if *calls <= n {
			return true, nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		}
		return false, nil, nil
	})
	return calls
}

func TestSyncRetriesWhileTheAPIServerIsUnreachable(t *testing.T) {
	cfg := project(t)
	client := cluster()
	calls := unreachable(client, 2)
	rec := &recorder{}
	start := time.Now()
	if err := Sync(context.Background(), Options{Config: cfg, Client: client, Reporter: rec, WaitRollout: (&waiter{}).wait}); err != nil {
		t.Fatal(err)
	}
	if *calls < 3 {
		t.Errorf("%d calls", *calls)
	}
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Errorf("retried too fast (%s): backoff is 0.5 s then 1 s", took)
	}
	infos, _, _ := rec.snapshot()
	n := 0
	for _, s := range infos {
		if strings.Contains(s, "API server unreachable") && strings.Contains(s, "retrying in") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("want two retry messages, got %v", infos)
	}
	if got := configMapData(t, client, "team"); got["LOG_LEVEL"] != "info" {
		t.Errorf("not applied after recovery: %v", got)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunWatchesRecoversAndStops(t *testing.T) {
	cfg := project(t)
	client := cluster(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	rec := &recorder{}
	w := &waiter{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, Client: client, Reporter: rec, WaitRollout: w.wait, Identity: "first"})
	}()
	cmData := func() map[string]string {
		cm, err := client.CoreV1().ConfigMaps(ns).Get(context.Background(), "team", metav1.GetOptions{})
		if err != nil {
			return nil
		}
		return cm.Data
	}
	waitUntil(t, "the initial sync", func() bool { return cmData()["LOG_LEVEL"] == "info" })

	// A second watch on the same environment is refused.
	err := Run(context.Background(), Options{Config: cfg, Client: client, Identity: "second"})
	if !errors.Is(err, ErrAlreadyWatching) || !strings.Contains(err.Error(), "held by first") {
		t.Fatalf("second watch: %v", err)
	}

	// An edit is applied.
	write(t, cfg.Dir, "team.env", "LOG_LEVEL=debug\n")
	waitUntil(t, "the edit", func() bool { return cmData()["LOG_LEVEL"] == "debug" })

	// A bad edit is reported and applies nothing; the fix recovers.
	write(t, cfg.Dir, "team.env", "LOG_LEVEL=broken\n1BAD=x\n")
	waitUntil(t, "the problem report", func() bool { _, p, _ := rec.snapshot(); return len(p) == 1 })
	if cmData()["LOG_LEVEL"] != "debug" {
		t.Fatal("bad input was applied")
	}
	_, problems, _ := rec.snapshot()
	if !strings.Contains(problems[0], "team.env:2: invalid variable name") {
		t.Errorf("problem %q", problems[0])
	}
	write(t, cfg.Dir, "team.env", "LOG_LEVEL=fixed\n")
	waitUntil(t, "the fix", func() bool { return cmData()["LOG_LEVEL"] == "fixed" })
	infos, _, _ := rec.snapshot()
	if !slices.ContainsFunc(infos, func(s string) bool { return strings.HasSuffix(s, "team.env: fixed") }) {
		t.Errorf("no recovery message in %v", infos)
	}

	// Deleting the source keeps the object.
	if err := os.Remove(filepath.Join(cfg.Dir, "team.env")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the deletion report", func() bool { _, p, _ := rec.snapshot(); return len(p) == 2 })
	if cmData()["LOG_LEVEL"] != "fixed" {
		t.Fatal("deleting the file changed the object")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop on cancel")
	}
	if _, err := client.CoordinationV1().Leases(ns).Get(context.Background(), LeaseName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("lease not released: %v", err)
	}
}

func TestRunCoalescesABurst(t *testing.T) {
	cfg := project(t)
	// As in TestBurstCoalesces: a quiet period a loaded machine does not
	// stall for inside a tight write loop.
	cfg.Watch.Debounce = config.Duration{Duration: 100 * time.Millisecond}
	client := cluster(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{Config: cfg, Client: client, WaitRollout: (&waiter{}).wait}) }()
	waitUntil(t, "the initial sync", func() bool {
		cm, err := client.CoreV1().ConfigMaps(ns).Get(context.Background(), "team", metav1.GetOptions{})
		return err == nil && cm.Data["LOG_LEVEL"] == "info"
	})
	countApplies := func() int {
		n := 0
		for _, a := range client.Actions() {
			if p, ok := a.(k8stesting.PatchAction); ok && a.GetResource().Resource == "configmaps" && string(p.GetPatchType()) == "application/apply-patch+yaml" {
				n++
			}
		}
		return n
	}
	before := countApplies()
	for i := 0; i < 200; i++ {
		write(t, cfg.Dir, "team.env", fmt.Sprintf("LOG_LEVEL=v%d\n", i))
	}
	waitUntil(t, "the final content", func() bool {
		cm, _ := client.CoreV1().ConfigMaps(ns).Get(context.Background(), "team", metav1.GetOptions{})
		return cm.Data["LOG_LEVEL"] == "v199"
	})
	time.Sleep(200 * time.Millisecond)
	if n := countApplies() - before; n < 1 || n > 2 {
		t.Errorf("a 200-write burst gave %d applies, want 1 or 2", n)
	}
	cancel()
	<-done
}

func TestLease(t *testing.T) {
	client := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a := &lease{client: client, namespace: ns, identity: "a", now: clock}
	b := &lease{client: client, namespace: ns, identity: "b", now: clock}
	if err := a.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.acquire(ctx); err != nil {
		t.Fatalf("re-acquiring an own lease: %v", err)
	}
	if err := b.acquire(ctx); !errors.Is(err, ErrAlreadyWatching) {
		t.Fatalf("b acquired a held lease: %v", err)
	}
	now = now.Add(10 * time.Second)
	if err := a.renew(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(14 * time.Second) // 14 s after the renewal: still held
	if err := b.acquire(ctx); !errors.Is(err, ErrAlreadyWatching) {
		t.Fatalf("b took a lease renewed 14 s ago: %v", err)
	}
	now = now.Add(2 * time.Second) // 16 s: a crashed watch's lease expired
	if err := b.acquire(ctx); err != nil {
		t.Fatalf("b could not take an expired lease: %v", err)
	}
	if err := a.renew(ctx); !errors.Is(err, errLeaseLost) {
		t.Fatalf("a did not notice it lost the lease: %v", err)
	}
	a.release() // not the holder: must not delete b's lease
	if _, err := client.CoordinationV1().Leases(ns).Get(ctx, LeaseName, metav1.GetOptions{}); err != nil {
		t.Fatalf("a released b's lease: %v", err)
	}
	b.release()
	if _, err := client.CoordinationV1().Leases(ns).Get(ctx, LeaseName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("release left the lease: %v", err)
	}
}

func TestLeaseNeedsTheNamespace(t *testing.T) {
	client := fake.NewClientset()
	l := &lease{client: client, namespace: "missing", identity: "a", now: time.Now}
	// The fake does not enforce namespaces; emulate the API server.
	client.PrependReactor("create", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "missing")
	})
	if err := l.acquire(context.Background()); err == nil || !strings.Contains(err.Error(), "run `dagster-dev up` first") {
		t.Fatalf("got %v", err)
	}
}
