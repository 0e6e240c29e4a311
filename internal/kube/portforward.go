package kube

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// Forward is a running port-forward from this machine to a pod.
type Forward struct {
	// Local is the local port (the one asked for, or the one the kernel
	// chose for 0).
	Local int
	// Done is closed when the forward stops: its context ended, the pod
	// went away or the connection broke.
	Done <-chan struct{}
	stop func()
}

// Close stops the forward.
func (f *Forward) Close() { f.stop() }

// LocalAddress is the only address dagster-dev forwards from: nothing it
// opens is reachable from another machine.
const LocalAddress = "127.0.0.1"

// PortForward forwards LocalAddress:localPort (0 = any free port) to
// remotePort of a pod, like `kubectl port-forward`, through client-go. It
// returns once the local port listens.
func PortForward(ctx context.Context, cfg *rest.Config, client kubernetes.Interface, namespace, pod string, localPort, remotePort int) (*Forward, error) {
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	url := client.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, url)
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	var errOut bytes.Buffer
	fw, err := portforward.NewOnAddressesWithContext(ctx, dialer, []string{LocalAddress},
		[]string{strconv.Itoa(localPort) + ":" + strconv.Itoa(remotePort)}, ready, io.Discard, &errOut)
	if err != nil {
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	failed := make(chan error, 1)
	go func() {
		defer close(done)
		defer cancel()
		if err := fw.ForwardPorts(); err != nil {
			failed <- err
		}
	}()
	select {
	case <-ready:
	case err := <-failed:
		cancel()
		if msg := strings.TrimSpace(errOut.String()); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return nil, fmt.Errorf("port-forward to pod %s port %d: %w", pod, remotePort, err)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		cancel()
		return nil, fmt.Errorf("port-forward to pod %s port %d: not ready after 30s", pod, remotePort)
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		cancel()
		return nil, fmt.Errorf("port-forward to pod %s: no local port: %v", pod, err)
	}
	return &Forward{Local: int(ports[0].Local), Done: done, stop: cancel}, nil
}
