package cluster

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// dnsSelector selects the cluster DNS pods kubeadm deploys (CoreDNS).
const dnsSelector = "k8s-app=kube-dns"

// recentBoot is how long after a node container started its DNS pods are
// still looked at: later, a DNS pod that is not Ready has another cause,
// which restarting it would hide.
const recentBoot = 5 * time.Minute

// nodeBoot is when the cluster's nodes last came up: startedAt if Ensure
// just started some, else the newest start Docker recorded (Docker itself
// restarts nodes after an engine restart).
func nodeBoot(nodes []nodeContainer, started []string, startedAt time.Time) time.Time {
	if len(started) > 0 {
		return startedAt
	}
	var boot time.Time
	for _, n := range nodes {
		if n.StartedAt.After(boot) {
			boot = n.StartedAt
		}
	}
	return boot
}

// recoverFromBoot runs after the nodes came up again (boot) and the
// cluster is Ready: it restarts DNS pods stuck from before, then waits until
// the kubelet has reported every pod afresh, so the caller's readiness wait
// does not take a Ready from before the stop for a running workload. Both
// only cost time when they fail, so they log and return nothing.
func (p *Provider) recoverFromBoot(ctx context.Context, cs kubernetes.Interface, cluster string, boot time.Time) {
	if boot.IsZero() || time.Since(boot) > recentBoot {
		return
	}
	p.restartStaleDNS(ctx, cs, cluster, boot)
	p.waitPodStatusesCurrent(ctx, cs, cluster, boot)
}

// restartStaleDNS deletes the CoreDNS pods that date from before the nodes
// came up again and have not been Ready since. After a node restart the kubelet starts
// them at once, before the API server and kube-proxy's rules are back, and
// their first request to the API's service address then hangs for the
// ~30 s TCP connect timeout: every Dagster pod waits on DNS that long. Their
// replacements start against a working API and serve within seconds
// (measured after `docker stop` of the node: Dagit back in 63 s before).
func (p *Provider) restartStaleDNS(ctx context.Context, cs kubernetes.Interface, cluster string, boot time.Time) {
	pods, err := cs.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{LabelSelector: dnsSelector})
	if err != nil {
		p.logger.Warnf("kind cluster %q: listing the DNS pods failed: %v", cluster, err)
		return
	}
	var restarted []string
	for _, pod := range pods.Items {
		if pod.DeletionTimestamp != nil || !pod.CreationTimestamp.Time.Before(boot) || readySince(&pod, boot) {
			continue
		}
		if err := cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
			p.logger.Warnf("kind cluster %q: restarting DNS pod %s failed: %v", cluster, pod.Name, err)
			continue
		}
		restarted = append(restarted, pod.Name)
	}
	if len(restarted) > 0 {
		p.logger.Infof("kind cluster %q: restarted DNS pod(s) %s: they started before the API server was back and would wait out a connection timeout", cluster, strings.Join(restarted, ", "))
	}
}

// staleStatusWait bounds the wait for the kubelet to report pods afresh.
const staleStatusWait = time.Minute

// waitPodStatusesCurrent waits until no pod still shows a Ready it had
// before boot.
func (p *Provider) waitPodStatusesCurrent(ctx context.Context, cs kubernetes.Interface, cluster string, boot time.Time) {
	ctx, cancel := context.WithTimeout(ctx, staleStatusWait)
	defer cancel()
	var stale []string
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		stale = stale[:0]
		for _, pod := range pods.Items {
			if pod.DeletionTimestamp == nil && readyBefore(&pod, boot) {
				stale = append(stale, pod.Namespace+"/"+pod.Name)
			}
		}
		return len(stale) == 0, nil
	})
	if err != nil && ctx.Err() != nil && len(stale) > 0 {
		p.logger.Warnf("kind cluster %q: %d pod(s) still report the Ready they had before the restart: %s", cluster, len(stale), strings.Join(stale, ", "))
	}
}

// readyAt is when the pod last became Ready; ok is false when it is not
// Ready. Right after a restart the API may still show the Ready it had
// before the node stopped, which says nothing about the container running
// now, hence readyBefore and readySince. The API keeps whole seconds, so t
// is compared at that precision.
func readyAt(pod *corev1.Pod) (at time.Time, ok bool) {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.LastTransitionTime.Time, c.Status == corev1.ConditionTrue
		}
	}
	return time.Time{}, false
}

// readyBefore reports a pod whose Ready dates from before t.
func readyBefore(pod *corev1.Pod, t time.Time) bool {
	at, ok := readyAt(pod)
	return ok && at.Before(t.Truncate(time.Second))
}

// readySince reports a pod that became Ready at or after t.
func readySince(pod *corev1.Pod, t time.Time) bool {
	at, ok := readyAt(pod)
	return ok && !at.Before(t.Truncate(time.Second))
}
