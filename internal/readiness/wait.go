package readiness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/text"
)

// ProgressFunc receives a snapshot after every evaluation: on each watched
// change (debounced) and at least every few seconds. It runs on the waiting
// goroutine, so it must not block. States contain elapsed seconds, so
// consecutive snapshots differ; a line-based (non-TTY) renderer should
// throttle.
type ProgressFunc func(Snapshot)

// Snapshot is the state of every watched workload at one evaluation.
type Snapshot struct {
	Workloads []WorkloadStatus
	Elapsed   time.Duration
}

// Pending counts the workloads that are not done yet.
func (s Snapshot) Pending() int {
	n := 0
	for _, w := range s.Workloads {
		if !w.Done {
			n++
		}
	}
	return n
}

// String renders a spinner line:
// "waiting for 5 workloads: dagster-dagit 1/1, dagster-daemon 0/1 (Init:0/1 (check-db-ready running 95s))".
func (s Snapshot) String() string {
	n := len(s.Workloads)
	if n == 0 {
		return "waiting for workloads"
	}
	if s.Pending() == 0 {
		return fmt.Sprintf("%d %s ready", n, text.Plural(n, "workload", "workloads"))
	}
	parts := make([]string, 0, n)
	for _, w := range s.Workloads {
		p := fmt.Sprintf("%s %d/%d", w.Name, w.Ready, w.Desired)
		if !w.Done && w.State != "" {
			p += " (" + w.State + ")"
		}
		parts = append(parts, p)
	}
	return fmt.Sprintf("waiting for %d %s: %s", n, text.Plural(n, "workload", "workloads"), strings.Join(parts, ", "))
}

// Wait blocks until every Deployment, StatefulSet and DaemonSet in namespace
// matching selector (e.g. kube.ReleaseSelector("dagster")) is fully
// rolled out and all their pods are Ready. It returns a *FailureError as soon
// as a pod fails in a way waiting cannot fix, or when timeout (if > 0)
// expires; if ctx is cancelled it returns an error wrapping ctx.Err().
// progress may be nil.
func Wait(ctx context.Context, client kubernetes.Interface, namespace, selector string, timeout time.Duration, progress ProgressFunc) error {
	w := newWaiter(client, namespace)
	w.selector = selector
	w.progress = progress
	return w.run(ctx, timeout)
}

// WaitRollout blocks until the named Deployment, StatefulSet or DaemonSet has
// rolled out its latest pod template: new pods Ready, old ones gone. It is
// meant to be called right after patching the template. kind accepts the
// kubectl spellings ("Deployment", "deploy", "sts", ...). Failures and
// timeouts are reported as by Wait.
func WaitRollout(ctx context.Context, client kubernetes.Interface, namespace, kind, name string, timeout time.Duration) error {
	w, err := newRolloutWaiter(client, namespace, kind, name)
	if err != nil {
		return err
	}
	return w.run(ctx, timeout)
}

// WaitRecovered blocks until the named workload has rolled out its latest
// pod template, through any failure on the way: it is for a rollout that
// WaitRollout already reported as failed, which the kubelet keeps retrying
// and which can still succeed on its own (disk space freed, a ConfigMap or
// image that arrives later). It waits until ctx ends, then returns its
// error; a workload that is deleted, or that may not be read, ends it with
// that error too.
func WaitRecovered(ctx context.Context, client kubernetes.Interface, namespace, kind, name string) error {
	w, err := newRecoveryWaiter(client, namespace, kind, name)
	if err != nil {
		return err
	}
	return w.run(ctx, 0)
}

// newRecoveryWaiter is WaitRecovered's waiter, apart so that tests can see
// its loop's snapshots (progress) and know where it is.
func newRecoveryWaiter(client kubernetes.Interface, namespace, kind, name string) (*waiter, error) {
	w, err := newRolloutWaiter(client, namespace, kind, name)
	if err != nil {
		return nil, err
	}
	w.throughFailures = true
	return w, nil
}

