package cluster

import (
	"context"
	"fmt"
	"time"
)

// ClusterStatus is what Docker knows about a kind cluster. It does not need
// the API server, so it works for stopped and broken clusters.
type ClusterStatus struct {
	Name        string
	Exists      bool
	Owned       bool      // created by dagster-dev
	CreatedAt   time.Time // from the ownership record; zero if not owned
	CreatedWith *Spec     // the spec recorded at creation; nil if not owned
	KubeContext string    // "kind-<name>"
	Nodes       []NodeStatus
}

// NodeStatus describes one node container.
type NodeStatus struct {
	Name  string
	Role  string // "control-plane", "worker" (or another kind role)
	State string // Docker container state: running, exited, paused, ...
	Image string // node image reference
	Ports []string
}

// Running reports whether every node container is running.
func (s *ClusterStatus) Running() bool {
	if !s.Exists {
		return false
	}
	for _, n := range s.Nodes {
		if n.State != "running" {
			return false
		}
	}
	return true
}

// Status reports whether cluster name exists, who created it and the state of
// each node container.
func (p *Provider) Status(ctx context.Context, name string) (*ClusterStatus, error) {
	dc, nodes, err := p.clusterNodes(ctx, "status", name)
	if err != nil {
		return nil, err
	}
	st := &ClusterStatus{Name: name, Exists: len(nodes) > 0, KubeContext: KubeContext(name)}
	for _, n := range nodes {
		st.Nodes = append(st.Nodes, NodeStatus{Name: n.Name, Role: n.Role, State: n.State, Image: n.Image, Ports: n.Ports})
	}
	if cp := controlPlane(nodes); cp != nil {
		rec, err := readOwner(ctx, dc, cp.ID)
		if err != nil {
			return nil, fmt.Errorf("status of kind cluster %q: %w", name, p.dockerError(err))
		}
		if rec != nil {
			st.Owned = true
			st.CreatedAt = rec.CreatedAt
			spec := rec.Spec
			st.CreatedWith = &spec
		}
	}
	return st, nil
}

// clusterNodes is the shared start of Delete and Status: a Docker client
// and the named cluster's node containers (none when it does not exist).
func (p *Provider) clusterNodes(ctx context.Context, verb, name string) (DockerClient, []nodeContainer, error) {
	if name == "" {
		return nil, nil, fmt.Errorf("%s: cluster name is empty", verb)
	}
	dc, err := p.dockerClient()
	if err != nil {
		return nil, nil, err
	}
	nodes, err := listNodeContainers(ctx, dc, name)
	if err != nil {
		return nil, nil, p.dockerError(err)
	}
	return dc, nodes, nil
}
