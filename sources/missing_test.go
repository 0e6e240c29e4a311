package sources

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func optionalSpec() *corev1.PodSpec {
	yes := true
	return &corev1.PodSpec{Containers: []corev1.Container{{
		Name: "c",
		EnvFrom: []corev1.EnvFromSource{
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "must"}}},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "maybe"}, Optional: &yes}},
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "base"}}},
		},
		Env: []corev1.EnvVar{{Name: "K", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "maybe-cm"}, Key: "k", Optional: &yes}}}},
	}}, Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "maybe-vol", Optional: &yes}}}}}
}

func TestRequiredRefsLeavesOutOptional(t *testing.T) {
	got := RequiredRefs(optionalSpec())
	want := map[string]bool{"Secret/must": true, "ConfigMap/base": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RequiredRefs = %v, want %v", got, want)
	}
	if all := TemplateRefs(optionalSpec()); len(all) != 5 {
		t.Errorf("TemplateRefs = %v, want all five", all)
	}
}

// One Secret missing for two readers, one ConfigMap the same apply
// provides, one Secret that exists, optional ones ignored.
func TestCheckRefs(t *testing.T) {
	client := fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "present", Namespace: "ns"}})
	other := &corev1.PodSpec{Containers: []corev1.Container{{Name: "c", EnvFrom: []corev1.EnvFromSource{
		{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "must"}}},
		{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "present"}}},
	}}}}
	readers := []Reader{{ID: "Deployment/dagit", Spec: optionalSpec()}, {ID: "Deployment/daemon", Spec: other}}
	err := CheckRefs(context.Background(), client, "ns", readers, map[string]bool{"ConfigMap/base": true})
	var missing *MissingRefsError
	if !errors.As(err, &missing) {
		t.Fatalf("CheckRefs = %v, want *MissingRefsError", err)
	}
	want := []MissingRef{{Ref: "Secret/must", ReadBy: []string{"Deployment/daemon", "Deployment/dagit"}}}
	if !reflect.DeepEqual(missing.Missing, want) {
		t.Errorf("missing %+v, want %+v", missing.Missing, want)
	}
	if msg := err.Error(); msg != `Secret "must" (read by Deployment/daemon, Deployment/dagit) does not exist in namespace ns` {
		t.Errorf("message %q", msg)
	}
	if fix := missing.Fix(); !strings.Contains(fix, "kubectl --namespace ns create secret generic must") || !strings.Contains(fix, "watch.sources") {
		t.Errorf("fix %q", fix)
	}

	// Everything there: nil.
	if err := CheckRefs(context.Background(), client, "ns", readers[1:], map[string]bool{"Secret/must": true}); err != nil {
		t.Errorf("all present: %v", err)
	}

	// Another API error is not "missing": it is returned as it is, so a
	// caller can retry an unreachable API server.
	client.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("etcd")
	})
	err = CheckRefs(context.Background(), client, "ns", readers, nil)
	if errors.As(err, &missing) || !apierrors.IsServiceUnavailable(err) {
		t.Errorf("API error: %v, want it wrapped, not a MissingRefsError", err)
	}
}
