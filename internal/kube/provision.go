package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// binderImage is the image of the pod that makes claims bind. The pod is
// deleted once they are bound, before its container could start, and
// pullPolicy Never keeps the node from ever pulling it: no image is needed.
const binderImage = "dagster-dev.invalid/volume-binder:never-runs"

// UnboundClaims returns the claims that do not exist in namespace or are
// not bound yet: what ProvisionClaims has to do.
func UnboundClaims(ctx context.Context, client kubernetes.Interface, namespace string, claims []corev1.PersistentVolumeClaim) ([]corev1.PersistentVolumeClaim, error) {
	var out []corev1.PersistentVolumeClaim
	for _, c := range claims {
		got, err := client.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, c.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("reading PersistentVolumeClaim %s: %w", c.Name, err)
		case got.Status.Phase == corev1.ClaimBound:
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// ProvisionClaims makes claims exist and be bound to a volume now, not when
// the first pod that uses them is scheduled. With a WaitForFirstConsumer
// storage class (kind's local-path) provisioning starts only then and takes
// a helper pod's start, several seconds on a busy node, on the path of
// every pod that waits for PostgreSQL; `up` calls this while images still
// load. Missing claims are created; a pod that mounts the unbound ones is
// scheduled, which makes the scheduler pick a node and the provisioner
// create the volumes; the pod is deleted once they are bound (or on any
// failure). It returns the names of the claims it bound.
func ProvisionClaims(ctx context.Context, client kubernetes.Interface, namespace string, claims []corev1.PersistentVolumeClaim, timeout time.Duration) ([]string, error) {
	todo, err := UnboundClaims(ctx, client, namespace, claims)
	if err != nil {
		return nil, err
	}
	var unbound []string
	for i := range todo {
		c := &todo[i]
		c.Namespace = namespace
		if _, err := client.CoreV1().PersistentVolumeClaims(namespace).Create(ctx, c, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating PersistentVolumeClaim %s: %w", c.Name, err)
		}
		unbound = append(unbound, c.Name)
	}
	if len(unbound) == 0 {
		return nil, nil
	}

	pod, err := client.CoreV1().Pods(namespace).Create(ctx, binderPod(unbound), metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating the pod that binds %v: %w", unbound, err)
	}
	defer func() {
		// A fresh context: the caller's may be done (Ctrl-C, timeout), and
		// the pod must not outlive this call.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = client.CoreV1().Pods(namespace).Delete(dctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	}()

	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		for _, name := range unbound {
			c, err := client.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil || c.Status.Phase != corev1.ClaimBound {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for PersistentVolumeClaims %v to be bound: %w", unbound, err)
	}
	// The claims bind before the scheduler has bound the pod; deleting it
	// in between leaves a FailedScheduling warning among the user's events.
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods(namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		return err != nil || p.Spec.NodeName != "", nil
	})
	return unbound, nil
}

func binderLabels() map[string]string {
	l := ManagedByLabels()
	l[LabelVolumeBinder] = "true"
	return l
}

// DeleteStaleBinders deletes binder pods an earlier ProvisionClaims left
// (its process was killed before it could): one would otherwise sit in the
// namespace for good, its image never pulled.
func DeleteStaleBinders(ctx context.Context, client kubernetes.Interface, namespace string) error {
	sel := labels.SelectorFromSet(labels.Set{LabelVolumeBinder: "true"}).String()
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("listing volume binder pods: %w", err)
	}
	for _, p := range pods.Items {
		err := client.CoreV1().Pods(namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting stale volume binder pod %s: %w", p.Name, err)
		}
	}
	return nil
}

// binderPod mounts the claims and would pass the restricted Pod Security
// Standard, which the namespaces dagster-dev creates enforce.
func binderPod(claims []string) *corev1.Pod {
	yes, no := true, false
	user := int64(65534)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "dagster-dev-volume-binder-", Labels: binderLabels()},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: new(int64),
			AutomountServiceAccountToken:  &no,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   &yes,
				RunAsUser:      &user,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            "bind",
				Image:           binderImage,
				ImagePullPolicy: corev1.PullNever,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: &no,
					ReadOnlyRootFilesystem:   &yes,
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
	for i, name := range claims {
		vol := fmt.Sprintf("claim-%d", i)
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: vol, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name},
		}})
		pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: vol, MountPath: "/claims/" + vol})
	}
	return pod
}
