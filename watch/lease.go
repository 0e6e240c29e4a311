package watch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/sources"
)

// LeaseName is the coordination.k8s.io Lease that makes one watch per
// environment. It lives in the cluster, not in a local lock file, because
// the environment is the namespace: two terminals, two checkouts or two
// machines sharing a cluster context would all fight over the same
// objects, and `kubectl get lease -n <ns>` shows who holds it.
const LeaseName = "dagster-dev-watch"

// Lease timing: renewed every leaseRenew, taken over by another watch
// leaseDuration after the last renewal. A watch that exits normally deletes
// the lease, so the wait only applies after a crash or kill -9.
const (
	leaseDuration = 15 * time.Second
	leaseRenew    = 5 * time.Second
)

// ErrAlreadyWatching is returned (wrapped) when another watch holds the
// environment's lease.
var ErrAlreadyWatching = errors.New("another dagster-dev watch is running for this environment")

type lease struct {
	client    kubernetes.Interface
	namespace string
	identity  string
	now       func() time.Time
	// api tells a retryable error from a final one (nil: by nature only).
	api *apiRecovery
}

// defaultIdentity names this process: host, pid and a random suffix, so a
// restarted process never mistakes an old lease for its own.
func defaultIdentity() string {
	host, _ := os.Hostname()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/pid-%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// leaseRetry bounds the retries when another watch writes the lease at the
// same moment (a create or update conflict): four attempts, then the
// conflict is returned.
var leaseRetry = wait.Backoff{Steps: 4, Duration: 10 * time.Millisecond, Factor: 1, Jitter: 0.1}

// raced reports whether another writer got to the lease first.
func raced(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }

// acquire takes the lease or explains who has it.
func (l *lease) acquire(ctx context.Context) error {
	return retry.OnError(leaseRetry, raced, func() error {
		cur, err := l.client.CoordinationV1().Leases(l.namespace).Get(ctx, LeaseName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			// AlreadyExists (another watch created it at the same moment)
			// is retried: look again.
			_, err = l.client.CoordinationV1().Leases(l.namespace).Create(ctx, l.fresh(), metav1.CreateOptions{FieldManager: sources.FieldManager})
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("namespace %q does not exist: run `dagster-dev up` first", l.namespace)
			}
			return err
		}
		if err != nil {
			return err
		}
		if holder := ptr.Deref(cur.Spec.HolderIdentity, ""); holder != "" && holder != l.identity && !l.expired(cur) {
			age := l.now().Sub(renewTime(cur)).Round(time.Second)
			return fmt.Errorf("%w: Lease %s/%s is held by %s (renewed %s ago); stop that watch first, or wait %s if it was killed",
				ErrAlreadyWatching, l.namespace, LeaseName, holder, age, leaseDuration)
		}
		next := cur.DeepCopy()
		next.Spec = l.fresh().Spec
		_, err = l.client.CoordinationV1().Leases(l.namespace).Update(ctx, next, metav1.UpdateOptions{FieldManager: sources.FieldManager})
		return err
	})
}

func (l *lease) fresh() *coordv1.Lease {
	now := metav1.NewMicroTime(l.now())
	return &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: LeaseName, Namespace: l.namespace, Labels: kube.ManagedByLabels()},
		Spec: coordv1.LeaseSpec{
			HolderIdentity:       ptr.To(l.identity),
			LeaseDurationSeconds: ptr.To(int32(leaseDuration / time.Second)),
			AcquireTime:          &now,
			RenewTime:            &now,
		},
	}
}

func renewTime(le *coordv1.Lease) time.Time {
	if le.Spec.RenewTime != nil {
		return le.Spec.RenewTime.Time
	}
	if le.Spec.AcquireTime != nil {
		return le.Spec.AcquireTime.Time
	}
	return le.CreationTimestamp.Time
}

func (l *lease) expired(le *coordv1.Lease) bool {
	d := leaseDuration
	if le.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*le.Spec.LeaseDurationSeconds) * time.Second
	}
	return l.now().After(renewTime(le).Add(d))
}

