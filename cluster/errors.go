package cluster

import (
	"fmt"
	"strings"
	"time"
)

// FixableError is implemented by every error of this package that has a
// known remedy. Error() is only the headline; the CLI prints Fix() on its
// own line below it (cmd/dagster-dev's report), so it is never said twice.
type FixableError interface {
	error
	Fix() string
}

var (
	_ FixableError = (*DockerUnreachableError)(nil)
	_ FixableError = (*DockerCLIMissingError)(nil)
	_ FixableError = (*PortInUseError)(nil)
	_ FixableError = (*InotifyLimitError)(nil)
	_ FixableError = (*MissingImageError)(nil)
	_ FixableError = (*NotOwnedError)(nil)
	_ FixableError = (*NotReadyError)(nil)
	_ FixableError = (*DriftError)(nil)
)

// DockerUnreachableError: the Docker Engine API did not answer.
type DockerUnreachableError struct {
	Host string // DOCKER_HOST or the default socket, as the client saw it
	Err  error
}

func (e *DockerUnreachableError) Error() string {
	host := e.Host
	if host == "" {
		host = "the default Docker socket"
	}
	return fmt.Sprintf("Docker is not reachable at %s: %v", host, e.Err)
}
func (e *DockerUnreachableError) Unwrap() error { return e.Err }
func (e *DockerUnreachableError) Fix() string {
	return "start Docker: `sudo systemctl start docker` or `dockerd &`; on a machine with no registry run e2e/offline/prepare"
}

// DockerCLIMissingError: kind's Go API runs the `docker` binary for node
// operations, so the CLI must be on PATH even though dagster-dev itself
// only uses the Engine API.
type DockerCLIMissingError struct{ Err error }

func (e *DockerCLIMissingError) Error() string {
	return fmt.Sprintf("the docker CLI is not on PATH (kind runs it to manage node containers): %v", e.Err)
}
func (e *DockerCLIMissingError) Unwrap() error { return e.Err }
func (e *DockerCLIMissingError) Fix() string {
	return "install the Docker CLI (package docker-ce-cli or docker.io) or add its directory to PATH"
}

// PortInUseError: the Dagit host port cannot be bound on 127.0.0.1.
type PortInUseError struct {
	Port   int
	Holder string // e.g. `container "x"` when Docker publishes the port; "" if unknown
	Err    error
}

func (e *PortInUseError) Error() string {
	by := ""
	if e.Holder != "" {
		by = " (held by " + e.Holder + ")"
	}
	return fmt.Sprintf("host port 127.0.0.1:%d for Dagit is already in use%s: %v", e.Port, by, e.Err)
}
func (e *PortInUseError) Unwrap() error { return e.Err }
func (e *PortInUseError) Fix() string {
	return fmt.Sprintf("stop whatever listens on port %d (`ss -ltnp 'sport = :%d'` shows it), or set dagit.hostPort in dagster-dev.yaml to a free port", e.Port, e.Port)
}

// InotifySetting is one inotify sysctl and its value.
type InotifySetting struct {
	Name string // "fs.inotify.max_user_watches"
	Have int64
	Want int64 // minimum dagster-dev asks for
}

// InotifyLimitError: inotify limits are too low. They are not namespaced, so
// every kubelet, containerd and pod of every kind node shares the host's
// budget; when it runs out pods fail with "too many open files" (kind's
// known-issues page).
type InotifyLimitError struct{ Low []InotifySetting }

func (e *InotifyLimitError) Error() string {
	parts := make([]string, len(e.Low))
	for i, s := range e.Low {
		parts[i] = fmt.Sprintf("%s is %d, want at least %d", s.Name, s.Have, s.Want)
	}
	return "inotify limits are too low for kind nodes: " + strings.Join(parts, "; ")
}
func (e *InotifyLimitError) Fix() string {
	return "`sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512` (add both to /etc/sysctl.d/99-kind.conf to keep them after a reboot)"
}

// MissingImageError: an image listed for side-loading is not in the local
// Docker image store.
type MissingImageError struct {
	Image string
	Err   error
}

func (e *MissingImageError) Error() string {
	return fmt.Sprintf("image %q is not in the local Docker image store: %v", e.Image, e.Err)
}
func (e *MissingImageError) Unwrap() error { return e.Err }
func (e *MissingImageError) Fix() string {
	return fmt.Sprintf("`docker build -t %s …` or `docker pull %s` it, or remove it from images: in dagster-dev.yaml", e.Image, e.Image)
}

// NotOwnedError: Delete refuses a cluster dagster-dev did not create.
type NotOwnedError struct{ Cluster string }

func (e *NotOwnedError) Error() string {
	return fmt.Sprintf("kind cluster %q was not created by dagster-dev; refusing to delete it", e.Cluster)
}
func (e *NotOwnedError) Fix() string {
	return fmt.Sprintf("if you really want it gone, delete it yourself with `kind delete cluster --name %s`; or set cluster.name in dagster-dev.yaml to another name", e.Cluster)
}

// NotReadyError: the API server or a node did not become Ready in time.
type NotReadyError struct {
	Cluster string
	Waited  time.Duration
	Detail  string // the last thing that was not ready
	Err     error  // the context error or the last API error
}

func (e *NotReadyError) Error() string {
	return fmt.Sprintf("kind cluster %q not ready after %s: %s", e.Cluster, e.Waited.Round(time.Second), e.Detail)
}
func (e *NotReadyError) Unwrap() error { return e.Err }
func (e *NotReadyError) Fix() string {
	return fmt.Sprintf("inspect the node with `docker logs %s-control-plane` and `kubectl --context %s describe nodes`; if it stays broken run `dagster-dev down` then `dagster-dev up`", e.Cluster, KubeContext(e.Cluster))
}
