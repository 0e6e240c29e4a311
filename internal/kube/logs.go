package kube

import (
	"context"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// MaxLogBytes caps how much of a log TailLog reads: the server applies the
// line count, the cap guards against enormous lines.
const MaxLogBytes = 1 << 20

// TailLog returns the last lines of a container's log (the whole log when
// lines <= 0; the pod's only container when container is ""). previous
// reads the last terminated instance's log: what a crash-looping
// container said before it died. The error is the API's as it is.
func TailLog(ctx context.Context, client kubernetes.Interface, namespace, pod, container string, lines int64, previous bool) (string, error) {
	opts := &corev1.PodLogOptions{Container: container, Previous: previous}
	if lines > 0 {
		opts.TailLines = &lines
	}
	rc, err := client.CoreV1().Pods(namespace).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, MaxLogBytes))
	return string(b), err
}
