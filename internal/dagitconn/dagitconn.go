// Package dagitconn reaches Dagit from this machine. On a kind cluster
// dagster-dev created, the cluster's port mapping serves Dagit on
// 127.0.0.1:<hostPort> and the address never changes. On an existing
// cluster nothing does, so Dagit is reached through a port-forward to a
// Ready Dagit pod that moves to the new pod whenever Dagit rolls.
package dagitconn

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// Conn yields the base URL Dagit answers on from this machine.
type Conn interface {
	BaseURL(ctx context.Context) (string, error)
	// Describe says how Dagit is reached, for messages.
	Describe() string
	Close()
}

// Direct is the kind mode: a fixed URL.
type Direct string

func (d Direct) BaseURL(context.Context) (string, error) { return string(d), nil }
func (d Direct) Describe() string                        { return string(d) + " (kind port mapping)" }
func (d Direct) Close()                                  {}

// Release names the Dagit to forward to.
type Release struct {
	REST      *rest.Config
	Client    kubernetes.Interface
	Namespace string
	Name      string
}

// ReleaseOf is the config's release in the cluster kc is connected to.
func ReleaseOf(cfg *config.Config, kc *kube.Client) Release {
	return Release{REST: kc.REST, Client: kc.Clientset, Namespace: cfg.Namespace, Name: cfg.Release}
}

// For reaches the config's Dagit: through the kind cluster's port mapping,
// or on an existing cluster (cluster.context), which has none, through a
// port-forward that lives until ctx ends or Close.
func For(ctx context.Context, cfg *config.Config, kc *kube.Client) Conn {
	if cfg.ExistingCluster() {
		return NewForwarded(ctx, ReleaseOf(cfg, kc))
	}
	return Direct(cfg.DagitURL())
}

// Forwarded is the existing-cluster mode: each BaseURL checks that the
// forward still leads to a Ready pod and re-forwards to the newest Ready
// Dagit pod when it does not, so a caller that asks before every request
// rides out a roll. The local port is random and changes with the pod.
type Forwarded struct {
	rel Release
	// ctx bounds every forward; it outlives single requests.
	ctx context.Context

	mu  sync.Mutex
	pod *corev1.Pod
	fw  *kube.Forward
	url string
}

// NewForwarded forwards to rel's Dagit until ctx ends or Close.
func NewForwarded(ctx context.Context, rel Release) *Forwarded {
	return &Forwarded{rel: rel, ctx: ctx}
}

func (f *Forwarded) Describe() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pod == nil {
		return "a port-forward to a Dagit pod"
	}
	return fmt.Sprintf("%s (port-forward to pod %s)", f.url, f.pod.Name)
}

func (f *Forwarded) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopLocked()
}

func (f *Forwarded) stopLocked() {
	if f.fw != nil {
		f.fw.Close()
	}
	f.pod, f.fw, f.url = nil, nil, ""
}

func (f *Forwarded) BaseURL(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fw != nil && f.rel.alive(ctx, f.pod, f.fw) {
		return f.url, nil
	}
	f.stopLocked()
	pod, port, err := f.rel.Target(ctx)
	if err != nil {
		return "", err
	}
	fw, err := kube.PortForward(f.ctx, f.rel.REST, f.rel.Client, f.rel.Namespace, pod.Name, 0, port)
	if err != nil {
		return "", err
	}
	f.pod, f.fw = pod, fw
	f.url = fmt.Sprintf("http://%s:%d", kube.LocalAddress, fw.Local)
	return f.url, nil
}

// Target picks the Dagit pod to forward to, the newest Ready one (during a
// roll the oldest goes first), and the container port behind the Dagit
// Service.
func (r Release) Target(ctx context.Context) (*corev1.Pod, int, error) {
	pods, err := kube.ReadyPods(ctx, r.Client, r.Namespace, kube.ComponentSelector(r.Name, kube.ComponentDagit))
	if err != nil {
		return nil, 0, err
	}
	if len(pods) == 0 {
		return nil, 0, &NoPodError{Release: r.Name, Namespace: r.Namespace}
	}
	pod := &pods[len(pods)-1]
	port, err := r.Port(ctx, pod)
	return pod, port, err
}

// NoPodError says no Dagit pod is Ready to forward to.
type NoPodError struct{ Release, Namespace string }

func (e *NoPodError) Error() string {
	return fmt.Sprintf("no Ready Dagit pod (labels %s=%s, %s=%s) in namespace %s to port-forward to",
		kube.LabelInstance, e.Release, kube.LabelComponent, kube.ComponentDagit, e.Namespace)
}

func (e *NoPodError) Fix() string {
	return "run `dagster-dev up`, or `dagster-dev status` to see why Dagit is not Ready"
}

// alive reports whether a forward still leads to a Ready pod.
func (r Release) alive(ctx context.Context, pod *corev1.Pod, fw *kube.Forward) bool {
	select {
	case <-fw.Done:
		return false
	default:
	}
	cur, err := r.Client.CoreV1().Pods(r.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		// Keep a working forward through an API hiccup; drop it when the
		// pod is really gone.
		return !apierrors.IsNotFound(err)
	}
	return cur.UID == pod.UID && kube.PodReady(cur)
}

// Port is the container port behind the Dagit Service: its targetPort,
// resolved by name against the pod when it is a named port. Without a
// Service, the pod's port named "http" (the chart's) or its first port.
func (r Release) Port(ctx context.Context, pod *corev1.Pod) (int, error) {
	svcs, err := r.Client.CoreV1().Services(r.Namespace).List(ctx, metav1.ListOptions{LabelSelector: kube.ComponentSelector(r.Name, kube.ComponentDagit)})
	if err != nil {
		return 0, fmt.Errorf("finding the Dagit Service: %w", err)
	}
	target, fromService := intstr.FromString("http"), false
	if len(svcs.Items) > 0 && len(svcs.Items[0].Spec.Ports) > 0 {
		target, fromService = svcs.Items[0].Spec.Ports[0].TargetPort, true
	}
	if target.Type == intstr.Int && target.IntVal > 0 {
		return int(target.IntVal), nil
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == target.StrVal {
				return int(p.ContainerPort), nil
			}
		}
	}
	if !fromService && len(pod.Spec.Containers) > 0 && len(pod.Spec.Containers[0].Ports) > 0 {
		return int(pod.Spec.Containers[0].Ports[0].ContainerPort), nil
	}
	return 0, fmt.Errorf("pod %s has no port named %q, the Dagit Service's targetPort", pod.Name, target.StrVal)
}
