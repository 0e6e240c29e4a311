package sources

import (
	"context"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestTemplateRefs(t *testing.T) {
	spec := &corev1.PodSpec{
		InitContainers: []corev1.Container{{
			Name:    "init",
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "init-secret"}}}},
		}},
		Containers: []corev1.Container{{
			Name: "main",
			EnvFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm-envfrom"}}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "secret-envfrom"}}},
			},
			Env: []corev1.EnvVar{
				{Name: "PLAIN", Value: "x"},
				{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cm-key"}, Key: "k"}}},
				{Name: "B", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "secret-key"}, Key: "k"}}},
				{Name: "C", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			},
		}},
		Volumes: []corev1.Volume{
			{Name: "v1", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm-vol"}}}},
			{Name: "v2", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "secret-vol"}}},
			{Name: "v3", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cm-proj"}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "secret-proj"}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{}},
			}}}},
			{Name: "v4", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
	got := TemplateRefs(spec)
	want := map[string]bool{
		"Secret/init-secret": true, "ConfigMap/cm-envfrom": true, "Secret/secret-envfrom": true,
		"ConfigMap/cm-key": true, "Secret/secret-key": true, "ConfigMap/cm-vol": true,
		"Secret/secret-vol": true, "ConfigMap/cm-proj": true, "Secret/secret-proj": true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
}

func obj(kind, name string, kv ...string) *Object {
	o := &Object{Kind: kind, Name: name, Data: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		o.Data[kv[i]] = kv[i+1]
	}
	return o
}

func TestConfigHash(t *testing.T) {
	objects := map[string]*Object{
		"ConfigMap/a": obj("ConfigMap", "a", "K", "1"),
		"Secret/b":    obj("Secret", "b", "K", "2"),
	}
	refsAB := map[string]bool{"ConfigMap/a": true, "Secret/b": true, "ConfigMap/unwatched": true}
	h1 := ConfigHash(refsAB, objects)
	if h1 == "" || len(h1) != 32 {
		t.Fatalf("hash %q", h1)
	}
	// Stable, and independent of unwatched references.
	if h2 := ConfigHash(map[string]bool{"Secret/b": true, "ConfigMap/a": true}, objects); h2 != h1 {
		t.Error("hash depends on unwatched refs or order")
	}
	if ConfigHash(map[string]bool{"ConfigMap/a": true}, objects) == h1 {
		t.Error("a subset hashes like the whole")
	}
	if ConfigHash(map[string]bool{"ConfigMap/other": true}, objects) != "" {
		t.Error("no watched refs must give an empty hash")
	}
	objects["Secret/b"] = obj("Secret", "b", "K", "3")
	if ConfigHash(refsAB, objects) == h1 {
		t.Error("content change did not change the hash")
	}
}

func TestPlanRestarts(t *testing.T) {
	objects := map[string]*Object{
		"ConfigMap/a": obj("ConfigMap", "a", "K", "new"),
		"Secret/b":    obj("Secret", "b", "K", "2"),
	}
	hashAB := ConfigHash(map[string]bool{"ConfigMap/a": true, "Secret/b": true}, objects)
	workloads := []Workload{
		{Kind: "Deployment", Name: "reads-a", Refs: map[string]bool{"ConfigMap/a": true}},
		{Kind: "Deployment", Name: "reads-b", Refs: map[string]bool{"Secret/b": true}},
		{Kind: "StatefulSet", Name: "reads-ab", Refs: map[string]bool{"ConfigMap/a": true, "Secret/b": true}},
		{Kind: "Deployment", Name: "reads-nothing", Refs: map[string]bool{}},
		{Kind: "Deployment", Name: "already-current", Refs: map[string]bool{"ConfigMap/a": true, "Secret/b": true}, Hash: hashAB},
	}
	got := PlanRestarts(workloads, map[string]bool{"ConfigMap/a": true}, objects)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.Workload.ID())
		if r.Hash != ConfigHash(r.Workload.Refs, objects) {
			t.Errorf("%s: hash %s", r.Workload.ID(), r.Hash)
		}
		if !reflect.DeepEqual(r.Because, []string{"ConfigMap/a"}) {
			t.Errorf("%s: because %v", r.Workload.ID(), r.Because)
		}
	}
	want := []string{"Deployment/reads-a", "StatefulSet/reads-ab"}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("restarts %v, want %v", ids, want)
	}
}

func TestListWorkloads(t *testing.T) {
	tmpl := func(cm string, ann map[string]string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Annotations: ann},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i",
				EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}}}}},
		}
	}
	client := fake.NewClientset(
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: appsv1.DeploymentSpec{Paused: true, Template: tmpl("a", map[string]string{HashAnnotation: "h1"})}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns"}, Spec: appsv1.StatefulSetSpec{Template: tmpl("b", nil)}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "other"}, Spec: appsv1.DeploymentSpec{Template: tmpl("a", nil)}},
	)
	ws, err := ListWorkloads(context.Background(), client, "ns")
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0].ID() != "Deployment/web" || ws[1].ID() != "StatefulSet/db" {
		t.Fatalf("%+v", ws)
	}
	if !ws[0].Paused || ws[0].Hash != "h1" || !ws[0].Refs["ConfigMap/a"] || !ws[1].Refs["ConfigMap/b"] {
		t.Errorf("%+v", ws)
	}
	if ws[0].Template == ws[1].Template || ws[0].Template == "" {
		t.Error("template hashes must differ")
	}
}
