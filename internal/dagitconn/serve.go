package dagitconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// PortInUseError says the local port to serve Dagit on is taken.
type PortInUseError struct {
	Port int
	Err  error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("%s:%d is already in use", kube.LocalAddress, e.Port)
}

func (e *PortInUseError) Fix() string {
	return fmt.Sprintf("stop what listens there (`ss -ltnp 'sport = :%d'` shows it), or pass --port with a free port", e.Port)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// Serve forwards 127.0.0.1:port to the release's Dagit until ctx ends,
// like a `kubectl port-forward` that survives Dagit's rolls: when the pod
// it leads to goes away or stops being Ready, or the connection breaks, it
// forwards the same local port to the newest Ready Dagit pod. ready is
// called with the URL once it first serves; report tells each switch.
func (r Release) Serve(ctx context.Context, port int, ready func(url string), report func(format string, args ...any)) error {
	addr := net.JoinHostPort(kube.LocalAddress, strconv.Itoa(port))
	if l, err := net.Listen("tcp", addr); err != nil {
		return &PortInUseError{Port: port, Err: err}
	} else {
		l.Close()
	}
	url := "http://" + addr
	var (
		pod     *corev1.Pod
		fw      *kube.Forward
		waiting bool
	)
	defer func() {
		if fw != nil {
			fw.Close()
		}
	}()
	// Every second: keep the forward while its pod is Ready, else make a
	// new one to the newest Ready pod.
	_ = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		if fw != nil {
			if r.alive(ctx, pod, fw) {
				return false, nil
			}
			fw.Close()
			<-fw.Done
			fw = nil
			if ctx.Err() == nil {
				report("pod %s is gone or not Ready; moving to the new Dagit pod", pod.Name)
			}
		}
		next, remote, err := r.Target(ctx)
		if err != nil {
			var np *NoPodError
			switch {
			case !errors.As(err, &np):
				report("finding Dagit: %v (retrying)", err)
			case !waiting:
				report("waiting for a Ready Dagit pod…")
			}
			waiting = true
			return false, nil
		}
		waiting = false
		nextFw, err := kube.PortForward(ctx, r.REST, r.Client, r.Namespace, next.Name, port, remote)
		if err != nil {
			report("%v (retrying)", err)
			return false, nil
		}
		if pod == nil && ready != nil {
			ready(url)
		}
		pod, fw = next, nextFw
		report("forwarding %s -> pod %s port %d", url, pod.Name, remote)
		return false, nil
	})
	return nil
}
