package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/podlogs"
	"github.com/dagster-dev/dagster-dev/internal/readiness"
	"github.com/dagster-dev/dagster-dev/sources"
)

// Names cases.go, dagit.go and release.go still use; internal/kube and
// chart own them. Remove once those files name kube.* and chart.*.
const ()

// kubeClient bundles what the suite needs to talk to the cluster.
type kubeClient struct {
	rest      *rest.Config
	client    kubernetes.Interface
	namespace string
	release   string
}

// workload is one Deployment/StatefulSet/DaemonSet of the release.
type workload struct {
	Kind      string
	Name      string
	Component string
	selector  labels.Selector
	status    readiness.WorkloadStatus
	// refs are the ConfigMaps and Secrets its pod template reads
	// ("ConfigMap/name"), as watch computes them.
	refs map[string]bool
}

func (w workload) ID() string { return w.Kind + "/" + w.Name }

// releaseWorkloads lists the release's workloads with their rollout state.
func (k *kubeClient) releaseWorkloads(ctx context.Context) ([]workload, error) {
	ws, err := kube.ReleaseWorkloads(ctx, k.client, k.namespace, k.release)
	if err != nil {
		return nil, fmt.Errorf("listing the workloads of release %s in %s: %w", k.release, k.namespace, err)
	}
	rss, err := kube.ListReplicaSets(ctx, k.client, k.namespace, "")
	if err != nil {
		return nil, fmt.Errorf("listing ReplicaSets in %s: %w", k.namespace, err)
	}
	pods, err := kube.ListPods(ctx, k.client, k.namespace, "")
	if err != nil {
		return nil, fmt.Errorf("listing pods in %s: %w", k.namespace, err)
	}
	now := time.Now()
	var out []workload
	for _, w := range ws.All() {
		s, err := metav1.LabelSelectorAsSelector(w.Selector)
		if err != nil {
			s = labels.Nothing()
		}
		comp := w.Template.Labels[kube.LabelComponent]
		if comp == "" {
			comp = w.Meta.Labels[kube.LabelComponent]
		}
		out = append(out, workload{Kind: w.Kind, Name: w.Meta.Name, Component: comp, selector: s,
			status: readiness.ProgressOf(w, rss, pods, now), refs: sources.TemplateRefs(&w.Template.Spec)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out, nil
}

// findWorkload returns the release workload with the component label, or
// else the first one whose name contains nameHint (a subchart whose labels
// were changed).
func findWorkload(ws []workload, component, nameHint string) (workload, bool) {
	for _, w := range ws {
		if component != "" && w.Component == component {
			return w, true
		}
	}
	if nameHint != "" {
		for _, w := range ws {
			if strings.Contains(w.Name, nameHint) {
				return w, true
			}
		}
	}
	return workload{}, false
}

// readyPods returns the Running, Ready pods that match sel and are not
// being deleted, oldest first.
func (k *kubeClient) readyPods(ctx context.Context, sel labels.Selector) ([]corev1.Pod, error) {
	return kube.ReadyPods(ctx, k.client, k.namespace, sel.String())
}

// componentPods returns the Ready pods of a chart component.
func (k *kubeClient) componentPods(ctx context.Context, component string) ([]corev1.Pod, error) {
	return kube.ReadyPods(ctx, k.client, k.namespace, kube.ComponentSelector(k.release, component))
}

// execError is a command that ran in a container and exited non-zero, or
// could not be started there.
type execError struct {
	Pod, Container string
	Command        []string
	Stderr         string
	Err            error
}

func (e *execError) Error() string {
	msg := fmt.Sprintf("exec %q in pod %s (container %s): %v", strings.Join(e.Command, " "), e.Pod, e.Container, e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

func (e *execError) Unwrap() error { return e.Err }

// exec runs cmd in a container (the pod's first when container is empty)
// over the pods/exec subresource with SPDY, like `kubectl exec`, and
// returns its stdout.
func (k *kubeClient) exec(ctx context.Context, pod *corev1.Pod, container string, cmd ...string) (string, error) {
	if container == "" {
		container = pod.Spec.Containers[0].Name
	}
	req := k.client.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container,
			Command:   cmd,
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(k.rest, http.MethodPost, req.URL())
	if err != nil {
		return "", &execError{Pod: pod.Name, Container: container, Command: cmd, Err: err}
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil {
		return stdout.String(), &execError{Pod: pod.Name, Container: container, Command: cmd, Stderr: stderr.String(), Err: err}
	}
	return stdout.String(), nil
}

// podEnv reads a container's environment with `printenv` run inside it:
// what the process sees, after Kubernetes resolved env and envFrom, which a
// look at the pod spec cannot show.
func (k *kubeClient) podEnv(ctx context.Context, pod *corev1.Pod, container string) (map[string]string, error) {
	out, err := k.exec(ctx, pod, container, "printenv")
	if err != nil {
		return nil, err
	}
	return parsePrintenv(out), nil
}

// parsePrintenv parses `printenv` output. A line without "=" continues the
// previous value (a multi-line variable).
func parsePrintenv(out string) map[string]string {
	env := map[string]string{}
	last := ""
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && k != "" && !strings.ContainsAny(k, " \t") {
			env[k] = v
			last = k
			continue
		}
		if last != "" {
			env[last] += "\n" + line
		}
	}
	return env
}

// podLogs returns the last lines of a container's log (all of it when
// tail <= 0; the pod's only container when container is "").
func (k *kubeClient) podLogs(ctx context.Context, pod, container string, tail int64, previous bool) (string, error) {
	return podlogs.Tail(ctx, k.client, k.namespace, pod, container, tail, previous)
}

// jobsOfRun lists the Kubernetes Jobs Dagster created for a run: the run
// Job dagster-run-<id> and the step Jobs dagster-step-*, all labelled with
// the run ID.
func (k *kubeClient) jobsOfRun(ctx context.Context, runID string) ([]string, error) {
	list, err := k.client.BatchV1().Jobs(k.namespace).List(ctx, metav1.ListOptions{LabelSelector: kube.RunSelector(runID)})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list.Items))
	for _, j := range list.Items {
		names = append(names, j.Name)
	}
	sort.Strings(names)
	return names, nil
}

// podsOfRun lists the pods of a run's Jobs (run worker and step workers).
func (k *kubeClient) podsOfRun(ctx context.Context, runID string) ([]corev1.Pod, error) {
	return kube.ListPods(ctx, k.client, k.namespace, kube.RunSelector(runID))
}

// podUIDs maps pod name to UID for the Ready pods of each workload, to tell
// later whether a workload was restarted.
func (k *kubeClient) podUIDs(ctx context.Context, ws []workload) (map[string][]string, error) {
	out := map[string][]string{}
	for _, w := range ws {
		pods, err := k.readyPods(ctx, w.selector)
		if err != nil {
			return nil, err
		}
		var uids []string
		for _, p := range pods {
			uids = append(uids, string(p.UID))
		}
		sort.Strings(uids)
		out[w.ID()] = uids
	}
	return out, nil
}
