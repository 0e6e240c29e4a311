package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/text"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/dagster-dev/dagster-dev/internal/dagit"
)

// dagitAccess yields the base URL Dagit answers on from this machine.
type dagitAccess interface {
	BaseURL(ctx context.Context) (string, error)
	// Describe says how Dagit is reached, for messages.
	Describe() string
	Close()
}

// directDagit is the kind mode: the cluster was created with a port mapping
// 127.0.0.1:<hostPort> -> Dagit's NodePort, so the URL never changes, even
// while Dagit pods roll.
type directDagit struct{ url string }

func (d directDagit) BaseURL(context.Context) (string, error) { return d.url, nil }
func (d directDagit) Describe() string                        { return d.url + " (kind port mapping)" }
func (d directDagit) Close()                                  {}

// forwardedDagit is the existing-cluster mode: there is no port mapping, so
// the suite port-forwards 127.0.0.1:<random> to a Ready Dagit pod, like
// `kubectl port-forward`. A forward is bound to one pod, and the env cases
// roll Dagit, so each call checks the pod is still the live one and
// re-forwards to a new pod when it is not.
type forwardedDagit struct {
	k *kubeClient
	// ctx bounds every forward; it outlives single requests.
	ctx context.Context

	mu     sync.Mutex
	pod    string
	uid    string
	url    string
	done   <-chan struct{}
	cancel context.CancelFunc
}

func newForwardedDagit(ctx context.Context, k *kubeClient) *forwardedDagit {
	return &forwardedDagit{k: k, ctx: ctx}
}

func (f *forwardedDagit) Describe() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pod == "" {
		return "a port-forward to a Dagit pod"
	}
	return fmt.Sprintf("%s (port-forward to pod %s)", f.url, f.pod)
}

func (f *forwardedDagit) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopLocked()
}

func (f *forwardedDagit) stopLocked() {
	if f.cancel != nil {
		f.cancel()
	}
	f.pod, f.uid, f.url, f.done, f.cancel = "", "", "", nil, nil
}

func (f *forwardedDagit) BaseURL(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.url != "" && f.alive(ctx) {
		return f.url, nil
	}
	f.stopLocked()
	pods, err := f.k.componentPods(ctx, chart.ComponentDagit)
	if err != nil {
		return "", err
	}
	if len(pods) == 0 {
		return "", fmt.Errorf("no Ready Dagit pod (labels %s=%s, %s=%s) in namespace %s to port-forward to", kube.LabelInstance, f.k.release, kube.LabelComponent, chart.ComponentDagit, f.k.namespace)
	}
	pod := &pods[len(pods)-1] // the newest: during a roll the oldest goes first
	port, err := f.k.dagitPort(ctx, pod)
	if err != nil {
		return "", err
	}
	fctx, cancel := context.WithCancel(f.ctx)
	local, done, err := f.k.portForward(fctx, pod.Name, port)
	if err != nil {
		cancel()
		return "", err
	}
	f.pod, f.uid, f.done, f.cancel = pod.Name, string(pod.UID), done, cancel
	f.url = fmt.Sprintf("http://127.0.0.1:%d", local)
	return f.url, nil
}

// alive reports whether the current forward still leads to a Ready pod.
func (f *forwardedDagit) alive(ctx context.Context) bool {
	select {
	case <-f.done:
		return false
	default:
	}
	pod, err := f.k.client.CoreV1().Pods(f.k.namespace).Get(ctx, f.pod, metav1.GetOptions{})
	if err != nil {
		// Keep a working forward through an API hiccup; drop it when the
		// pod is really gone.
		return !apierrors.IsNotFound(err)
	}
	return string(pod.UID) == f.uid && podReady(pod)
}

// dagitPort is the container port behind the Dagit Service: its targetPort,
// resolved by name against the pod when it is a named port. Without a
// Service, the pod's port named "http" (the chart's) or its first port.
func (k *kubeClient) dagitPort(ctx context.Context, pod *corev1.Pod) (int, error) {
	svcs, err := k.client.CoreV1().Services(k.namespace).List(ctx, metav1.ListOptions{LabelSelector: kube.ComponentSelector(k.release, chart.ComponentDagit)})
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

// Poll controls a wait loop: how often to ask and for how long.
type Poll = dagit.Poll

// parentDone distinguishes "our own timeout fired" from "the caller gave
// up" (Ctrl-C): only the former is a test failure worth a message.
func parentDone(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), context.Canceled)
}

// ServerInfo is Dagit's /server_info answer.
type ServerInfo struct {
	WebserverVersion string `json:"dagster_webserver_version"`
	DagsterVersion   string `json:"dagster_version"`
	GraphQLVersion   string `json:"dagster_graphql_version"`
}

// getServerInfo asks Dagit's health endpoint, the one the chart's readiness
// probe uses. A 200 with a JSON body naming the Dagster version is the
// answer of a working webserver, not of some other process on the port.
func getServerInfo(ctx context.Context, client *http.Client, base string) (ServerInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/server_info", nil)
	if err != nil {
		return ServerInfo{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return ServerInfo{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return ServerInfo{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return ServerInfo{}, fmt.Errorf("GET /server_info: HTTP %d: %s", resp.StatusCode, text.Snippet(body))
	}
	var info ServerInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return ServerInfo{}, fmt.Errorf("GET /server_info: not JSON (%v): %s", err, text.Snippet(body))
	}
	if info.DagsterVersion == "" {
		return ServerInfo{}, fmt.Errorf("GET /server_info: no dagster_version in %s", text.Snippet(body))
	}
	return info, nil
}

// waitServerInfo retries getServerInfo until it succeeds or p.Timeout.
func waitServerInfo(ctx context.Context, client *http.Client, base func(context.Context) (string, error), p Poll) (ServerInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	var lastErr error
	for {
		url, err := base(ctx)
		if err == nil {
			var info ServerInfo
			if info, err = getServerInfo(ctx, client, url); err == nil {
				return info, nil
			}
		}
		if ctx.Err() == nil {
			// An error caused by the deadline itself says nothing new;
			// keep the one before it.
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if parentDone(ctx) {
				return ServerInfo{}, ctx.Err()
			}
			if lastErr == nil {
				return ServerInfo{}, fmt.Errorf("no answer from Dagit within %s", p.Timeout)
			}
			return ServerInfo{}, fmt.Errorf("no answer from Dagit within %s: %w", p.Timeout, lastErr)
		case <-time.After(p.Every()):
		}
	}
}
