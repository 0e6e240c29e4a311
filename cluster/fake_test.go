package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
)

// fakeDocker is an in-memory DockerClient for unit tests. It records the
// calls that change state so tests can assert nothing was touched.
type fakeDocker struct {
	mu            sync.Mutex
	pingErr       error
	apiVersion    string
	serverVersion types.Version
	info          system.Info
	containers    []container.Summary
	inspects      map[string]container.InspectResponse
	files         map[string][]byte // containerID + ":" + absolute path
	images        map[string]image.InspectResponse
	inspectOpts   int // ImageInspect calls that passed options

	started  []string
	saves    int
	imgCalls []string
}

var _ DockerClient = (*fakeDocker)(nil)

// ImageBuild is not faked: builds are tested against a real engine
// (imagebuild's integration test).
func (f *fakeDocker) ImageBuild(context.Context, io.Reader, build.ImageBuildOptions) (build.ImageBuildResponse, error) {
	return build.ImageBuildResponse{}, errors.New("fakeDocker: ImageBuild is not implemented")
}

func newFakeDocker() *fakeDocker {
	return &fakeDocker{
		apiVersion: "1.50",
		inspects:   map[string]container.InspectResponse{},
		files:      map[string][]byte{},
		images:     map[string]image.InspectResponse{},
	}
}

// addNode adds a kind node container. ports are "hostIP:hostPort->containerPort/proto".
func (f *fakeDocker) addNode(cluster, name, role, state, img string, ports map[string]nat.PortBinding) string {
	id := fmt.Sprintf("%064x", len(f.containers)+1)
	f.containers = append(f.containers, container.Summary{
		ID:     id,
		Names:  []string{"/" + name},
		Image:  img,
		State:  state,
		Labels: map[string]string{kindClusterLabel: cluster, kindRoleLabel: role},
	})
	pm := nat.PortMap{"6443/tcp": {{HostIP: "127.0.0.1", HostPort: "41234"}}}
	for cp, b := range ports {
		pm[nat.Port(cp)] = append(pm[nat.Port(cp)], b)
	}
	f.inspects[id] = container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID:         id,
			Name:       "/" + name,
			State:      &container.State{Status: state},
			HostConfig: &container.HostConfig{PortBindings: pm},
		},
		Config: &container.Config{Image: img},
	}
	return id
}

func (f *fakeDocker) Ping(context.Context) (types.Ping, error) { return types.Ping{}, f.pingErr }
func (f *fakeDocker) ServerVersion(context.Context) (types.Version, error) {
	return f.serverVersion, f.pingErr
}
func (f *fakeDocker) Info(context.Context) (system.Info, error) { return f.info, f.pingErr }
func (f *fakeDocker) ClientVersion() string                     { return f.apiVersion }

func (f *fakeDocker) ContainerList(_ context.Context, o container.ListOptions) ([]container.Summary, error) {
	if f.pingErr != nil {
		return nil, f.pingErr
	}
	var out []container.Summary
	for _, c := range f.containers {
		if !o.All && c.State != "running" {
			continue
		}
		if o.Filters.Len() > 0 && !o.Filters.MatchKVList("label", c.Labels) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

func (f *fakeDocker) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	r, ok := f.inspects[id]
	if !ok {
		return r, cerrdefs.ErrNotFound
	}
	return r, nil
}

func (f *fakeDocker) ContainerStart(_ context.Context, id string, _ container.StartOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, id)
	return nil
}

func (f *fakeDocker) ContainerRemove(_ context.Context, id string, _ container.RemoveOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.containers {
		if c.ID == id {
			f.containers = append(f.containers[:i], f.containers[i+1:]...)
			delete(f.inspects, id)
			return nil
		}
	}
	return fmt.Errorf("no such container: %s", id)
}

func (f *fakeDocker) VolumeRemove(context.Context, string, bool) error { return nil }

func (f *fakeDocker) ContainerUnpause(ctx context.Context, id string) error {
	return f.ContainerStart(ctx, id, container.StartOptions{})
}

func (f *fakeDocker) CopyToContainer(_ context.Context, id, dst string, content io.Reader, _ container.CopyToContainerOptions) error {
	if _, ok := f.inspects[id]; !ok {
		return cerrdefs.ErrNotFound
	}
	tr := tar.NewReader(content)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		f.files[id+":"+path.Join(dst, h.Name)] = b
	}
}

func (f *fakeDocker) CopyFromContainer(_ context.Context, id, src string) (io.ReadCloser, container.PathStat, error) {
	b, ok := f.files[id+":"+src]
	if !ok {
		return nil, container.PathStat{}, cerrdefs.ErrNotFound.WithMessage("Could not find the file " + src)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: path.Base(src), Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
	_, _ = tw.Write(b)
	_ = tw.Close()
	return io.NopCloser(&buf), container.PathStat{Name: path.Base(src), Size: int64(len(b))}, nil
}

func (f *fakeDocker) ImageInspect(_ context.Context, name string, opts ...client.ImageInspectOption) (image.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imgCalls = append(f.imgCalls, name)
	if len(opts) > 0 {
		f.inspectOpts++
	}
	r, ok := f.images[name]
	if !ok {
		return r, cerrdefs.ErrNotFound.WithMessage("No such image: " + name)
	}
	return r, nil
}

func (f *fakeDocker) ImageSave(context.Context, []string, ...client.ImageSaveOption) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saves++
	return nil, errors.New("fakeDocker: ImageSave not supported")
}

// fakeDockerCLI puts an executable named docker first on PATH, so the
// LookPath check passes without depending on the machine.
func fakeDockerCLI(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
}

// recLogger records log lines.
type recLogger struct {
	mu    sync.Mutex
	infos []string
	warns []string
}

func (l *recLogger) Infof(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.infos = append(l.infos, fmt.Sprintf(format, args...))
}

func (l *recLogger) Warnf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.warns = append(l.warns, fmt.Sprintf(format, args...))
}

// withDocker makes a Provider use c instead of a client built from the
// environment.
func withDocker(c DockerClient) Option {
	return func(p *Provider) { p.docker = c }
}
