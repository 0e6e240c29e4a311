package chart

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// The claims up provisions ahead of the chart must be exactly the ones the
// release uses, under the names and metadata Helm and the StatefulSet
// controller accept as theirs.
func TestVolumeClaims(t *testing.T) {
	m := render(t, "rel", nil)
	claims, err := m.VolumeClaims("rel", "team-ns")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]corev1.PersistentVolumeClaim{}
	for _, c := range claims {
		byName[c.Name] = c
		if c.Namespace != "team-ns" {
			t.Errorf("%s: namespace %q", c.Name, c.Namespace)
		}
	}
	if len(byName) != 2 {
		t.Fatalf("claims %v, want PostgreSQL's data claim and the compute logs'", reflect.ValueOf(byName).MapKeys())
	}

	pg, ok := byName["data-rel-postgresql-0"]
	if !ok {
		t.Fatalf("no claim data-rel-postgresql-0 in %v", reflect.ValueOf(byName).MapKeys())
	}
	sts := m.Find("StatefulSet", "rel-postgresql")
	sel, _, _ := unstructured.NestedStringMap(sts.Object, "spec", "selector", "matchLabels")
	if len(sel) == 0 {
		t.Fatal("the PostgreSQL StatefulSet has no selector labels")
	}
	for k, v := range sel {
		if pg.Labels[k] != v {
			t.Errorf("PostgreSQL claim labels %v lack the StatefulSet selector's %s=%v", pg.Labels, k, v)
		}
	}
	if pg.Annotations[kube.HelmReleaseAnnotation] != "" {
		t.Errorf("a StatefulSet's claim is not Helm's: %v", pg.Annotations)
	}
	if got := pg.Spec.AccessModes; !reflect.DeepEqual(got, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) {
		t.Errorf("access modes %v", got)
	}
	if _, ok := pg.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		t.Errorf("no storage request: %+v", pg.Spec)
	}

	logs := byName["rel-compute-logs"]
	if logs.Name == "" {
		t.Fatalf("no compute logs claim in %v", reflect.ValueOf(byName).MapKeys())
	}
	if logs.Labels[kube.LabelManagedBy] != kube.HelmManagedByValue || logs.Annotations[kube.HelmReleaseAnnotation] != "rel" || logs.Annotations[kube.HelmNamespaceAnnotation] != "team-ns" {
		t.Errorf("compute logs claim lacks Helm's ownership metadata: labels %v annotations %v", logs.Labels, logs.Annotations)
	}

	// Without PostgreSQL's persistence and the local compute logs, nothing.
	m = render(t, "rel", values(t, "postgresql: {persistence: {enabled: false}}\ncomputeLogs: {type: none}\n"))
	if claims, err := m.VolumeClaims("rel", "ns"); err != nil || len(claims) != 0 {
		t.Errorf("claims %v, %v; want none", claims, err)
	}
}
