package readiness

import (
	"context"
	"math"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
)

// startWatches opens every watch before returning, so the first list in run
// happens after they are established and no change can slip between the two.
// Each watch then only nudges the loop; see observe.
func (w *waiter) startWatches(ctx context.Context, nudge chan<- struct{}) {
	apps := w.client.AppsV1()
	ns := w.namespace
	workloadOpts := metav1.ListOptions{LabelSelector: w.selector}
	if w.name != "" {
		workloadOpts = metav1.ListOptions{FieldSelector: "metadata.name=" + w.name}
	}
	type starter func(context.Context) (watch.Interface, error)
	starters := []starter{
		func(ctx context.Context) (watch.Interface, error) {
			return w.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
		},
	}
	if w.name == "" || w.kind == "Deployment" {
		starters = append(starters,
			func(ctx context.Context) (watch.Interface, error) {
				return apps.Deployments(ns).Watch(ctx, workloadOpts)
			},
			func(ctx context.Context) (watch.Interface, error) {
				return apps.ReplicaSets(ns).Watch(ctx, metav1.ListOptions{})
			})
	}
	if w.name == "" || w.kind == "StatefulSet" {
		starters = append(starters, func(ctx context.Context) (watch.Interface, error) {
			return apps.StatefulSets(ns).Watch(ctx, workloadOpts)
		})
	}
	if w.name == "" || w.kind == "DaemonSet" {
		starters = append(starters, func(ctx context.Context) (watch.Interface, error) {
			return apps.DaemonSets(ns).Watch(ctx, workloadOpts)
		})
	}
	for _, start := range starters {
		wi, err := start(ctx)
		if err != nil {
			wi = nil // pump retries; the poll fallback covers the gap
		}
		go pump(ctx, start, wi, nudge, w.poll)
	}
}

// pump forwards "something changed" from a watch to the loop and re-opens
// the watch when the server closes it (API servers end watches after a few
// minutes) or it fails.
func pump(ctx context.Context, start func(context.Context) (watch.Interface, error), wi watch.Interface, nudge chan<- struct{}, maxBackoff time.Duration) {
	const minBackoff = 250 * time.Millisecond
	// Re-opening waits minBackoff, doubling after each failure up to
	// maxBackoff, and starts over once a watch opens.
	fresh := func() wait.Backoff {
		return wait.Backoff{Duration: minBackoff, Factor: 2, Steps: math.MaxInt32, Cap: max(maxBackoff, minBackoff)}
	}
	backoff := fresh()
	for {
		if wi != nil {
			drain(ctx, wi, nudge)
			wi.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		t := time.NewTimer(backoff.Step())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		var err error
		if wi, err = start(ctx); err != nil {
			wi = nil
			continue
		}
		backoff = fresh()
		// Changes made while no watch was open are only seen by a fresh list.
		poke(nudge)
	}
}

func drain(ctx context.Context, wi watch.Interface, nudge chan<- struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-wi.ResultChan():
			if !ok || ev.Type == watch.Error {
				return
			}
			poke(nudge)
		}
	}
}

func poke(nudge chan<- struct{}) {
	select {
	case nudge <- struct{}{}:
	default:
	}
}
