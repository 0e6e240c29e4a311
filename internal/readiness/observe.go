package readiness

import (
	"context"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// observe lists the workloads and the namespace's ReplicaSets and pods, and
// evaluates them. Watches only signal that something changed; a fresh list
// is the source of truth, which keeps the loop correct even when a watch
// event is lost, and a dev namespace holds few enough objects for it to be
// cheap.
func (w *waiter) observe(ctx context.Context) ([]WorkloadStatus, error) {
	var ws *kube.Workloads
	var err error
	if w.name != "" {
		if ws, err = kube.GetWorkload(ctx, w.client, w.namespace, w.kind, w.name); err != nil {
			return nil, classifyAPIError(err, fmt.Sprintf("%s %s in namespace %s", w.kind, w.name, w.namespace))
		}
	} else {
		if ws, err = kube.ListWorkloads(ctx, w.client, w.namespace, w.selector); err != nil {
			return nil, classifyAPIError(err, fmt.Sprintf("workloads in namespace %s", w.namespace))
		}
		if ws.Len() == 0 {
			// Helm has created the objects before we are called, so an
			// empty result means a wrong namespace or selector; waiting
			// for nothing would report success for a broken setup.
			return nil, errHard{fmt.Errorf("no Deployments, StatefulSets or DaemonSets match %q in namespace %s", w.selector, w.namespace)}
		}
	}

	var rss []appsv1.ReplicaSet
	if len(ws.Deployments) > 0 {
		if rss, err = kube.ListReplicaSets(ctx, w.client, w.namespace, ""); err != nil {
			return nil, classifyAPIError(err, "ReplicaSets in namespace "+w.namespace)
		}
	}
	pods, err := kube.ListPods(ctx, w.client, w.namespace, "")
	if err != nil {
		return nil, classifyAPIError(err, "pods in namespace "+w.namespace)
	}

	now := w.now()
	all := ws.All()
	out := make([]WorkloadStatus, 0, len(all))
	for _, wl := range all {
		out = append(out, ProgressOf(wl, rss, pods, now))
	}
	w.checkEvents(ctx, out, pods, now)
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Name != out[b].Name {
			return out[a].Name < out[b].Name
		}
		return out[a].Kind < out[b].Kind
	})
	return out, nil
}

// checkEvents applies the rules that need events (MountFailure,
// DiskFailure) to the current pods of workloads that have not failed
// otherwise. Events are listed only when some pod could be stuck on one of
// them, and a failure to list them is ignored: the timeout report still
// shows the pod's state.
func (w *waiter) checkEvents(ctx context.Context, statuses []WorkloadStatus, pods []corev1.Pod, now time.Time) {
	byName := make(map[string]*corev1.Pod, len(pods))
	for i := range pods {
		byName[pods[i].Name] = &pods[i]
	}
	var events []corev1.Event
	listed := false
	for i := range statuses {
		s := &statuses[i]
		if s.Failure != nil || s.Done || !s.observed {
			continue
		}
		for _, ps := range s.Pods {
			p := byName[ps.Name]
			// Every mount candidate is a disk candidate (a longer grace).
			if p == nil || !ps.Current || !diskCandidate(p, now) {
				continue
			}
			if !listed {
				l, err := kube.ListEvents(ctx, w.client, w.namespace, "")
				if err != nil {
					return
				}
				events, listed = l, true
			}
			st, ok := DiskFailure(p, events, now)
			if !ok {
				st, ok = MountFailure(p, events, now)
			}
			if ok {
				s.setPodFailure(PodStatus{Name: ps.Name, Current: true, State: st})
				break
			}
		}
	}
}

// classifyAPIError: a missing target or missing permissions will not heal
// by retrying; everything else might.
func classifyAPIError(err error, what string) error {
	switch {
	case apierrors.IsNotFound(err):
		return errHard{fmt.Errorf("%s not found", what)}
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return errHard{fmt.Errorf("reading %s: %w", what, err)}
	}
	return fmt.Errorf("reading %s: %w", what, err)
}
