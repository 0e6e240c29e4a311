package sources

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/kube"
)

const ns = "dagster"

func reader(name string, spec corev1.PodSpec) *appsv1.Deployment {
	spec.Containers[0].Name, spec.Containers[0].Image = "c", "i"
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: spec}},
	}
}

// fakeCluster has three Deployments: dagit reads ConfigMap team, worker
// reads Secret creds, other reads nothing watched.
func fakeCluster(extra ...runtime.Object) *fake.Clientset {
	ref := corev1.LocalObjectReference{Name: "team"}
	objs := []runtime.Object{
		reader("dagit", corev1.PodSpec{Containers: []corev1.Container{{EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: ref}}}}}}),
		reader("worker", corev1.PodSpec{Containers: []corev1.Container{{Env: []corev1.EnvVar{{Name: "T", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "TOKEN"}}}}}}}),
		reader("other", corev1.PodSpec{Containers: []corev1.Container{{}}}),
	}
	return fake.NewClientset(append(objs, extra...)...)
}

// project writes a config with a ConfigMap source (dotenv) and a Secret
// source (manifest).
func project(t *testing.T) *config.Config {
	t.Helper()
	cfg := testConfig(t)
	cfg.Watch.Sources = []config.Source{
		{Name: "team", Kind: config.KindConfigMap, Path: "team.env", Format: config.FormatAuto},
		{Name: "creds", Kind: config.KindSecret, Path: "creds.yaml", Format: config.FormatAuto},
	}
	write(t, cfg.Dir, "team.env", "LOG_LEVEL=info\nREGION=eu\n")
	write(t, cfg.Dir, "creds.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData:\n  TOKEN: hunter2\n")
	return cfg
}

// writes lists the API calls that write.
func writes(c *fake.Clientset) []string {
	var out []string
	for _, a := range c.Actions() {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

func workloadIDs(ws []Workload) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.ID())
	}
	return out
}

func TestApplySourcesValidatesEverythingFirst(t *testing.T) {
	cfg := project(t)
	write(t, cfg.Dir, "creds.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: wrong}\n")
	write(t, cfg.Dir, "team.env", "broken line\n")
	client := fakeCluster()
	_, err := ApplySources(context.Background(), cfg, client)
	if err == nil || !strings.Contains(err.Error(), `metadata.name is "wrong"`) || !strings.Contains(err.Error(), "team.env:1") {
		t.Fatalf("want both errors, got %v", err)
	}
	if got := writes(client); len(got) != 0 {
		t.Errorf("a bad source must stop all applies, got %v", got)
	}
	write(t, cfg.Dir, "team.env", "LOG_LEVEL=info\n")
	write(t, cfg.Dir, "creds.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {TOKEN: x}\n")
	applied, err := ApplySources(context.Background(), cfg, client)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 2 || applied[0].Object.Key() != "ConfigMap/team" || applied[0].Previous != nil || applied[1].Object.Key() != "Secret/creds" {
		t.Fatalf("applied %+v", applied)
	}
	// The readers of each object carry no hash yet, so each gets one (and
	// rolls); other never reads a source and is left alone.
	if got := workloadIDs(applied[0].Restarted); !reflect.DeepEqual(got, []string{"Deployment/dagit"}) {
		t.Errorf("team restarted %v", got)
	}
	if got := workloadIDs(applied[1].Restarted); !reflect.DeepEqual(got, []string{"Deployment/worker"}) {
		t.Errorf("creds restarted %v", got)
	}
	sec, err := client.CoreV1().Secrets(ns).Get(context.Background(), "creds", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Labels[kube.LabelManagedBy] != kube.ManagedByValue || sec.Annotations[SourceAnnotation] != "creds.yaml" || string(sec.Data["TOKEN"]) != "x" {
		t.Errorf("secret %+v", sec.ObjectMeta)
	}

	// Unchanged files: nothing written, nothing reported.
	client.ClearActions()
	applied, err = ApplySources(context.Background(), cfg, client)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second run: %+v %v", applied, err)
	}
	if got := writes(client); len(got) != 0 {
		t.Errorf("unchanged sources caused writes: %v", got)
	}
}

// refusingSyncer is a Syncer whose cluster refuses every ConfigMap patch
// with Forbidden, the problems it reports, and the first source to apply.
func refusingSyncer(t *testing.T) (*Syncer, *[]string, *Object) {
	t.Helper()
	cfg := project(t)
	client := fakeCluster()
	client.PrependReactor("patch", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "team", errors.New("rbac"))
	})
	s := NewSyncer(client, ns)
	problems := &[]string{}
	s.Problem = func(err error) { *problems = append(*problems, err.Error()) }
	obj, err := LoadSource(cfg, cfg.Watch.Sources[0])
	if err != nil {
		t.Fatal(err)
	}
	return s, problems, obj
}

func TestSyncerRefusedApplyIsAProblemNotAnError(t *testing.T) {
	s, problems, obj := refusingSyncer(t)
	_, applied, err := s.Apply(context.Background(), obj, "team.env")
	if err != nil || applied {
		t.Fatalf("applied=%v err=%v", applied, err)
	}
	if len(*problems) != 1 || !strings.Contains((*problems)[0], "team.env: applying ConfigMap/team") {
		t.Errorf("problems %v", *problems)
	}
	if rs, err := s.Restart(context.Background()); err != nil || len(rs) != 0 {
		t.Errorf("nothing applied, nothing to restart: %v %v", rs, err)
	}
}

// With Retryable saying so (watch, while a restarted API server is still
// starting), the same refusal is returned for the caller to retry, not
// reported as final.
func TestSyncerRetryableRefusalIsReturned(t *testing.T) {
	s, problems, obj := refusingSyncer(t)
	s.Retryable = func(err error) bool { return apierrors.IsForbidden(err) }
	_, applied, err := s.Apply(context.Background(), obj, "team.env")
	if !apierrors.IsForbidden(err) || applied || len(*problems) != 0 {
		t.Fatalf("applied=%v err=%v problems=%v", applied, err, *problems)
	}
}

// A transient failure between apply and restart keeps the applied object
// pending; the next Restart patches its readers.
func TestSyncerRestartFinishesAfterATransientError(t *testing.T) {
	cfg := project(t)
	client := fakeCluster()
	fail := true
	client.PrependReactor("list", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		if fail {
			return true, nil, apierrors.NewServiceUnavailable("down")
		}
		return false, nil, nil
	})
	s := NewSyncer(client, ns)
	obj, err := LoadSource(cfg, cfg.Watch.Sources[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, applied, err := s.Apply(context.Background(), obj, "team.env"); err != nil || !applied {
		t.Fatalf("applied=%v err=%v", applied, err)
	}
	if _, err := s.Restart(context.Background()); !kube.Transient(err) {
		t.Fatalf("want a transient error, got %v", err)
	}
	fail = false
	rs, err := s.Restart(context.Background())
	if err != nil || len(rs) != 1 || rs[0].Workload.ID() != "Deployment/dagit" {
		t.Fatalf("restarts %+v %v", rs, err)
	}
	if rs, err := s.Restart(context.Background()); err != nil || len(rs) != 0 {
		t.Errorf("a complete Restart leaves nothing pending: %v %v", rs, err)
	}
}
