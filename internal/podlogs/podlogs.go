// Package podlogs reads and follows the logs of many pods' containers at
// once, through client-go (no kubectl): the pods are chosen by a label
// selector and a Match function that also names each one, so the caller
// decides what a line's prefix says. It is the engine of `dagster-dev
// logs`, and of the log tails the diagnostics of `up` and `test` show
// (Tail).
//
// Every log is requested with timestamps. They order the lines of several
// pods when a log is read once (Collect), and they are what makes a
// reconnect exact when a stream breaks while following (Follow): the
// stream is reopened from the second of the last line shown (the API's
// sinceTime has one-second precision) and the lines already shown are
// skipped by timestamp, counting those that share the last line's
// timestamp. Nothing is shown twice, and nothing is lost as long as the
// node still holds the log.
package podlogs

import (
	"context"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// Line is one log line of one container.
type Line struct {
	// Time is when the container runtime wrote the line; zero when the
	// line came without a timestamp.
	Time time.Time
	// Label names the pod and container (Source.Match's name, plus the
	// container when the pod has more than one).
	Label string
	Text  string
}

// Sink receives lines, and notices about the pods: a container whose log
// starts or ends, or one that cannot be read. It must be safe for
// concurrent use; lines of one container arrive in order.
type Sink interface {
	Line(Line)
	Notice(label, text string)
}

// Source says which pods to read and what to call them.
type Source struct {
	Namespace string
	// Selector narrows the pods on the server ("" = every pod of the
	// namespace).
	Selector string
	// Match keeps a pod and names it; nil keeps every selected pod under
	// its own name.
	Match func(*corev1.Pod) (label string, ok bool)
}

func (s Source) match(p *corev1.Pod) (string, bool) {
	if s.Match == nil {
		return p.Name, true
	}
	return s.Match(p)
}

// Options are what `logs` takes from its flags.
type Options struct {
	// Since reads only lines newer than this (0 = all).
	Since time.Duration
	// Tail is how many of the last lines to read per container (< 0 =
	// all). When following, it applies only to the containers already
	// running when Follow starts; a container that starts later is read
	// from its first line.
	Tail int64
	// Previous reads the last terminated instance of each container that
	// restarted: what a crashed container said before it died.
	Previous bool
	// Finished also follows the containers that had already ended when
	// Follow started (Collect always reads them): a run's pods.
	Finished bool
}

// Opener opens one container's log. The default is the API's pods/log
// subresource; tests give a scripted one.
type Opener interface {
	Open(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error)
}

type apiOpener struct{ client kubernetes.Interface }

func (a apiOpener) Open(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return a.client.CoreV1().Pods(namespace).GetLogs(pod, opts).Stream(ctx)
}

// Reader reads logs; Client is required, Opener defaults to the API.
type Reader struct {
	Client kubernetes.Interface
	Opener Opener
	// Retry is the wait between reconnects of a broken stream (0 = 500 ms,
	// doubled up to 5 s).
	Retry time.Duration
}

func (r *Reader) opener() Opener {
	if r.Opener != nil {
		return r.Opener
	}
	return apiOpener{r.Client}
}

// target is one container of one pod.
type target struct {
	pod       *corev1.Pod
	container string
	label     string
}

// containers lists a pod's containers, init containers first, with their
// labels: the pod's name alone when it has one container, else
// "name:container".
func containers(p *corev1.Pod, name string) []target {
	var names []string
	for _, c := range p.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range p.Spec.Containers {
		names = append(names, c.Name)
	}
	out := make([]target, 0, len(names))
	for _, c := range names {
		label := name
		if len(names) > 1 {
			label = name + ":" + c
		}
		out = append(out, target{pod: p, container: c, label: label})
	}
	return out
}

// containerStatus finds a container's status, init containers included.
func containerStatus(p *corev1.Pod, container string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == container {
				return &list[i]
			}
		}
	}
	return nil
}

// started reports whether a container has a log to read: it runs or ran.
// Its ID names the instance: a restart gives a new one.
func started(p *corev1.Pod, container string) (id string, running, ok bool) {
	st := containerStatus(p, container)
	if st == nil || st.ContainerID == "" {
		return "", false, false
	}
	if st.State.Running == nil && st.State.Terminated == nil {
		return "", false, false
	}
	return st.ContainerID, st.State.Running != nil, true
}

// restarted reports whether a container has a terminated earlier instance
// whose log --previous can read.
func restarted(p *corev1.Pod, container string) bool {
	st := containerStatus(p, container)
	return st != nil && (st.RestartCount > 0 || st.LastTerminationState.Terminated != nil)
}