// errLeaseLost means another watch took the lease: this one must stop, or
// two would apply over each other.
var errLeaseLost = errors.New("lost the watch lease to another dagster-dev watch; stopping")

// renew refreshes the lease once. A transient error is returned as is (the
// caller retries); errLeaseLost when someone else holds it now. An update
// conflict is retried a bounded number of times (leaseRetry).
func (l *lease) renew(ctx context.Context) error {
	return retry.RetryOnConflict(leaseRetry, func() error {
		cur, err := l.client.CoordinationV1().Leases(l.namespace).Get(ctx, LeaseName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			// Deleted by hand: take it again rather than run unprotected.
			_, err = l.client.CoordinationV1().Leases(l.namespace).Create(ctx, l.fresh(), metav1.CreateOptions{FieldManager: sources.FieldManager})
			return err
		}
		if err != nil {
			return err
		}
		if ptr.Deref(cur.Spec.HolderIdentity, "") != l.identity {
			return errLeaseLost
		}
		now := metav1.NewMicroTime(l.now())
		cur.Spec.RenewTime = &now
		_, err = l.client.CoordinationV1().Leases(l.namespace).Update(ctx, cur, metav1.UpdateOptions{FieldManager: sources.FieldManager})
		return err
	})
}

// keep renews the lease until ctx ends; it returns errLeaseLost or a
// non-transient error. Failed renewals are reported, because a lease that
// lapses lets a second watch in.
func (l *lease) keep(ctx context.Context, rep Reporter) error {
	failing := false
	err := wait.PollUntilContextCancel(ctx, leaseRenew, false, func(ctx context.Context) (bool, error) {
		err := l.renew(ctx)
		switch {
		case err == nil:
			if failing {
				rep.Info("watch lease renewed again")
			}
			failing = false
		case ctx.Err() != nil:
		case errors.Is(err, errLeaseLost):
			return false, err
		case apierrors.IsConflict(err):
			// Still contended after leaseRetry: try again at the next
			// renewal; a watch that took over shows up as errLeaseLost.
		case l.retryable(err):
			if !failing {
				rep.Info(fmt.Sprintf("cannot renew the watch lease (API server unreachable or starting: %v); retrying every %s", err, leaseRenew))
			}
			failing = true
		default:
			return false, fmt.Errorf("renewing the watch lease: %w", err)
		}
		return false, nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (l *lease) retryable(err error) bool {
	if l.api == nil {
		return kube.Transient(err)
	}
	return l.api.transient(err)
}

// release deletes the lease if this process still holds it, so the next
// watch can start at once.
func (l *lease) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cur, err := l.client.CoordinationV1().Leases(l.namespace).Get(ctx, LeaseName, metav1.GetOptions{})
	if err != nil || ptr.Deref(cur.Spec.HolderIdentity, "") != l.identity {
		return
	}
	_ = l.client.CoordinationV1().Leases(l.namespace).Delete(ctx, LeaseName, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{ResourceVersion: &cur.ResourceVersion},
	})
}

// Holder is who holds an environment's watch lease, for `status`.
type Holder struct {
	// Identity is host/pid-N/random of the watch process.
	Identity string    `json:"holder"`
	Since    time.Time `json:"since"`
	Renewed  time.Time `json:"renewed"`
	// Stale is true when the holder stopped renewing (killed, or its
	// machine lost the cluster): another watch may take over.
	Stale bool `json:"stale"`
}

// LeaseHolder reads the watch lease; nil when no watch holds it.
func LeaseHolder(ctx context.Context, client kubernetes.Interface, namespace string) (*Holder, error) {
	cur, err := client.CoordinationV1().Leases(namespace).Get(ctx, LeaseName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	id := ptr.Deref(cur.Spec.HolderIdentity, "")
	if id == "" {
		return nil, nil
	}
	h := &Holder{Identity: id, Renewed: renewTime(cur), Since: cur.CreationTimestamp.Time}
	if cur.Spec.AcquireTime != nil {
		h.Since = cur.Spec.AcquireTime.Time
	}
	h.Stale = (&lease{now: time.Now}).expired(cur)
	return h, nil
}
