package sources

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/config"
)

// HashAnnotation is the pod template annotation dagster-dev sets (Syncer,
// so both `up` and `watch`) to the content hash of the sources a workload
// consumes. Changing it rolls the
// workload like `kubectl rollout restart`, but a content hash (unlike a
// timestamp) leaves the template untouched when the content is the same,
// so re-saving a file or restarting watch never restarts anything.
const HashAnnotation = "dagster-dev.io/config-hash"

// Workload is a Deployment or StatefulSet as far as restarts care.
type Workload struct {
	Kind string // "Deployment" or "StatefulSet"
	Name string
	// Refs are the ConfigMaps and Secrets its pod template reads, as
	// "ConfigMap/name" and "Secret/name".
	Refs map[string]bool
	// Hash is the current value of HashAnnotation on the pod template.
	Hash string
	// Template is a hash of the whole pod template, to tell which
	// workloads a chart upgrade changed.
	Template string
	// Paused Deployments accept the patch but do not roll.
	Paused bool
}

// ID is "Deployment/name".
func (w Workload) ID() string { return w.Kind + "/" + w.Name }

// TemplateRefs lists the ConfigMaps and Secrets a pod template reads,
// through envFrom, env valueFrom, and volumes (projected included), in
// init, regular and ephemeral containers alike.
func TemplateRefs(spec *corev1.PodSpec) map[string]bool {
	refs := map[string]bool{}
	walkRefs(spec, func(ref string, _ bool) { refs[ref] = true })
	return refs
}

// RequiredRefs is TemplateRefs less the references marked optional: the
// kubelet will not start the pod until each of these exists.
func RequiredRefs(spec *corev1.PodSpec) map[string]bool {
	refs := map[string]bool{}
	walkRefs(spec, func(ref string, optional bool) {
		if !optional {
			refs[ref] = true
		}
	})
	return refs
}

// walkRefs calls visit with each ConfigMap/Secret reference of spec
// ("ConfigMap/name", "Secret/name") and whether it is optional.
func walkRefs(spec *corev1.PodSpec, visit func(ref string, optional bool)) {
	cm := func(name string, optional *bool) {
		if name != "" {
			visit(config.KindConfigMap+"/"+name, optional != nil && *optional)
		}
	}
	sec := func(name string, optional *bool) {
		if name != "" {
			visit(config.KindSecret+"/"+name, optional != nil && *optional)
		}
	}
	containers := func(cs []corev1.Container) {
		for _, c := range cs {
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil {
					cm(ef.ConfigMapRef.Name, ef.ConfigMapRef.Optional)
				}
				if ef.SecretRef != nil {
					sec(ef.SecretRef.Name, ef.SecretRef.Optional)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
					cm(r.Name, r.Optional)
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil {
					sec(r.Name, r.Optional)
				}
			}
		}
	}
	containers(spec.InitContainers)
	containers(spec.Containers)
	for _, ec := range spec.EphemeralContainers {
		containers([]corev1.Container{corev1.Container(ec.EphemeralContainerCommon)})
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil {
			cm(v.ConfigMap.Name, v.ConfigMap.Optional)
		}
		if v.Secret != nil {
			sec(v.Secret.SecretName, v.Secret.Optional)
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					cm(s.ConfigMap.Name, s.ConfigMap.Optional)
				}
				if s.Secret != nil {
					sec(s.Secret.Name, s.Secret.Optional)
				}
			}
		}
	}
}

// ConfigHash is the annotation value for a workload: a sha256 over the
// content hashes of the watched objects it references, in sorted order.
// Empty when it references none.
func ConfigHash(refs map[string]bool, objects map[string]*Object) string {
	keys := make([]string, 0, len(refs))
	for k := range refs {
		if objects[k] != nil {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\n", k, objects[k].Hash())
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func newWorkload(kind string, meta metav1.ObjectMeta, tmpl *corev1.PodTemplateSpec, paused bool) Workload {
	b, _ := json.Marshal(tmpl) // a typed struct always marshals
	sum := sha256.Sum256(b)
	return Workload{
		Kind:     kind,
		Name:     meta.Name,
		Refs:     TemplateRefs(&tmpl.Spec),
		Hash:     tmpl.Annotations[HashAnnotation],
		Template: hex.EncodeToString(sum[:]),
		Paused:   paused,
	}
}

// ListWorkloads reads the live Deployments and StatefulSets of the
// namespace, sorted by ID. The live objects are the truth: the chart, the
// user or another tool may have added references since the last look.
func ListWorkloads(ctx context.Context, client kubernetes.Interface, namespace string) ([]Workload, error) {
	deps, err := client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing Deployments in %s: %w", namespace, err)
	}
	sets, err := client.AppsV1().StatefulSets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing StatefulSets in %s: %w", namespace, err)
	}
	out := make([]Workload, 0, len(deps.Items)+len(sets.Items))
	for i := range deps.Items {
		d := &deps.Items[i]
		out = append(out, newWorkload("Deployment", d.ObjectMeta, &d.Spec.Template, d.Spec.Paused))
	}
	for i := range sets.Items {
		s := &sets.Items[i]
		out = append(out, newWorkload("StatefulSet", s.ObjectMeta, &s.Spec.Template, false))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out, nil
}

// Restart is a planned pod template patch.
type Restart struct {
	Workload Workload
	Hash     string
	// Because lists the changed objects the workload reads.
	Because []string
}

// PlanRestarts picks the workloads that read a changed object and whose
// annotation differs from the hash of what they read now. Workloads that
// read only unchanged objects are never touched, even if their annotation
// is missing: they started after the content they read was written.
func PlanRestarts(workloads []Workload, changed map[string]bool, objects map[string]*Object) []Restart {
	var out []Restart
	for _, w := range workloads {
		var because []string
		for k := range w.Refs {
			if changed[k] {
				because = append(because, k)
			}
		}
		if len(because) == 0 {
			continue
		}
		sort.Strings(because)
		h := ConfigHash(w.Refs, objects)
		if h == "" || h == w.Hash {
			continue
		}
		out = append(out, Restart{Workload: w, Hash: h, Because: because})
	}
	return out
}

// templatePatch is the merge patch that sets the annotation; the same
// shape works for Deployments and StatefulSets.
func templatePatch(hash string) []byte {
	b, _ := json.Marshal(map[string]any{
		"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
			"annotations": map[string]string{HashAnnotation: hash},
		}}},
	})
	return b
}
