package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The code volume: a kind node's code mount (config.CodeNodePath) offered to a release's pods as a
// PersistentVolumeClaim instead of a hostPath volume. The `restricted` Pod Security Standard
// forbids hostPath volumes in pods but not a claim bound to a hostPath PersistentVolume, which only
// a cluster administrator (dagster-dev, on its own kind cluster) can create. Each path location
// mounts its directory of the volume through subPath, read-only.

// codeStorageClass names no StorageClass: no provisioner or default class takes the claim, which
// binds to its pre-bound volume only.
const codeStorageClass = "dagster-dev-code"

// CodeClaimName is the namespaced claim a release's path locations mount.
func CodeClaimName(release string) string { return release + "-code" }

// CodeVolumeName is the cluster-scoped volume behind a release's claim.
func CodeVolumeName(namespace, release string) string {
	name := fmt.Sprintf("dagster-dev-code-%s-%s", namespace, release)
	if len(name) > 253 {
		name = name[:253]
	}
	return name
}

// codeVolume and codeClaim are the objects EnsureCodeVolume creates.
func codeVolume(namespace, release, nodePath string) *corev1.PersistentVolume {
	dir := corev1.HostPathDirectory
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: CodeVolumeName(namespace, release), Labels: ManagedByLabels()},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany},
			// Retain: deleting the claim must never touch the user's files.
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              codeStorageClass,
			ClaimRef:                      &corev1.ObjectReference{Namespace: namespace, Name: CodeClaimName(release)},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: nodePath, Type: &dir},
			},
		},
	}
}

func codeClaim(namespace, release string) *corev1.PersistentVolumeClaim {
	class := codeStorageClass
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: CodeClaimName(release), Namespace: namespace, Labels: ManagedByLabels()},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany},
			StorageClassName: &class,
			VolumeName:       CodeVolumeName(namespace, release),
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			},
		},
	}
}

// EnsureCodeVolume creates the release's code volume and claim when missing (both are immutable
// where it matters, so existing ones are kept). nodePath is the code mount inside the nodes.
func EnsureCodeVolume(ctx context.Context, client kubernetes.Interface, namespace, release, nodePath string) error {
	pv := codeVolume(namespace, release, nodePath)
	if _, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating PersistentVolume %s for the code mount: %w", pv.Name, err)
	}
	pvc := codeClaim(namespace, release)
	if _, err := client.CoreV1().PersistentVolumeClaims(namespace).Create(ctx, pvc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating PersistentVolumeClaim %s/%s for the code mount: %w", namespace, pvc.Name, err)
	}
	return nil
}

// PodSecurityLabels enforce a Pod Security Standard level on a namespace (and warn and audit at it).
func PodSecurityLabels(level string) map[string]string {
	return map[string]string{
		"pod-security.kubernetes.io/enforce": level,
		"pod-security.kubernetes.io/warn":    level,
		"pod-security.kubernetes.io/audit":   level,
	}
}
