package dagitconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

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
	waiting := false
	first := true
	for ctx.Err() == nil {
		pod, remote, err := r.Target(ctx)
		if err != nil {
			var np *NoPodError
			if !errors.As(err, &np) {
				report("finding Dagit: %v (retrying)", err)
			} else if !waiting {
				report("waiting for a Ready Dagit pod…")
			}
			waiting = true
			if sleep(ctx, time.Second) != nil {
				break
			}
			continue
		}
		waiting = false
		fw, err := kube.PortForward(ctx, r.REST, r.Client, r.Namespace, pod.Name, port, remote)
		if err != nil {
			report("%v (retrying)", err)
			if sleep(ctx, time.Second) != nil {
				break
			}
			continue
		}
		if first {
			first = false
			if ready != nil {
				ready(url)
			}
		}
		report("forwarding %s -> pod %s port %d", url, pod.Name, remote)
		for r.alive(ctx, pod, fw) && sleep(ctx, time.Second) == nil {
		}
		fw.Close()
		<-fw.Done
		if ctx.Err() == nil {
			report("pod %s is gone or not Ready; moving to the new Dagit pod", pod.Name)
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
