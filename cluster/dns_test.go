package cluster

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func dnsPod(name string, created time.Time, ready bool, readyAt time.Time) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem, Labels: map[string]string{"k8s-app": "kube-dns"}, CreationTimestamp: metav1.NewTime(created)},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(readyAt)},
		}},
	}
}

func TestRestartStaleDNS(t *testing.T) {
	boot := time.Now().Add(-20 * time.Second)
	before := boot.Add(-time.Hour)
	cs := fake.NewClientset(
		dnsPod("stuck", before, false, boot.Add(time.Second)),        // restarted with the node, not Ready
		dnsPod("stale-ready", before, true, before.Add(time.Minute)), // Ready from before the stop
		dnsPod("recovered", before, true, boot.Add(5*time.Second)),   // Ready again since the boot
		dnsPod("replacement", boot.Add(2*time.Second), false, time.Time{}),
	)
	p := NewProvider()
	p.restartStaleDNS(context.Background(), cs, "dd", boot)
	left, _ := cs.CoreV1().Pods(metav1.NamespaceSystem).List(context.Background(), metav1.ListOptions{})
	var names []string
	for _, p := range left.Items {
		names = append(names, p.Name)
	}
	if len(names) != 2 || names[0] != "recovered" || names[1] != "replacement" {
		t.Errorf("pods left = %v, want [recovered replacement]", names)
	}

	// A boot long ago: a DNS pod that is not Ready has another cause.
	cs = fake.NewClientset(dnsPod("stuck", before, false, before))
	p.recoverFromBoot(context.Background(), cs, "dd", time.Now().Add(-time.Hour))
	if l, _ := cs.CoreV1().Pods(metav1.NamespaceSystem).List(context.Background(), metav1.ListOptions{}); len(l.Items) != 1 {
		t.Error("a DNS pod was restarted long after the boot")
	}
}

func TestNodeBoot(t *testing.T) {
	t1 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	ns := []nodeContainer{{Name: "a", StartedAt: t1}, {Name: "b", StartedAt: t1.Add(time.Minute)}}
	if got := nodeBoot(ns, nil, time.Time{}); !got.Equal(t1.Add(time.Minute)) {
		t.Errorf("nodeBoot = %v", got)
	}
	now := time.Now()
	if got := nodeBoot(ns, []string{"a"}, now); !got.Equal(now) {
		t.Errorf("nodeBoot with started nodes = %v, want %v", got, now)
	}
}

func TestReadyBeforeAndSince(t *testing.T) {
	boot := time.Date(2026, 12, 3, 10, 0, 0, 500, time.UTC)
	old := dnsPod("p", boot.Add(-time.Hour), true, boot.Add(-time.Minute))
	fresh := dnsPod("p", boot.Add(-time.Hour), true, boot.Truncate(time.Second)) // the API keeps whole seconds
	notReady := dnsPod("p", boot.Add(-time.Hour), false, boot.Add(-time.Minute))
	if !readyBefore(old, boot) || readySince(old, boot) {
		t.Error("a Ready from before the boot")
	}
	if readyBefore(fresh, boot) || !readySince(fresh, boot) {
		t.Error("a Ready in the boot's second")
	}
	if readyBefore(notReady, boot) || readySince(notReady, boot) {
		t.Error("not Ready")
	}
}
