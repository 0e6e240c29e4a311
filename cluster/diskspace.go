package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"sigs.k8s.io/kind/pkg/cluster/nodes"
	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/dagster-dev/dagster-dev/internal/diskspace"
)

// nodeImageStore is where a node's containerd keeps image blobs and
// unpacked layers; on a kind node it is on the node's /var volume, which
// Docker keeps in its data root.
const nodeImageStore = "/var/lib/containerd"

// freeUnknown marks a DiskFullError whose free space could not be read.
const freeUnknown = -1

// DiskFullError: the disk that holds a node's data (Docker's data root)
// has no room for what up is doing. Need is set when the shortage was seen
// before writing anything; otherwise a write failed with ENOSPC (Err).
type DiskFullError struct {
	Where string // "node dagster-dev-control-plane" or "Docker's data root /var/lib/docker"
	What  string // what needed the space: "loading image x:1"
	Free  int64  // bytes available there; freeUnknown if unreadable
	Need  int64  // bytes What needs at least; 0 when a write failed
	Err   error
	// Output is what the failing command printed (ctr, docker), for Details.
	Output string
}

func (e *DiskFullError) Error() string {
	if e.Need > 0 {
		return fmt.Sprintf("not enough disk space for %s: %s has %s free, it needs at least %s",
			e.What, e.Where, diskspace.Bytes(e.Free), diskspace.Bytes(e.Need))
	}
	free := ""
	if e.Free != freeUnknown {
		// Read after the write failed, which gave back what it had taken.
		free = fmt.Sprintf(" (%s free after the failed write)", diskspace.Bytes(e.Free))
	}
	if e.Output != "" {
		// The command's own words (Details) say more than kind's
		// "command … failed with error: exit status 1".
		return fmt.Sprintf("the disk is full: %s failed on %s%s", e.What, e.Where, free)
	}
	return fmt.Sprintf("the disk is full: %s failed on %s%s: %v", e.What, e.Where, free, e.Err)
}

func (e *DiskFullError) Unwrap() error { return e.Err }

func (e *DiskFullError) Fix() string {
	return diskspace.Fix + "; then run `dagster-dev up` again, which continues where it stopped (a running `dagster-dev watch` carries on by itself)"
}

// Details is the failing command's own output, when it printed more than
// the error says.
func (e *DiskFullError) Details() string { return strings.TrimSpace(e.Output) }

var _ FixableError = (*DiskFullError)(nil)

// commandOutput is what a command run through kind's exec printed before
// it failed ("" for other errors): kind keeps it out of the error text.
func commandOutput(err error) string {
	var re *kindexec.RunError
	if errors.As(err, &re) {
		return string(re.Output)
	}
	return ""
}

// noSpace reports whether err, or the output of the command behind it,
// says the disk is full.
func noSpace(err error) bool {
	return err != nil && (diskspace.NoSpace(err.Error()) || diskspace.NoSpace(commandOutput(err)))
}

// nodeFree reads the bytes available to unprivileged writers on the
// filesystem holding path inside node n (statfs through coreutils' stat,
// which every kind node image has).
func nodeFree(ctx context.Context, n nodes.Node, path string) (int64, error) {
	var out bytes.Buffer
	if err := n.CommandContext(ctx, "stat", "--file-system", "--format=%a %S", path).SetStdout(&out).Run(); err != nil {
		return freeUnknown, fmt.Errorf("read free space of %s on node %s: %w", path, n.String(), err)
	}
	var blocks, size int64
	if _, err := fmt.Sscan(out.String(), &blocks, &size); err != nil {
		return freeUnknown, fmt.Errorf("read free space of %s on node %s: parse %q: %w", path, n.String(), out.String(), err)
	}
	return blocks * size, nil
}

// nodeSpace is one node's disk budget during a load: each image must fit
// in what is left before it is streamed. An image needs at least its
// unpacked size (its blobs take about as much again, less what it shares
// with images already there), so a shortage found here is certain, and a
// load that passes can still run out, which loadOne then reports.
type nodeSpace struct {
	mu   sync.Mutex // images of one node load concurrently
	free int64      // freeUnknown: unreadable (then nothing is checked)
	read bool
}

func (s *nodeSpace) reserve(ctx context.Context, n nodes.Node, img localImage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.read {
		s.read = true
		free, err := nodeFree(ctx, n, nodeImageStore)
		if err != nil {
			s.free = freeUnknown // an older or unusual node image: load and see
		} else {
			s.free = free
		}
	}
	if s.free == freeUnknown || img.Size <= 0 {
		return nil
	}
	if img.Size > s.free {
		return &DiskFullError{Where: "node " + n.String(), What: "loading image " + img.Name, Free: s.free, Need: img.Size}
	}
	s.free -= img.Size
	return nil
}

// diskFullLoad turns a failed load of img into a *DiskFullError when the
// node's disk is what failed it.
func diskFullLoad(ctx context.Context, n nodes.Node, img localImage, err error) error {
	if !noSpace(err) {
		return err
	}
	free, ferr := nodeFree(context.WithoutCancel(ctx), n, nodeImageStore)
	if ferr != nil {
		free = freeUnknown
	}
	return &DiskFullError{Where: "node " + n.String(), What: "loading image " + img.Name, Free: free, Err: err, Output: commandOutput(err)}
}

// hostSpace is the free space of Docker's data root when the engine runs on
// this machine (a unix socket and the directory exists here); ok is false
// when it cannot be known from here, e.g. Docker Desktop's VM.
func hostSpace(daemonHost, rootDir string) (free int64, ok bool) {
	if rootDir == "" || !(daemonHost == "" || strings.HasPrefix(daemonHost, "unix://")) {
		return 0, false
	}
	return statfsFree(rootDir)
}

// checkHostSpace fails before a cluster is created when Docker's data root
// cannot hold the images to load into its nodes: each node gets its own
// unpacked copy.
func checkHostSpace(daemonHost, rootDir string, images []localImage, nodeCount int) error {
	var need int64
	for _, img := range images {
		need += img.Size
	}
	need *= int64(max(nodeCount, 1))
	if need <= 0 {
		return nil
	}
	free, ok := hostSpace(daemonHost, rootDir)
	if !ok || free >= need {
		return nil
	}
	what := "loading 1 image into a new cluster"
	if len(images) != 1 {
		what = fmt.Sprintf("loading %d images into a new cluster", len(images))
	}
	return &DiskFullError{Where: "Docker's data root " + rootDir, What: what, Free: free, Need: need}
}

// diskFullCreate turns a failed kind create into a *DiskFullError when the
// disk is what failed it (Docker could not create the node containers, or
// kubeadm could not write inside them).
func diskFullCreate(daemonHost, rootDir string, err error) error {
	if !noSpace(err) {
		return err
	}
	free, ok := hostSpace(daemonHost, rootDir)
	if !ok {
		free = freeUnknown
	}
	where := "the Docker host"
	if rootDir != "" {
		where = "Docker's data root " + rootDir
	}
	return &DiskFullError{Where: where, What: "creating the cluster's nodes", Free: free, Err: err, Output: commandOutput(err)}
}
