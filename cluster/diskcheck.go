package cluster

import "context"

// lowDiskBytes is free space below which a node's disk counts as full:
// etcd preallocates its 64 MiB WAL segments, and at a few MiB containerd
// cannot create a sandbox and runc cannot even exec.
const lowDiskBytes = 100 << 20

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
	if err := dataRootLow(ctx, dc, "the cluster's nodes (etcd, containers)"); err != nil {
		return err
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

// dataRootLow reports a *DiskFullError for what when Docker's data root is
// on this machine and has less than lowDiskBytes free.
func dataRootLow(ctx context.Context, dc DockerClient, what string) error {
	info, err := dc.Info(ctx)
	if err != nil {
		return nil
	}
	if free, ok := hostSpace(daemonHost(dc), info.DockerRootDir); ok && free < lowDiskBytes {
		return &DiskFullError{Where: "Docker's data root " + info.DockerRootDir, What: what, Free: free, Need: lowDiskBytes}
	}
	return nil
}
