// Package cluster manages the kind cluster dagster-dev runs on: create or
// reuse (Ensure), Delete, Status, Preflight and image side-loading
// (LoadImages).
//
// Cluster creation and deletion go through kind's Go API
// (sigs.k8s.io/kind/pkg/cluster); everything dagster-dev reads or changes
// itself (node container state, port bindings, image archives, the ownership
// marker) goes through the Docker Engine API. Node readiness is polled with
// client-go rather than kind's wait, so the caller sees which node is not
// Ready and the wait honours the context.
//
// Note: kind's docker provider itself runs the `docker` CLI, so it must be on
// PATH even though this package never executes it; Preflight checks for it.
package cluster

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	kindlog "sigs.k8s.io/kind/pkg/log"
)

// Logger receives user-facing progress messages. Implementations must be safe
// for concurrent use: LoadImages logs from one goroutine per node.
type Logger interface {
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
}

// DockerClient is the part of the Docker Engine API this package uses.
// *github.com/docker/docker/client.Client implements it.
type DockerClient interface {
	Ping(ctx context.Context) (types.Ping, error)
	ServerVersion(ctx context.Context) (types.Version, error)
	Info(ctx context.Context) (system.Info, error)
	ClientVersion() string
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerUnpause(ctx context.Context, containerID string) error
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	VolumeRemove(ctx context.Context, volumeID string, force bool) error
	CopyToContainer(ctx context.Context, containerID, dstPath string, content io.Reader, options container.CopyToContainerOptions) error
	CopyFromContainer(ctx context.Context, containerID, srcPath string) (io.ReadCloser, container.PathStat, error)
	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageSave(ctx context.Context, imageIDs []string, opts ...client.ImageSaveOption) (io.ReadCloser, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
}

// Provider performs cluster operations. The zero value is not usable; use
// NewProvider.
type Provider struct {
	logger       Logger
	readyTimeout time.Duration
	procRoot     string // "/proc"; tests point it at a fake tree

	dockerOnce sync.Once
	docker     DockerClient
	dockerErr  error

	kind *kindcluster.Provider
}

// Option configures a Provider.
type Option func(*Provider)

// WithLogger sends progress messages (including kind's own status lines) to l.
// The default discards them.
func WithLogger(l Logger) Option {
	return func(p *Provider) {
		if l != nil {
			p.logger = l
		}
	}
}

// WithReadyTimeout bounds how long Ensure waits for the API server and all
// nodes to become Ready (default 5 minutes). The context deadline, if
// shorter, wins.
func WithReadyTimeout(d time.Duration) Option {
	return func(p *Provider) {
		if d > 0 {
			p.readyTimeout = d
		}
	}
}

// DefaultReadyTimeout is how long Ensure waits for nodes to become Ready
// unless WithReadyTimeout says otherwise. On a 2-core machine a fresh node
// is Ready in ~10–20 s; five minutes leaves room for a loaded laptop
// without hanging forever.
const DefaultReadyTimeout = 5 * time.Minute

// NewProvider returns a Provider. It does not contact Docker: a missing
// daemon is reported by the first operation (or by Preflight), with the fix.
func NewProvider(opts ...Option) *Provider {
	p := &Provider{
		logger:       nopLogger{},
		readyTimeout: DefaultReadyTimeout,
		procRoot:     "/proc",
	}
	for _, o := range opts {
		if o != nil {
			o(p)
		}
	}
	// Always the docker node provider: everything else in this package talks
	// to the Docker Engine API, so kind must not auto-detect podman/nerdctl.
	p.kind = kindcluster.NewProvider(
		kindcluster.ProviderWithLogger(kindLogger{p.logger}),
		kindcluster.ProviderWithDocker(),
	)
	return p
}

// dockerClient returns the client built from the environment (DOCKER_HOST
// etc.; tests put a fake in p.docker). API version negotiation is on so a
// newer client library works against an older daemon (the platform option
// of ImageSave is gated on it).
func (p *Provider) dockerClient() (DockerClient, error) {
	p.dockerOnce.Do(func() {
		if p.docker != nil {
			return
		}
		c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			p.dockerErr = fmt.Errorf("create Docker client: %w", err)
			return
		}
		p.docker = c
	})
	return p.docker, p.dockerErr
}

type nopLogger struct{}

func (nopLogger) Infof(string, ...any) {}
func (nopLogger) Warnf(string, ...any) {}

// kindLogger adapts Logger to kind's log.Logger so that kind's own progress
// lines ("Ensuring node image", "Starting control-plane") reach the same
// output as ours instead of being lost or printed to stdout. Only V(0) is
// forwarded: higher levels are kind's debug output.
type kindLogger struct{ l Logger }

var _ kindlog.Logger = kindLogger{}

func (k kindLogger) Warn(message string) { k.l.Warnf("%s", trimNL(message)) }
func (k kindLogger) Warnf(format string, args ...any) {
	k.l.Warnf("%s", trimNL(fmt.Sprintf(format, args...)))
}
func (k kindLogger) Error(message string) { k.l.Warnf("%s", trimNL(message)) }
func (k kindLogger) Errorf(format string, args ...any) {
	k.l.Warnf("%s", trimNL(fmt.Sprintf(format, args...)))
}
func (k kindLogger) V(level kindlog.Level) kindlog.InfoLogger {
	return kindInfoLogger{l: k.l, enabled: level <= 0}
}

type kindInfoLogger struct {
	l       Logger
	enabled bool
}

func (k kindInfoLogger) Info(message string) {
	if k.enabled {
		k.l.Infof("%s", trimNL(message))
	}
}
func (k kindInfoLogger) Infof(format string, args ...any) {
	if k.enabled {
		k.l.Infof("%s", trimNL(fmt.Sprintf(format, args...)))
	}
}
func (k kindInfoLogger) Enabled() bool { return k.enabled }

// trimNL drops the trailing newlines kind puts on its status lines; our
// Logger implementations add their own.
func trimNL(s string) string { return strings.TrimRight(s, "\n") }
