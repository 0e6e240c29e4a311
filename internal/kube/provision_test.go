package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func claim(name string, phase corev1.PersistentVolumeClaimPhase) corev1.PersistentVolumeClaim {
	return corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: phase},
	}
}

// The fake plays the scheduler and the provisioner: a pod that mounts
// claims gets them bound, as a WaitForFirstConsumer class does when the
// pod is scheduled. ProvisionClaims must create the missing claim, leave
// the bound one alone, bind through one restricted pod, and delete it.
func TestProvisionClaims(t *testing.T) {
	bound := claim("already", corev1.ClaimBound)
	client := fake.NewClientset(&bound)
	var binder *corev1.Pod
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		binder = a.(k8stesting.CreateAction).GetObject().(*corev1.Pod).DeepCopy()
		binder.Name = "binder-1"
		go func() {
			for _, v := range binder.Spec.Volumes {
				c, err := client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), v.PersistentVolumeClaim.ClaimName, metav1.GetOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				c.Status.Phase = corev1.ClaimBound
				if _, err := client.CoreV1().PersistentVolumeClaims("ns").UpdateStatus(context.Background(), c, metav1.UpdateOptions{}); err != nil {
					t.Error(err)
				}
			}
		}()
		return true, binder, nil
	})
	var deleted []string
	client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		deleted = append(deleted, a.(k8stesting.DeleteAction).GetName())
		return true, nil, nil
	})

	claims := []corev1.PersistentVolumeClaim{claim("data-pg-0", ""), bound}
	got, err := ProvisionClaims(context.Background(), client, "ns", claims, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "data-pg-0" {
		t.Errorf("bound %v, want [data-pg-0]", got)
	}
	if binder == nil || len(binder.Spec.Volumes) != 1 || binder.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-pg-0" {
		t.Fatalf("binder pod %+v: want one pod mounting data-pg-0 only", binder)
	}
	if strings.Join(deleted, ",") != "binder-1" {
		t.Errorf("deleted pods %v, want the binder", deleted)
	}
	c := binder.Spec.Containers[0]
	sc, psc := c.SecurityContext, binder.Spec.SecurityContext
	if c.ImagePullPolicy != corev1.PullNever || psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
		sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("binder pod is not restricted or may pull: %+v %+v", psc, c)
	}

	// Everything bound already: no pod at all.
	binder, deleted = nil, nil
	if got, err := ProvisionClaims(context.Background(), client, "ns", claims, 5*time.Second); err != nil || len(got) != 0 || binder != nil {
		t.Errorf("second call: %v, %v, pod %v; want nothing to do", got, err, binder)
	}
}

// A claim that never binds: the error names it, and the pod is deleted.
func TestProvisionClaimsTimesOutAndCleansUp(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod).DeepCopy()
		p.Name = "binder-2"
		return true, p, nil
	})
	var deleted []string
	client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		deleted = append(deleted, a.(k8stesting.DeleteAction).GetName())
		return true, nil, nil
	})
	_, err := ProvisionClaims(context.Background(), client, "ns", []corev1.PersistentVolumeClaim{claim("stuck", "")}, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "stuck") {
		t.Errorf("err = %v, want a timeout naming the claim", err)
	}
	if strings.Join(deleted, ",") != "binder-2" {
		t.Errorf("deleted %v, want the binder pod", deleted)
	}
}

// Ctrl-C while waiting: the pod is still deleted (with a context of its
// own), so an interrupted up leaves no binder behind.
func TestProvisionClaimsCancelledCleansUp(t *testing.T) {
	client := fake.NewClientset()
	ctx, cancel := context.WithCancel(context.Background())
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod).DeepCopy()
		p.Name = "binder-3"
		time.AfterFunc(100*time.Millisecond, cancel)
		return true, p, nil
	})
	var deleted []string
	client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		deleted = append(deleted, a.(k8stesting.DeleteAction).GetName())
		return true, nil, nil
	})
	_, err := ProvisionClaims(ctx, client, "ns", []corev1.PersistentVolumeClaim{claim("data", "")}, time.Minute)
	if err == nil {
		t.Error("cancelled: nil error")
	}
	if strings.Join(deleted, ",") != "binder-3" {
		t.Errorf("deleted %v, want the binder pod", deleted)
	}
}

// A binder left by a killed up is deleted by the next; other pods stay.
func TestDeleteStaleBinders(t *testing.T) {
	stale := binderPod([]string{"data"})
	stale.Name, stale.Namespace = "dagster-dev-volume-binder-old", "ns"
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dagit", Namespace: "ns", Labels: map[string]string{LabelManagedBy: "Helm"}}}
	client := fake.NewClientset(stale, other)
	if err := DeleteStaleBinders(context.Background(), client, "ns"); err != nil {
		t.Fatal(err)
	}
	pods, _ := client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	var left []string
	for _, p := range pods.Items {
		left = append(left, p.Name)
	}
	if strings.Join(left, ",") != "dagit" {
		t.Errorf("pods left %v, want only dagit", left)
	}
}
