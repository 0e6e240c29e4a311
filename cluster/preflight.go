package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// Minimum inotify limits. Debian/Ubuntu ship 8192 watches and 128
// instances; kind's known-issues page recommends 524288/512. The minimums
// are what a single Dagster stack (a dozen pods, each watched by kubelet and
// containerd) needs with room to spare.
const (
	MinInotifyWatches   = 65536
	MinInotifyInstances = 256
)

// Preflight checks what Ensure needs before anything is created, and reports
// every failed check (errors.Join of *DockerCLIMissingError,
// *DockerUnreachableError, *PortInUseError, *DiskFullError, *InotifyLimitError; find them
// with errors.As). Each error carries its cause and the fix.
//
// reuse says the caller will reuse an existing cluster named spec.Name if
// there is one (`dagster-dev up`): then a host port published by that
// cluster's own node container is busy by design and is not reported.
func (p *Provider) Preflight(ctx context.Context, spec Spec, reuse bool) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	want := spec.normalized()
	var errs []error

	if _, err := exec.LookPath("docker"); err != nil {
		errs = append(errs, &DockerCLIMissingError{Err: err})
	}

	dc, dockerErr := p.dockerClient()
	if dockerErr == nil {
		pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, dockerErr = dc.Ping(pingCtx)
		cancel()
		if dockerErr != nil {
			errs = append(errs, &DockerUnreachableError{Host: daemonHost(dc), Err: dockerErr})
		}
	} else {
		errs = append(errs, dockerErr)
	}
	dockerOK := dockerErr == nil

	var existing []nodeContainer
	if dockerOK {
		var err error
		if existing, err = listNodeContainers(ctx, dc, want.Name); err != nil {
			errs = append(errs, err)
		}
	}

	if want.HostPort != 0 && !(reuse && publishesHostPort(existing, want.HostPort)) {
		if err := checkPortFree(want.HostPort); err != nil {
			pe := &PortInUseError{Port: want.HostPort, Err: err}
			if dockerOK {
				pe.Holder = portHolder(ctx, dc, want.HostPort)
			}
			errs = append(errs, pe)
		}
	}

	// A full disk fails everything after this point, some of it half-way
	// (an etcd that crashes mid-upgrade): say so before anything is changed.
	if dockerOK {
		if len(existing) > 0 {
			if err := p.CheckDisk(ctx, want.Name); err != nil {
				errs = append(errs, err)
			}
		} else if err := dataRootLow(ctx, dc, "a new cluster"); err != nil {
			errs = append(errs, err)
		}
	}

	if err := checkInotify(p.procRoot); err != nil {
		errs = append(errs, err)
	}

	// Not an error: with a registry kind pulls the node image itself. But
	// offline the pull fails only after retries, so say it up front.
	if dockerOK && len(existing) == 0 {
		if _, err := dc.ImageInspect(ctx, want.NodeImage); cerrdefs.IsNotFound(err) {
			p.logger.Warnf("node image %s is not in the local Docker image store; kind will pull it, which needs a registry (on a machine without one run e2e/offline/prepare and set cluster.nodeImage)", want.NodeImage)
		}
	}
	return errors.Join(errs...)
}

// checkPortFree binds 127.0.0.1:port the way Docker will for the kind port
// mapping. On Linux a listener on 0.0.0.0:port makes this fail too.
func checkPortFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(hostListenAddress, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}

// publishesHostPort reports whether one of the node containers is
// configured to publish host port port.
func publishesHostPort(nodes []nodeContainer, port int) bool {
	suffix := ":" + strconv.Itoa(port) + "->"
	for _, n := range nodes {
		for _, b := range n.Ports {
			if strings.Contains(b, suffix) {
				return true
			}
		}
	}
	return false
}

// portHolder names the running container that publishes host port port, so
// the error can say "held by kind cluster X" instead of just "in use".
func portHolder(ctx context.Context, dc DockerClient, port int) string {
	list, err := dc.ContainerList(ctx, container.ListOptions{})
	if err != nil {
		return ""
	}
	for _, c := range list {
		for _, pt := range c.Ports {
			if int(pt.PublicPort) != port {
				continue
			}
			name := c.ID[:min(12, len(c.ID))]
			if len(c.Names) > 0 {
				name = strings.TrimPrefix(c.Names[0], "/")
			}
			if cl := c.Labels[kindClusterLabel]; cl != "" {
				return fmt.Sprintf("kind cluster %q, node container %s", cl, name)
			}
			return fmt.Sprintf("Docker container %s", name)
		}
	}
	return ""
}

// checkInotify reads the inotify sysctls under procRoot. A missing file (not
// Linux, or a restricted /proc) skips the check: nothing can be said then.
func checkInotify(procRoot string) error {
	settings := []struct {
		name string
		min  int64
	}{
		{"fs.inotify.max_user_watches", MinInotifyWatches},
		{"fs.inotify.max_user_instances", MinInotifyInstances},
	}
	var low []InotifySetting
	for _, s := range settings {
		file := filepath.Join(procRoot, "sys", filepath.FromSlash(strings.ReplaceAll(s.name, ".", "/")))
		data, err := os.ReadFile(file)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", file, err)
		}
		v, err := parseSysctlInt(string(data))
		if err != nil {
			return fmt.Errorf("parse %s: %w", file, err)
		}
		if v < s.min {
			low = append(low, InotifySetting{Name: s.name, Have: v, Want: s.min})
		}
	}
	if len(low) > 0 {
		return &InotifyLimitError{Low: low}
	}
	return nil
}

func parseSysctlInt(s string) (int64, error) {
	return strconv.ParseInt(strings.TrimSpace(s), 10, 64)
}

// daemonHost is the address the client talks to, for error messages.
func daemonHost(dc DockerClient) string {
	if h, ok := dc.(interface{ DaemonHost() string }); ok {
		return h.DaemonHost()
	}
	return os.Getenv("DOCKER_HOST")
}
