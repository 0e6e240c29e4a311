package chart

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// PodTemplate is a workload's pod template in the rendered release.
type PodTemplate struct {
	Kind, Name string
	Spec       corev1.PodSpec
}

// ID is "Kind/name".
func (t PodTemplate) ID() string { return t.Kind + "/" + t.Name }

// PodTemplates returns the pod templates of the release's Deployments,
// StatefulSets, DaemonSets and Jobs (hooks excluded).
func (m Manifests) PodTemplates() ([]PodTemplate, error) {
	var out []PodTemplate
	for _, o := range m.Objects {
		var spec *corev1.PodTemplateSpec
		var err error
		switch o.GetKind() {
		case "Deployment":
			spec, err = templateOf(o, func(d *appsv1.Deployment) *corev1.PodTemplateSpec { return &d.Spec.Template })
		case "StatefulSet":
			spec, err = templateOf(o, func(s *appsv1.StatefulSet) *corev1.PodTemplateSpec { return &s.Spec.Template })
		case "DaemonSet":
			spec, err = templateOf(o, func(d *appsv1.DaemonSet) *corev1.PodTemplateSpec { return &d.Spec.Template })
		case "Job":
			spec, err = templateOf(o, func(j *batchv1.Job) *corev1.PodTemplateSpec { return &j.Spec.Template })
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, PodTemplate{Kind: o.GetKind(), Name: o.GetName(), Spec: spec.Spec})
	}
	return out, nil
}

// templateOf decodes o as a T and returns its pod template.
func templateOf[T any](o *unstructured.Unstructured, template func(*T) *corev1.PodTemplateSpec) (*corev1.PodTemplateSpec, error) {
	var obj T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &obj); err != nil {
		return nil, fmt.Errorf("chart %s %s: %w", o.GetKind(), o.GetName(), err)
	}
	return template(&obj), nil
}

// Provides returns the ConfigMaps and Secrets the release itself creates,
// as "Kind/name".
func (m Manifests) Provides() map[string]bool {
	out := map[string]bool{}
	for _, o := range m.Objects {
		if k := o.GetKind(); k == "ConfigMap" || k == "Secret" {
			out[k+"/"+o.GetName()] = true
		}
	}
	return out
}
