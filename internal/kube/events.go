package kube

import (
	"context"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// ListEvents lists a namespace's events; eventType "" lists every type,
// else only that one (corev1.EventTypeWarning, corev1.EventTypeNormal).
// The error is the API's as it is.
func ListEvents(ctx context.Context, client kubernetes.Interface, namespace, eventType string) ([]corev1.Event, error) {
	opts := metav1.ListOptions{}
	if eventType != "" {
		opts.FieldSelector = fields.OneTermEqualSelector("type", eventType).String()
	}
	l, err := client.CoreV1().Events(namespace).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	if eventType == "" {
		return l.Items, nil
	}
	// The server applies the field selector; filtering again keeps fakes
	// and proxies that ignore it honest.
	out := l.Items[:0]
	for _, ev := range l.Items {
		if ev.Type == eventType {
			out = append(out, ev)
		}
	}
	return out, nil
}

// EventsFor keeps the events about one object: its kind and name and, when
// both the event and uid name one, its UID (a StatefulSet's pods reuse
// names, so an earlier pod's events must not count). Order is kept.
func EventsFor(events []corev1.Event, kind, name string, uid types.UID) []corev1.Event {
	var out []corev1.Event
	for _, ev := range events {
		o := ev.InvolvedObject
		if o.Kind != kind || o.Name != name || uid != "" && o.UID != "" && o.UID != uid {
			continue
		}
		out = append(out, ev)
	}
	return out
}

// EventTime is the last time an event was seen; which field holds it
// depends on whether it was written through core/v1 or events.k8s.io/v1.
func EventTime(ev *corev1.Event) time.Time {
	switch {
	case ev.Series != nil && !ev.Series.LastObservedTime.IsZero():
		return ev.Series.LastObservedTime.Time
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	case !ev.FirstTimestamp.IsZero():
		return ev.FirstTimestamp.Time
	}
	return ev.CreationTimestamp.Time
}

// EventCount is how often an event was seen (at least 1).
func EventCount(ev *corev1.Event) int32 {
	n := ev.Count
	if ev.Series != nil && ev.Series.Count > n {
		n = ev.Series.Count
	}
	return max(n, 1)
}

// SortEvents orders events oldest first by EventTime, keeping the order of
// events seen at the same time.
func SortEvents(events []corev1.Event) {
	sort.SliceStable(events, func(a, b int) bool { return EventTime(&events[a]).Before(EventTime(&events[b])) })
}
