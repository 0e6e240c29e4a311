package cluster

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"sigs.k8s.io/kind/pkg/cluster/nodes"
)

// lowDiskBytes is free space below which a node's disk counts as full:
// etcd preallocates its 64 MiB WAL segments, and at a few MiB containerd
// cannot create a sandbox and runc cannot even exec.
const lowDiskBytes = 100 << 20

// crashedControlPlaneGrace is how long the API server may stay silent
// before a control plane that is not running counts as crashed rather than
// starting: a node container that has just started needs 10–15 s.
const crashedControlPlaneGrace = 20 * time.Second

// controlPlaneNode returns the cluster's control-plane node.
func (p *Provider) controlPlaneNode(name string) (nodes.Node, error) {
	all, err := p.kind.ListInternalNodes(name)
	if err != nil {
		return nil, fmt.Errorf("list nodes of kind cluster %q: %w", name, err)
	}
	for _, n := range all {
		if role, _ := n.Role(); role == RoleControlPlane {
			return n, nil
		}
	}
	return nil, fmt.Errorf("kind cluster %q has no control-plane node", name)
}

// CheckDisk reports a *DiskFullError when the disk under the cluster's
// nodes is (nearly) full: Docker's data root when the engine runs on this
// machine, and each node's image store as the node sees it. A node that
// cannot even run a command because the disk is full counts too. nil when
// there is room, or when nothing could be read.
func (p *Provider) CheckDisk(ctx context.Context, name string) error {
	dc, err := p.dockerClient()
	if err != nil {
		return nil
	}
	if info, err := dc.Info(ctx); err == nil {
		if free, ok := hostSpace(daemonHost(dc), info.DockerRootDir); ok && free < lowDiskBytes {
			return &DiskFullError{Where: "Docker's data root " + info.DockerRootDir, What: "the cluster's nodes (etcd, containers)", Free: free, Need: lowDiskBytes}
		}
	}
	all, err := p.kind.ListInternalNodes(name)
	if err != nil {
		return nil
	}
	for _, n := range all {
		free, err := nodeFree(ctx, n, nodeImageStore)
		switch {
		case noSpace(err):
			return &DiskFullError{Where: "node " + n.String(), What: "the node's writes (etcd, containers)", Free: freeUnknown, Err: err, Output: commandOutput(err)}
		case err == nil && free < lowDiskBytes:
			return &DiskFullError{Where: "node " + n.String(), What: "the node's writes (etcd, containers)", Free: free, Need: lowDiskBytes}
		}
	}
	return nil
}

// RestartCrashedControlPlane brings back a control plane that crashed
// while its node kept running, which is what a full disk does to etcd: the
// kubelet restarts etcd and the API server only after its crash back-off,
// up to 5 minutes once the disk has room again. When the API server does
// not answer and etcd or the API server has exited without a running
// successor, it restarts the kubelet, which starts them at once (pods keep
// running across a kubelet restart). It reports whether it did.
func (p *Provider) RestartCrashedControlPlane(ctx context.Context, name string) (bool, error) {
	n, err := p.controlPlaneNode(name)
	if err != nil {
		return false, err
	}
	if apiServerAnswers(ctx, n) || !controlPlaneCrashed(ctx, n) {
		return false, nil
	}
	if err := n.CommandContext(ctx, "systemctl", "restart", "kubelet").Run(); err != nil {
		return false, fmt.Errorf("restart the kubelet of node %s: %w", n.String(), err)
	}
	return true, nil
}

// apiServerAnswers asks the API server on its own node, past any port
// mapping or kubeconfig of the host.
func apiServerAnswers(ctx context.Context, n nodes.Node) bool {
	return n.CommandContext(ctx, "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "get", "--raw=/readyz").Run() == nil
}

// controlPlaneCrashed: etcd or kube-apiserver has an exited container and
// no running one.
func controlPlaneCrashed(ctx context.Context, n nodes.Node) bool {
	for _, c := range []string{"etcd", "kube-apiserver"} {
		running := containerIDs(ctx, n, c, "running")
		exited := containerIDs(ctx, n, c, "exited")
		if running == "" && exited != "" {
			return true
		}
	}
	return false
}

// containerIDs lists the node's containers named exactly name in state.
func containerIDs(ctx context.Context, n nodes.Node, name, state string) string {
	var out bytes.Buffer
	if err := n.CommandContext(ctx, "crictl", "ps", "--all", "--quiet", "--state", state, "--name", "^"+name+"$").SetStdout(&out).Run(); err != nil {
		return ""
	}
	return strings.TrimSpace(out.String())
}

// kickCrashedControlPlane runs RestartCrashedControlPlane once, if the
// API server has not answered for crashedControlPlaneGrace, until stop is
// closed: reusing a cluster whose etcd crashed then takes seconds, not the
// kubelet's back-off.
func (p *Provider) kickCrashedControlPlane(ctx context.Context, name string, stop <-chan struct{}) {
	select {
	case <-stop:
		return
	case <-ctx.Done():
		return
	case <-time.After(crashedControlPlaneGrace):
	}
	restarted, err := p.RestartCrashedControlPlane(ctx, name)
	switch {
	case err != nil:
		p.logger.Warnf("%v", err)
	case restarted:
		p.logger.Infof("kind cluster %q: etcd or the API server had crashed; restarted the control-plane node's kubelet, which starts them now instead of after its crash back-off (up to 5 min)", name)
	}
}
