package kube

import (
	"context"
	"strings"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// The fake clientset stands in for the API server: what is under test is
// which objects down chooses to delete, not Kubernetes behaviour.
func TestDeleteOwnedRemovesOnlyOurs(t *testing.T) {
	ns := "team"
	ours := ManagedByLabels()
	release := map[string]string{LabelInstance: "dg"}
	client := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "src", Namespace: ns, Labels: ours}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "users", Namespace: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "src-secret", Namespace: ns, Labels: ours}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "dg-postgresql", Namespace: ns, Labels: release}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "users-secret", Namespace: ns}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-dg-postgresql-0", Namespace: ns, Labels: release}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "users-pvc", Namespace: ns}},
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "dagster-dev-watch", Namespace: ns}},
	)
	removed, err := DeleteOwned(context.Background(), client, ns, "dg", "dagster-dev-watch")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(removed, ",")
	want := "ConfigMap src,Secret src-secret,Secret dg-postgresql,PersistentVolumeClaim data-dg-postgresql-0,Lease " + "dagster-dev-watch"
	if got != want {
		t.Errorf("removed %s\nwant    %s", got, want)
	}
	ctx := context.Background()
	if _, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "users", metav1.GetOptions{}); err != nil {
		t.Error("a user's ConfigMap was deleted")
	}
	if _, err := client.CoreV1().Secrets(ns).Get(ctx, "users-secret", metav1.GetOptions{}); err != nil {
		t.Error("a user's Secret was deleted")
	}
	if _, err := client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "users-pvc", metav1.GetOptions{}); err != nil {
		t.Error("a user's PVC was deleted")
	}
	if _, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Error("a namespace dagster-dev did not create was deleted")
	}
}

func TestDeleteOwnedDeletesANamespaceWeCreated(t *testing.T) {
	client := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dagster", Labels: ManagedByLabels()}})
	removed, err := DeleteOwned(context.Background(), client, "dagster", "dagster", "dagster-dev-watch")
	if err != nil || len(removed) != 1 || removed[0] != "namespace dagster" {
		t.Fatalf("removed %v, err %v", removed, err)
	}
	// Idempotent: a second down finds nothing.
	removed, err = DeleteOwned(context.Background(), client, "dagster", "dagster", "dagster-dev-watch")
	if err != nil || len(removed) != 0 {
		t.Fatalf("second run removed %v, err %v", removed, err)
	}
}

func TestEnsureNamespaceLabelsOnlyWhatItCreates(t *testing.T) {
	client := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "existing"}})
	ctx := context.Background()
	for _, ns := range []string{"existing", "fresh"} {
		if err := EnsureNamespace(ctx, client, ns); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := client.CoreV1().Namespaces().Get(ctx, "fresh", metav1.GetOptions{})
	if got.Labels[LabelManagedBy] != ManagedByValue {
		t.Error("a namespace up creates must carry the managed-by label, so down removes it")
	}
	got, _ = client.CoreV1().Namespaces().Get(ctx, "existing", metav1.GetOptions{})
	if got.Labels[LabelManagedBy] != "" {
		t.Error("an existing namespace must not be claimed")
	}
}
