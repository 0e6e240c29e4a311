package kube

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// Fake clientset: binding is the PV controller's job, not checked here; the kind integration
// run binds and mounts the claim for real.
func TestEnsureCodeVolume(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	for i := 0; i < 2; i++ { // the second call finds both and changes nothing
		if err := EnsureCodeVolume(ctx, client, "dagster", "team", "/dagster-dev/code"); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, "dagster-dev-code-dagster-team", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != "/dagster-dev/code" || *pv.Spec.HostPath.Type != corev1.HostPathDirectory {
		t.Errorf("PV source = %+v", pv.Spec.PersistentVolumeSource)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
		t.Errorf("reclaim policy %s would let Kubernetes act on the user's files", pv.Spec.PersistentVolumeReclaimPolicy)
	}
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Namespace != "dagster" || pv.Spec.ClaimRef.Name != "team-code" {
		t.Errorf("PV claimRef = %+v", pv.Spec.ClaimRef)
	}
	pvc, err := client.CoreV1().PersistentVolumeClaims("dagster").Get(ctx, "team-code", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Spec.VolumeName != pv.Name || *pvc.Spec.StorageClassName != pv.Spec.StorageClassName || pvc.Spec.AccessModes[0] != corev1.ReadOnlyMany {
		t.Errorf("PVC spec = %+v", pvc.Spec)
	}
	if pvc.Labels[LabelManagedBy] != ManagedByValue || pv.Labels[LabelManagedBy] != ManagedByValue {
		t.Errorf("labels: PVC %v PV %v", pvc.Labels, pv.Labels)
	}
}
