package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
)

// ImageLoadJob is a side-load running in the background (StartLoadImages).
type ImageLoadJob struct {
	done  chan struct{}
	loads []ImageLoad
	err   error
	// waited is how long the job waited for the nodes to take images
	// (kind still booting them); loading, how long the loads took after.
	waited, loading time.Duration
}

// Phases says, once Wait has returned, how long the job waited for the
// nodes to take images and how long it then loaded: the second is what
// compares with `kind load` into a Ready cluster.
func (j *ImageLoadJob) Phases() (waited, loading time.Duration) {
	<-j.done
	return j.waited, j.loading
}

// Wait blocks until the load has ended and returns what LoadImages would.
func (j *ImageLoadJob) Wait() ([]ImageLoad, error) {
	<-j.done
	return j.loads, j.err
}

// nodePollInterval is how often StartLoadImages looks whether the nodes
// take images yet: the API server answers 10–15 s after the node container
// starts, and kind then still needs ~10 s for the CNI and the node's Ready.
const nodePollInterval = 250 * time.Millisecond

// StartLoadImages side-loads images into the nodes of the cluster spec
// names as soon as every node's containerd and the control-plane's API
// server answer, which is before the cluster is Ready: call it before
// Ensure, and images load while kind finishes the cluster (or while stopped
// nodes start again) instead of after. On a cluster that is already running it is LoadImages in the
// background.
//
// The local images are resolved before it returns, so a missing image fails
// here, before a cluster is created, and so does a new cluster whose images
// cannot fit in Docker's data root (a *DiskFullError). The load then runs
// until it is done or ctx is cancelled (cancel it when Ensure fails); it
// waits for the nodes at most the ready timeout. report is as for
// LoadImages.
func (p *Provider) StartLoadImages(ctx context.Context, spec Spec, images []string, report func(ImageLoad)) (*ImageLoadJob, error) {
	plan, err := p.planLoad(ctx, images)
	if err != nil {
		return nil, err
	}
	job := &ImageLoadJob{done: make(chan struct{})}
	if plan == nil {
		close(job.done)
		return job, nil
	}
	want := spec.normalized()
	existing, err := listNodeContainers(ctx, plan.dc, want.Name)
	if err != nil {
		return nil, p.dockerError(err)
	}
	if len(existing) == 0 {
		if err := checkHostSpace(daemonHost(plan.dc), plan.rootDir, plan.images, want.Nodes); err != nil {
			return nil, err
		}
	}
	go func() {
		defer close(job.done)
		start := time.Now()
		kindNodes, err := p.waitImageNodes(ctx, plan.dc, want.Name, want.Nodes)
		job.waited = time.Since(start)
		if err != nil {
			job.err = err
			return
		}
		job.loads, job.err = p.load(ctx, want.Name, plan, kindNodes, report)
		job.loading = time.Since(start) - job.waited
	}()
	return job, nil
}

// waitImageNodes waits until imageNodes has want nodes for cluster name,
// and returns them control-plane first.
func (p *Provider) waitImageNodes(ctx context.Context, dc DockerClient, name string, want int) ([]nodes.Node, error) {
	ctx, cancel := context.WithTimeout(ctx, p.readyTimeout)
	defer cancel()
	start := time.Now()
	detail := "no node container yet"
	var ready []nodes.Node
	err := wait.PollUntilContextCancel(ctx, nodePollInterval, true, func(ctx context.Context) (bool, error) {
		var d string
		ready, d = p.imageNodes(ctx, dc, name, want)
		if ready == nil {
			detail = d
		}
		return ready != nil, nil
	})
	if errors.Is(err, context.Canceled) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("load images into kind cluster %q: its nodes did not accept images within %s: %s", name, time.Since(start).Round(time.Second), detail)
	}
	return ready, nil
}

// imageNodes returns the cluster's nodes if there are want of them, all
// running with containerd answering and the control-plane's API server
// ready; otherwise nil and what is missing.
func (p *Provider) imageNodes(ctx context.Context, dc DockerClient, name string, want int) ([]nodes.Node, string) {
	containers, err := listNodeContainers(ctx, dc, name)
	if err != nil {
		return nil, p.dockerError(err).Error()
	}
	var running []nodeContainer
	for _, c := range containers {
		if (c.Role == RoleControlPlane || c.Role == RoleWorker) && c.State == "running" {
			running = append(running, c)
		}
	}
	if len(running) < want {
		return nil, fmt.Sprintf("%d of %d node containers running", len(running), want)
	}
	all, err := p.kind.ListInternalNodes(name)
	if err != nil {
		return nil, err.Error()
	}
	out := orderNodes(all, running)
	for _, n := range out {
		// The node's entrypoint starts systemd, which starts containerd;
		// until then an import fails.
		if err := n.CommandContext(ctx, "ctr", "--namespace=k8s.io", "version").Run(); err != nil {
			return nil, fmt.Sprintf("containerd on node %s not answering yet", n.String())
		}
		// Not before the API server answers: kubeadm starting etcd and the
		// control plane needs both cores of a small machine, and an import
		// beside it slowed both down (measured: cluster 21 -> 25 s, images
		// 21 -> 38 s). From here kind only installs the CNI and waits.
		if role, _ := n.Role(); role == RoleControlPlane {
			if err := n.CommandContext(ctx, "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "get", "--raw=/readyz").Run(); err != nil {
				return nil, fmt.Sprintf("API server on node %s not ready yet", n.String())
			}
		}
	}
	if len(out) < want {
		return nil, fmt.Sprintf("%d of %d nodes listed", len(out), want)
	}
	return out, ""
}
