package kube

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The workload kinds a release runs.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
)

// Workloads are Deployments, StatefulSets and DaemonSets as listed, each
// kind in the API's order.
type Workloads struct {
	Deployments  []appsv1.Deployment
	StatefulSets []appsv1.StatefulSet
	DaemonSets   []appsv1.DaemonSet
}

// Len counts the workloads of every kind.
func (w *Workloads) Len() int {
	return len(w.Deployments) + len(w.StatefulSets) + len(w.DaemonSets)
}

// Workload is one workload through what every kind has.
type Workload struct {
	Kind     string // KindDeployment, KindStatefulSet or KindDaemonSet
	Meta     *metav1.ObjectMeta
	Template *corev1.PodTemplateSpec
	Selector *metav1.LabelSelector
	// Desired is the replica count asked for (a DaemonSet: the nodes it
	// should run on); Ready how many of those pods are Ready, as the
	// controller last reported.
	Desired, Ready int32
	// Object is the *appsv1.Deployment, *appsv1.StatefulSet or
	// *appsv1.DaemonSet itself, pointing into Workloads.
	Object metav1.Object
}

// All returns the workloads: Deployments, then StatefulSets, then
// DaemonSets.
func (w *Workloads) All() []Workload {
	out := make([]Workload, 0, w.Len())
	for i := range w.Deployments {
		d := &w.Deployments[i]
		out = append(out, Workload{Kind: KindDeployment, Meta: &d.ObjectMeta, Template: &d.Spec.Template, Selector: d.Spec.Selector,
			Desired: replicas(d.Spec.Replicas), Ready: d.Status.ReadyReplicas, Object: d})
	}
	for i := range w.StatefulSets {
		s := &w.StatefulSets[i]
		out = append(out, Workload{Kind: KindStatefulSet, Meta: &s.ObjectMeta, Template: &s.Spec.Template, Selector: s.Spec.Selector,
			Desired: replicas(s.Spec.Replicas), Ready: s.Status.ReadyReplicas, Object: s})
	}
	for i := range w.DaemonSets {
		d := &w.DaemonSets[i]
		out = append(out, Workload{Kind: KindDaemonSet, Meta: &d.ObjectMeta, Template: &d.Spec.Template, Selector: d.Spec.Selector,
			Desired: d.Status.DesiredNumberScheduled, Ready: d.Status.NumberReady, Object: d})
	}
	return out
}

// replicas is spec.replicas with the API's default of 1.
func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// ListWorkloads lists the workloads in namespace that match the label
// selector ("" = all of them). Errors are the API's as they are (they name
// the resource), so callers can tell NotFound and Forbidden apart.
func ListWorkloads(ctx context.Context, client kubernetes.Interface, namespace, selector string) (*Workloads, error) {
	apps := client.AppsV1()
	opts := metav1.ListOptions{LabelSelector: selector}
	deps, err := apps.Deployments(namespace).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	stss, err := apps.StatefulSets(namespace).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	dss, err := apps.DaemonSets(namespace).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Workloads{Deployments: deps.Items, StatefulSets: stss.Items, DaemonSets: dss.Items}, nil
}

// ReleaseWorkloads lists the workloads Helm created for release
// (HelmReleaseAnnotation), subcharts included, however their templates
// label them.
func ReleaseWorkloads(ctx context.Context, client kubernetes.Interface, namespace, release string) (*Workloads, error) {
	all, err := ListWorkloads(ctx, client, namespace, "")
	if err != nil {
		return nil, err
	}
	out := &Workloads{}
	for _, d := range all.Deployments {
		if OfRelease(&d, release) {
			out.Deployments = append(out.Deployments, d)
		}
	}
	for _, s := range all.StatefulSets {
		if OfRelease(&s, release) {
			out.StatefulSets = append(out.StatefulSets, s)
		}
	}
	for _, d := range all.DaemonSets {
		if OfRelease(&d, release) {
			out.DaemonSets = append(out.DaemonSets, d)
		}
	}
	return out, nil
}

// OfRelease reports whether Helm created obj for release.
func OfRelease(obj metav1.Object, release string) bool {
	return obj.GetAnnotations()[HelmReleaseAnnotation] == release
}

// GetWorkload reads one workload; kind is KindDeployment, KindStatefulSet
// or KindDaemonSet. The error is the API's as it is.
func GetWorkload(ctx context.Context, client kubernetes.Interface, namespace, kind, name string) (*Workloads, error) {
	apps := client.AppsV1()
	get := metav1.GetOptions{}
	switch kind {
	case KindDeployment:
		d, err := apps.Deployments(namespace).Get(ctx, name, get)
		if err != nil {
			return nil, err
		}
		return &Workloads{Deployments: []appsv1.Deployment{*d}}, nil
	case KindStatefulSet:
		s, err := apps.StatefulSets(namespace).Get(ctx, name, get)
		if err != nil {
			return nil, err
		}
		return &Workloads{StatefulSets: []appsv1.StatefulSet{*s}}, nil
	case KindDaemonSet:
		d, err := apps.DaemonSets(namespace).Get(ctx, name, get)
		if err != nil {
			return nil, err
		}
		return &Workloads{DaemonSets: []appsv1.DaemonSet{*d}}, nil
	}
	return nil, fmt.Errorf("kind %q is not a workload (want %s, %s or %s)", kind, KindDeployment, KindStatefulSet, KindDaemonSet)
}

// ListPods lists the pods in namespace that match the label selector
// ("" = all). The error is the API's as it is.
func ListPods(ctx context.Context, client kubernetes.Interface, namespace, selector string) ([]corev1.Pod, error) {
	l, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// ListReplicaSets lists the ReplicaSets in namespace that match the label
// selector ("" = all): where a Deployment's rollout state is read. The
// error is the API's as it is.
func ListReplicaSets(ctx context.Context, client kubernetes.Interface, namespace, selector string) ([]appsv1.ReplicaSet, error) {
	l, err := client.AppsV1().ReplicaSets(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// PodReady reports whether a pod serves: Running, Ready and not being
// deleted.
func PodReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ReadyPods lists the Ready pods that match the selector, oldest first.
func ReadyPods(ctx context.Context, client kubernetes.Interface, namespace, selector string) ([]corev1.Pod, error) {
	list, err := ListPods(ctx, client, namespace, selector)
	if err != nil {
		return nil, fmt.Errorf("listing pods %s: %w", selector, err)
	}
	var out []corev1.Pod
	for _, p := range list {
		if PodReady(&p) {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreationTimestamp.Before(&out[j].CreationTimestamp) })
	return out, nil
}