// newRolloutWaiter is a waiter for one workload's rollout.
func newRolloutWaiter(client kubernetes.Interface, namespace, kind, name string) (*waiter, error) {
	k, err := parseWorkloadKind(kind)
	if err != nil {
		return nil, err
	}
	w := newWaiter(client, namespace)
	w.kind, w.name = k, name
	return w, nil
}

func parseWorkloadKind(kind string) (string, error) {
	switch strings.ToLower(kind) {
	case "deployment", "deployments", "deploy":
		return kube.KindDeployment, nil
	case "statefulset", "statefulsets", "sts":
		return kube.KindStatefulSet, nil
	case "daemonset", "daemonsets", "ds":
		return kube.KindDaemonSet, nil
	}
	return "", fmt.Errorf("readiness: cannot wait for a rollout of kind %q (want Deployment, StatefulSet or DaemonSet)", kind)
}

// waiter holds one wait's parameters. Timing knobs are fields so tests can
// prove the loop is driven by watch events rather than by the poll fallback.
type waiter struct {
	client    kubernetes.Interface
	namespace string
	selector  string // Wait: which workloads
	kind      string // WaitRollout: the one workload
	name      string
	progress  ProgressFunc
	// throughFailures keeps waiting when a pod fails (WaitRecovered).
	throughFailures bool

	// poll is the fallback re-evaluation interval: it catches changes a
	// dropped watch missed and advances time-based rules (unschedulable
	// grace, "running 95s") when nothing else happens.
	poll time.Duration
	// debounce lets a burst of watch events (a rollout produces dozens)
	// settle into a single evaluation.
	debounce time.Duration
	// now is the clock for classification; tests may move it.
	now func() time.Time
}

func newWaiter(client kubernetes.Interface, namespace string) *waiter {
	return &waiter{
		client:    client,
		namespace: namespace,
		poll:      5 * time.Second,
		debounce:  100 * time.Millisecond,
		now:       time.Now,
	}
}

// errHard marks errors that retrying cannot fix.
type errHard struct{ error }

func (e errHard) Unwrap() error { return e.error }

func (w *waiter) run(ctx context.Context, timeout time.Duration) error {
	start := time.Now()
	var wctx context.Context
	var cancel context.CancelFunc
	if timeout > 0 {
		wctx, cancel = context.WithTimeout(ctx, timeout)
	} else {
		wctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()

	nudge := make(chan struct{}, 1)
	w.startWatches(wctx, nudge)
	ticker := time.NewTicker(w.poll)
	defer ticker.Stop()

	var last []WorkloadStatus
	var lastErr error
	for {
		statuses, err := w.observe(wctx)
		var hard errHard
		switch {
		case err != nil && wctx.Err() != nil:
			// The deadline cut the list short; report the last good state.
		case errors.As(err, &hard):
			return hard.error
		case err != nil:
			// API hiccups (apiserver restarting, connection reset) are
			// retried until the timeout, which then names the error.
			lastErr = err
		default:
			last, lastErr = statuses, nil
			if w.progress != nil {
				w.progress(Snapshot{Workloads: statuses, Elapsed: time.Since(start)})
			}
			for i := range statuses {
				if statuses[i].Failure != nil && !w.throughFailures {
					// A copy: the progress callback may still hold the snapshot.
					f := *statuses[i].Failure
					w.explain(ctx, &f, []WorkloadStatus{statuses[i]})
					return &f
				}
			}
			if allDone(statuses) {
				return nil
			}
		}

		select {
		case <-wctx.Done():
			return w.timedOut(ctx, last, lastErr, time.Since(start), timeout)
		case <-nudge:
			t := time.NewTimer(w.debounce)
			select {
			case <-wctx.Done():
			case <-t.C:
			}
			t.Stop()
		case <-ticker.C:
		}
	}
}

func allDone(statuses []WorkloadStatus) bool {
	for _, s := range statuses {
		if !s.Done {
			return false
		}
	}
	return true
}
