package watch

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// A lease whose every update conflicts (someone keeps writing it) makes
// renew and acquire give up after leaseRetry's attempts instead of looping
// forever; a conflict that clears is retried transparently.
func TestLeaseConflictRetryIsBounded(t *testing.T) {
	client := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	ctx := context.Background()
	l := &lease{client: client, namespace: ns, identity: "a", now: time.Now}
	if err := l.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoordinationV1().Leases(ns).Get(ctx, LeaseName, metav1.GetOptions{})
	if err != nil || got.Labels[kube.LabelManagedBy] != kube.ManagedByValue {
		t.Fatalf("lease %v, err %v: want the managed-by label so down removes it", got, err)
	}

	var updates, failFirst atomic.Int32
	failFirst.Store(1 << 30)
	client.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		updates.Add(1)
		if failFirst.Add(-1) >= 0 {
			return true, nil, apierrors.NewConflict(coordv1.Resource("leases"), LeaseName, nil)
		}
		return false, nil, nil
	})
	if err := l.renew(ctx); !apierrors.IsConflict(err) {
		t.Fatalf("renew against endless conflicts: %v, want the conflict", err)
	}
	if n := updates.Load(); n != int32(leaseRetry.Steps) {
		t.Errorf("renew tried %d updates, want %d", n, leaseRetry.Steps)
	}
	updates.Store(0)
	if err := l.acquire(ctx); !apierrors.IsConflict(err) {
		t.Fatalf("acquire against endless conflicts: %v, want the conflict", err)
	}
	if n := updates.Load(); n != int32(leaseRetry.Steps) {
		t.Errorf("acquire tried %d updates, want %d", n, leaseRetry.Steps)
	}

	failFirst.Store(1)
	if err := l.renew(ctx); err != nil {
		t.Fatalf("one conflict must be retried: %v", err)
	}
}
