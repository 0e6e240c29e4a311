package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/readiness"
	"github.com/dagster-dev/dagster-dev/internal/text"
)

// Bounds on the evidence attached to a failed case: enough to see the
// cause, short enough to read in a terminal and in a CI log.
const (
	diagMaxPods   = 5
	diagLogLines  = 20
	diagMaxEvents = 15
	diagEventAge  = 15 * time.Minute
)

// diagnose gathers what usually explains a failure anywhere in the
// environment: the release's (and Dagster runs') pods that are not healthy,
// with their last log lines, and the namespace's recent Warning events.
// It reads only; failures to read are noted, not returned.
func (s *suite) diagnose(ctx context.Context) string {
	var b strings.Builder
	now := time.Now()
	pods, err := kube.ListPods(ctx, s.kube.client, s.cfg.Namespace, "")
	if err != nil {
		fmt.Fprintf(&b, "could not list pods: %v\n", err)
	} else {
		shown := 0
		// Replicas failing the same way print the same log: show it once.
		seenLogs := map[string]string{}
		for _, p := range unhealthyPods(pods, s.cfg.Release, now) {
			if shown == diagMaxPods {
				b.WriteString("(more unhealthy pods not shown)\n")
				break
			}
			shown++
			st := readiness.ClassifyPod(&p, now)
			fmt.Fprintf(&b, "pod %s: %s", p.Name, st.Short())
			if st.Message != "" {
				fmt.Fprintf(&b, ": %s", text.FirstLine(st.Message))
			}
			b.WriteByte('\n')
			if st.Hint != "" {
				fmt.Fprintf(&b, "  fix: %s\n", st.Hint)
			}
			container := st.Container
			if container == "" && len(p.Spec.Containers) > 0 {
				container = p.Spec.Containers[0].Name
			}
			if st.Logs == readiness.LogsNone && st.Phase == readiness.PhaseFailed {
				continue // the container never ran: there is no log
			}
			logs, err := s.kube.podLogs(ctx, p.Name, container, diagLogLines, st.Logs == readiness.LogsPrevious)
			if err != nil || strings.TrimSpace(logs) == "" {
				continue
			}
			if first, ok := seenLogs[logs]; ok {
				fmt.Fprintf(&b, "  last log lines of %s: the same as pod %s's\n", container, first)
				continue
			}
			seenLogs[logs] = p.Name
			fmt.Fprintf(&b, "  last log lines of %s:\n%s\n", container, text.Indent(strings.TrimRight(logs, "\n"), "    "))
		}
	}
	events, err := kube.ListEvents(ctx, s.kube.client, s.cfg.Namespace, corev1.EventTypeWarning)
	if err != nil {
		fmt.Fprintf(&b, "could not list events: %v\n", err)
	} else if lines := recentWarnings(events, now); len(lines) > 0 {
		fmt.Fprintf(&b, "recent Warning events in namespace %s:\n", s.cfg.Namespace)
		for _, l := range lines {
			b.WriteString("  " + l + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// unhealthyPods keeps the release's pods and the Dagster run/step pods that
// are not Ready and not cleanly finished: a run pod that failed, a worker
// in a crash loop, a Dagit that is not ready. Pods of other apps in the
// namespace are the user's and left out.
func unhealthyPods(pods []corev1.Pod, release string, now time.Time) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		ours := p.Labels[kube.LabelInstance] == release || p.Labels[kube.LabelRunID] != ""
		if !ours || p.DeletionTimestamp != nil {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		if p.Status.Phase != corev1.PodFailed && readiness.ClassifyPod(&p, now).Phase == readiness.PhaseReady {
			continue
		}
		out = append(out, p)
	}
	// Failed ones first: they are the likely cause; then the newest.
	sort.SliceStable(out, func(i, j int) bool {
		fi := readiness.ClassifyPod(&out[i], now).Phase == readiness.PhaseFailed || out[i].Status.Phase == corev1.PodFailed
		fj := readiness.ClassifyPod(&out[j], now).Phase == readiness.PhaseFailed || out[j].Status.Phase == corev1.PodFailed
		if fi != fj {
			return fi
		}
		return out[j].CreationTimestamp.Before(&out[i].CreationTimestamp)
	})
	return out
}

// recentWarnings formats the newest Warning events of the last minutes,
// oldest first, one line each.
func recentWarnings(events []corev1.Event, now time.Time) []string {
	var recent []corev1.Event
	for _, e := range events {
		if now.Sub(kube.EventTime(&e)) <= diagEventAge {
			recent = append(recent, e)
		}
	}
	kube.SortEvents(recent)
	if len(recent) > diagMaxEvents {
		recent = recent[len(recent)-diagMaxEvents:]
	}
	out := make([]string, len(recent))
	for i := range recent {
		e := &recent[i]
		line := fmt.Sprintf("%s %s/%s %s: %s", kube.EventTime(e).Format("15:04:05"), e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, strings.TrimSpace(e.Message))
		if n := kube.EventCount(e); n > 1 {
			line += fmt.Sprintf(" (x%d)", n)
		}
		out[i] = line
	}
	return out
}
