package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
)

// Labels kind puts on every node container
// (pkg/cluster/internal/providers/docker/constants.go). They are internal to
// kind, so they are repeated here; they have not changed since kind v0.6.
const (
	kindClusterLabel = "io.x-k8s.kind.cluster"
	kindRoleLabel    = "io.x-k8s.kind.role"
)

// Node roles as kind labels them.
const (
	RoleControlPlane = "control-plane"
	RoleWorker       = "worker"
	roleExternalLB   = "external-load-balancer"
)

// apiServerContainerPort is the port kind publishes for the API server on the
// control-plane (common.APIServerInternalPort); it is not a user mapping.
const apiServerContainerPort = "6443/tcp"

// nodeContainer is what dagster-dev needs to know about one node container,
// read from the Docker Engine API. It works for stopped containers too,
// which is why drift is read here and not from Kubernetes.
type nodeContainer struct {
	ID    string
	Name  string
	Role  string
	State string // Docker state: running, exited, created, paused, restarting, removing, dead
	// StartedAt is when the container last started (zero if never).
	StartedAt time.Time
	Image     string // image reference the container was created from (Config.Image)
	// Ports are the user port mappings (API server excluded), as
	// "127.0.0.1:3000->30080/tcp", sorted.
	Ports []string
	// Mounts are the bind mounts, as "/host/dir -> /node/dir", sorted.
	Mounts []string
}

// listNodeContainers returns the node containers of cluster name, control-plane
// first, then by name. No containers means the cluster does not exist.
func listNodeContainers(ctx context.Context, dc DockerClient, name string) ([]nodeContainer, error) {
	list, err := dc.ContainerList(ctx, container.ListOptions{
		All:     true, // stopped nodes belong to the cluster too
		Filters: filters.NewArgs(filters.Arg("label", kindClusterLabel+"="+name)),
	})
	if err != nil {
		return nil, fmt.Errorf("list node containers of cluster %q: %w", name, err)
	}
	out := make([]nodeContainer, 0, len(list))
	for _, s := range list {
		// Inspect rather than trust the summary: the summary's Ports are only
		// the live bindings (empty while stopped), HostConfig.PortBindings is
		// what the container was created with.
		ins, err := dc.ContainerInspect(ctx, s.ID)
		if err != nil {
			return nil, fmt.Errorf("inspect node container %s: %w", strings.Join(s.Names, ","), err)
		}
		n := nodeContainer{
			ID:    s.ID,
			Name:  strings.TrimPrefix(ins.Name, "/"),
			Role:  s.Labels[kindRoleLabel],
			State: s.State,
			Image: s.Image,
		}
		if ins.Config != nil {
			n.Image = ins.Config.Image
		}
		if ins.State != nil {
			n.State = ins.State.Status
			n.StartedAt, _ = time.Parse(time.RFC3339Nano, ins.State.StartedAt)
		}
		if ins.HostConfig != nil {
			for port, bindings := range ins.HostConfig.PortBindings {
				if string(port) == apiServerContainerPort {
					continue
				}
				for _, b := range bindings {
					n.Ports = append(n.Ports, formatBinding(b.HostIP, b.HostPort, string(port)))
				}
			}
		}
		for _, m := range ins.Mounts {
			if m.Type == mount.TypeBind {
				n.Mounts = append(n.Mounts, Mount{HostPath: m.Source, NodePath: m.Destination}.String())
			}
		}
		sort.Strings(n.Ports)
		sort.Strings(n.Mounts)
		out = append(out, n)
	}
	sortNodes(out)
	return out, nil
}

func sortNodes(ns []nodeContainer) {
	rank := func(role string) int {
		switch role {
		case RoleControlPlane:
			return 0
		case RoleWorker:
			return 1
		default:
			return 2
		}
	}
	sort.SliceStable(ns, func(i, j int) bool {
		if ri, rj := rank(ns[i].Role), rank(ns[j].Role); ri != rj {
			return ri < rj
		}
		return ns[i].Name < ns[j].Name
	})
}

// formatBinding renders one port binding; an empty host IP is Docker's
// "all interfaces".
func formatBinding(hostIP, hostPort, containerPort string) string {
	if hostIP == "" {
		hostIP = "0.0.0.0"
	}
	return fmt.Sprintf("%s:%s->%s", hostIP, hostPort, containerPort)
}

// wantPorts is the port mapping list a spec produces, in nodeContainer.Ports form.
func wantPorts(s Spec) []string {
	if s.HostPort == 0 {
		return nil
	}
	return []string{formatBinding(hostListenAddress, fmt.Sprint(s.HostPort), fmt.Sprintf("%d/tcp", s.NodePort))}
}

// controlPlane returns the first control-plane node container, or nil.
func controlPlane(ns []nodeContainer) *nodeContainer {
	for i := range ns {
		if ns[i].Role == RoleControlPlane {
			return &ns[i]
		}
	}
	return nil
}
