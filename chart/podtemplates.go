package chart

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
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
		var tmpl *corev1.PodTemplateSpec
		switch o.GetKind() {
		case "Deployment":
			var d appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
				return nil, fmt.Errorf("chart Deployment %s: %w", o.GetName(), err)
			}
			tmpl = &d.Spec.Template
		case "StatefulSet":
			var s appsv1.StatefulSet
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &s); err != nil {
				return nil, fmt.Errorf("chart StatefulSet %s: %w", o.GetName(), err)
			}
			tmpl = &s.Spec.Template
		case "DaemonSet":
			var d appsv1.DaemonSet
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
				return nil, fmt.Errorf("chart DaemonSet %s: %w", o.GetName(), err)
			}
			tmpl = &d.Spec.Template
		case "Job":
			var j batchv1.Job
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &j); err != nil {
				return nil, fmt.Errorf("chart Job %s: %w", o.GetName(), err)
			}
			tmpl = &j.Spec.Template
		default:
			continue
		}
		out = append(out, PodTemplate{Kind: o.GetKind(), Name: o.GetName(), Spec: tmpl.Spec})
	}
	return out, nil
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
