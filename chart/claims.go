package chart

import (
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// VolumeClaims lists the PersistentVolumeClaims the release will use, as
// the cluster will hold them: the chart's own (with Helm's ownership
// metadata, so an install adopts one created beforehand) and those of its
// StatefulSets' claim templates (named and labelled as the StatefulSet
// controller does, which uses an existing claim of that name).
func (m Manifests) VolumeClaims(release, namespace string) ([]corev1.PersistentVolumeClaim, error) {
	var out []corev1.PersistentVolumeClaim
	for _, o := range m.OfKind("PersistentVolumeClaim") {
		var pvc corev1.PersistentVolumeClaim
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &pvc); err != nil {
			return nil, fmt.Errorf("chart PersistentVolumeClaim %s: %w", o.GetName(), err)
		}
		pvc.Namespace = namespace
		if pvc.Labels == nil {
			pvc.Labels = map[string]string{}
		}
		pvc.Labels[kube.LabelManagedBy] = kube.HelmManagedByValue
		if pvc.Annotations == nil {
			pvc.Annotations = map[string]string{}
		}
		pvc.Annotations[kube.HelmReleaseAnnotation] = release
		pvc.Annotations[kube.HelmNamespaceAnnotation] = namespace
		out = append(out, pvc)
	}
	for _, o := range m.OfKind("StatefulSet") {
		var sts appsv1.StatefulSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &sts); err != nil {
			return nil, fmt.Errorf("chart StatefulSet %s: %w", o.GetName(), err)
		}
		replicas := int32(1)
		if sts.Spec.Replicas != nil {
			replicas = *sts.Spec.Replicas
		}
		for _, tmpl := range sts.Spec.VolumeClaimTemplates {
			for ordinal := range replicas {
				labels := maps.Clone(tmpl.Labels)
				if labels == nil {
					labels = map[string]string{}
				}
				if sts.Spec.Selector != nil {
					maps.Copy(labels, sts.Spec.Selector.MatchLabels)
				}
				out = append(out, corev1.PersistentVolumeClaim{
					ObjectMeta: metav1.ObjectMeta{
						Name:        fmt.Sprintf("%s-%s-%d", tmpl.Name, sts.Name, ordinal),
						Namespace:   namespace,
						Labels:      labels,
						Annotations: maps.Clone(tmpl.Annotations),
					},
					Spec: *tmpl.Spec.DeepCopy(),
				})
			}
		}
	}
	return out, nil
}
