package podlogs

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// permanent reports a log error a retry cannot fix: the pod is gone, the
// container or its previous instance does not exist, or access is denied.
func permanent(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
}

// Collect reads the current logs of the source's pods once and returns
// their lines in time order (lines of one container keep their order). A
// container that cannot be read is reported to notice and skipped; the
// error is for the pod listing itself.
func (r *Reader) Collect(ctx context.Context, src Source, o Options, notice func(label, text string)) ([]Line, error) {
	pods, err := r.Client.CoreV1().Pods(src.Namespace).List(ctx, metav1.ListOptions{LabelSelector: src.Selector})
	if err != nil {
		return nil, err
	}
	var targets []target
	for i := range pods.Items {
		p := &pods.Items[i]
		name, ok := src.match(p)
		if !ok {
			continue
		}
		for _, t := range containers(p, name) {
			if o.Previous {
				if restarted(p, t.container) {
					targets = append(targets, t)
				}
				continue
			}
			if _, _, ok := started(p, t.container); ok {
				targets = append(targets, t)
			}
		}
	}
	per := make([][]Line, len(targets))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			err := r.readOnce(ctx, src.Namespace, t, o, &cursor{}, true, func(l Line) { per[i] = append(per[i], l) })
			if err != nil && ctx.Err() == nil && notice != nil {
				notice(t.label, fmt.Sprintf("log not readable: %v", err))
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return Merge(per...), nil
}

// Merge interleaves several containers' lines by time; each input's own
// order is kept, and lines without a time stay after the line before them.
func Merge(lists ...[]Line) []Line {
	type keyed struct {
		Line
		list, idx int
		at        int64
	}
	var all []keyed
	for li, l := range lists {
		var at int64
		for i, line := range l {
			if !line.Time.IsZero() {
				at = line.Time.UnixNano()
			}
			all = append(all, keyed{Line: line, list: li, idx: i, at: at})
		}
	}
	sort.SliceStable(all, func(a, b int) bool {
		if all[a].at != all[b].at {
			return all[a].at < all[b].at
		}
		if all[a].list != all[b].list {
			return all[a].list < all[b].list
		}
		return all[a].idx < all[b].idx
	})
	out := make([]Line, len(all))
	for i, k := range all {
		out[i] = k.Line
	}
	return out
}

// MaxTailBytes caps what Tail returns: the server applies the line count,
// the cap guards against enormous lines.
const MaxTailBytes = 1 << 20

// Tail returns the last lines of one container's log as text (the whole
// log when lines <= 0; the pod's only container when container is "").
// previous reads the last terminated instance: what a crash-looping
// container said before it died. It is what the diagnostics of `up` and
// `test` show, read the way `dagster-dev logs` reads (a broken stream is
// reopened without repeating lines). The error is the API's as it is.
func Tail(ctx context.Context, client kubernetes.Interface, namespace, pod, container string, lines int64, previous bool) (string, error) {
	if lines <= 0 {
		lines = -1
	}
	var b strings.Builder
	t := target{pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: namespace}}, container: container}
	err := (&Reader{Client: client}).readOnce(ctx, namespace, t, Options{Tail: lines, Previous: previous}, &cursor{}, true, func(l Line) {
		if b.Len() < MaxTailBytes {
			b.WriteString(l.Text)
			b.WriteByte('\n')
		}
	})
	return b.String(), err
}
