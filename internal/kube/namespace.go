package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// PodSecurityLevel is the Pod Security Standard the namespaces dagster-dev
// creates enforce: the chart's pods are hardened by default.
const PodSecurityLevel = "restricted"

// EnsureNamespace creates a namespace labelled as dagster-dev's, enforcing
// PodSecurityLevel. A namespace dagster-dev created earlier gets the Pod
// Security labels it lacks; one it did not create is left as it is.
func EnsureNamespace(ctx context.Context, client kubernetes.Interface, name string) error {
	existing, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return labelManagedNamespace(ctx, client, existing)
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading namespace %s: %w", name, err)
	}
	labels := ManagedByLabels()
	for k, v := range PodSecurityLabels(PodSecurityLevel) {
		labels[k] = v
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// labelManagedNamespace adds the Pod Security labels to a namespace
// dagster-dev created before it set them; a level someone set since is kept.
func labelManagedNamespace(ctx context.Context, client kubernetes.Interface, ns *corev1.Namespace) error {
	if ns.Labels[LabelManagedBy] != ManagedByValue {
		return nil
	}
	missing := map[string]any{}
	for k, v := range PodSecurityLabels(PodSecurityLevel) {
		if _, ok := ns.Labels[k]; !ok {
			missing[k] = v
		}
	}
	if len(missing) == 0 {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": missing}})
	if _, err := client.CoreV1().Namespaces().Patch(ctx, ns.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("labelling namespace %s for Pod Security: %w", ns.Name, err)
	}
	return nil
}

// DeleteOwned removes what dagster-dev made in a namespace of an existing
// cluster once the release is uninstalled: the namespace itself if
// dagster-dev created it (everything in it goes with it); otherwise the
// ConfigMaps and Secrets labelled as dagster-dev's, the release's Secrets
// and claims (Helm keeps the password Secret and the StatefulSet's claims
// on uninstall) and the Lease named lease. Nothing else is touched. It
// returns what it removed ("Kind name").
func DeleteOwned(ctx context.Context, client kubernetes.Interface, ns, release, lease string) ([]string, error) {
	core := client.CoreV1()
	nsObj, err := core.Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading namespace %s: %w", ns, err)
	}
	if nsObj.Labels[LabelManagedBy] == ManagedByValue {
		if err := core.Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("deleting namespace %s: %w", ns, err)
		}
		return []string{"namespace " + ns}, nil
	}

	var removed []string
	owned := metav1.ListOptions{LabelSelector: ManagedBySelector()}
	ofRelease := metav1.ListOptions{LabelSelector: ReleaseSelector(release)}
	// Each kind is listed for the report, then deleted as one collection
	// with the same selector.
	configMaps := func(o metav1.ListOptions) ([]string, error) {
		l, err := core.ConfigMaps(ns).List(ctx, o)
		if err != nil {
			return nil, err
		}
		return objectNames(l.Items, func(o corev1.ConfigMap) string { return o.Name }), nil
	}
	secrets := func(o metav1.ListOptions) ([]string, error) {
		l, err := core.Secrets(ns).List(ctx, o)
		if err != nil {
			return nil, err
		}
		return objectNames(l.Items, func(o corev1.Secret) string { return o.Name }), nil
	}
	claims := func(o metav1.ListOptions) ([]string, error) {
		l, err := core.PersistentVolumeClaims(ns).List(ctx, o)
		if err != nil {
			return nil, err
		}
		return objectNames(l.Items, func(o corev1.PersistentVolumeClaim) string { return o.Name }), nil
	}
	all := metav1.DeleteOptions{}
	for _, c := range []struct {
		kind      string
		sel       metav1.ListOptions
		list      func(metav1.ListOptions) ([]string, error)
		deleteAll func(context.Context, metav1.DeleteOptions, metav1.ListOptions) error
	}{
		{"ConfigMap", owned, configMaps, core.ConfigMaps(ns).DeleteCollection},
		{"Secret", owned, secrets, core.Secrets(ns).DeleteCollection},
		{"Secret", ofRelease, secrets, core.Secrets(ns).DeleteCollection},
		{"PersistentVolumeClaim", ofRelease, claims, core.PersistentVolumeClaims(ns).DeleteCollection},
	} {
		found, err := c.list(c.sel)
		if err != nil {
			return removed, fmt.Errorf("listing %ss: %w", c.kind, err)
		}
		if len(found) == 0 {
			continue
		}
		if err := c.deleteAll(ctx, all, c.sel); err != nil && !apierrors.IsNotFound(err) {
			return removed, fmt.Errorf("deleting %ss %s: %w", c.kind, strings.Join(found, ", "), err)
		}
		for _, n := range found {
			removed = append(removed, c.kind+" "+n)
		}
	}
	err = client.CoordinationV1().Leases(ns).Delete(ctx, lease, metav1.DeleteOptions{})
	switch {
	case err == nil:
		removed = append(removed, "Lease "+lease)
	case !apierrors.IsNotFound(err):
		return removed, fmt.Errorf("deleting Lease %s: %w", lease, err)
	}
	return removed, nil
}

func objectNames[T any](items []T, name func(T) string) []string {
	out := make([]string, len(items))
	for i, o := range items {
		out[i] = name(o)
	}
	return out
}
