package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	kinderrors "sigs.k8s.io/kind/pkg/errors"
	kindexec "sigs.k8s.io/kind/pkg/exec"
)

// statNode is a kind node whose only command is the statfs read nodeFree
// runs; it answers with out, or fails with err.
type statNode struct {
	name string
	out  string
	err  error
	runs int
}

func (n *statNode) String() string              { return n.name }
func (n *statNode) Role() (string, error)       { return RoleControlPlane, nil }
func (n *statNode) IP() (string, string, error) { return "", "", nil }
func (n *statNode) SerialLogs(io.Writer) error  { return nil }
func (n *statNode) Command(c string, a ...string) kindexec.Cmd {
	return n.CommandContext(context.Background(), c, a...)
}
func (n *statNode) CommandContext(_ context.Context, c string, a ...string) kindexec.Cmd {
	return &statCmd{n: n, argv: append([]string{c}, a...)}
}

type statCmd struct {
	n      *statNode
	argv   []string
	stdout io.Writer
}

func (c *statCmd) Run() error {
	c.n.runs++
	if c.argv[0] != "stat" || c.argv[len(c.argv)-1] != nodeImageStore {
		return fmt.Errorf("unexpected command %q", c.argv)
	}
	if c.n.err != nil {
		return c.n.err
	}
	_, err := io.WriteString(c.stdout, c.n.out)
	return err
}
func (c *statCmd) SetEnv(...string) kindexec.Cmd      { return c }
func (c *statCmd) SetStdin(io.Reader) kindexec.Cmd    { return c }
func (c *statCmd) SetStdout(w io.Writer) kindexec.Cmd { c.stdout = w; return c }
func (c *statCmd) SetStderr(io.Writer) kindexec.Cmd   { return c }

func TestNodeSpaceReservesEachImage(t *testing.T) {
	ctx := context.Background()
	// 1000 blocks of 1 MiB free.
	n := &statNode{name: "dd-control-plane", out: "1000 1048576\n"}
	s := &nodeSpace{}
	small := localImage{Name: "postgres:15", Size: 300 << 20}
	big := localImage{Name: "dagster:1", Size: 600 << 20}
	if err := s.reserve(ctx, n, small); err != nil {
		t.Fatalf("300 MiB of 1000 MiB: %v", err)
	}
	err := s.reserve(ctx, n, big)
	if err != nil {
		t.Fatalf("600 MiB of the 700 MiB left: %v", err)
	}
	err = s.reserve(ctx, n, localImage{Name: "code:abc", Size: 200 << 20})
	var full *DiskFullError
	if !errors.As(err, &full) {
		t.Fatalf("200 MiB of the 100 MiB left: err = %v, want *DiskFullError", err)
	}
	if full.Free != 100<<20 || full.Need != 200<<20 || full.Where != "node dd-control-plane" {
		t.Errorf("error = %+v", full)
	}
	want := "not enough disk space for loading image code:abc: node dd-control-plane has 100.0 MiB free, it needs at least 200.0 MiB"
	if full.Error() != want {
		t.Errorf("Error() =\n  %s\nwant\n  %s", full.Error(), want)
	}
	if !strings.Contains(full.Fix(), "docker system prune") || !strings.Contains(full.Fix(), "dagster-dev up") {
		t.Errorf("Fix() = %q", full.Fix())
	}
	if n.runs != 1 {
		t.Errorf("free space read %d times, want once per load", n.runs)
	}
}

func TestNodeSpaceUnreadableChecksNothing(t *testing.T) {
	n := &statNode{name: "old-node", err: errors.New("stat: not found")}
	s := &nodeSpace{}
	if err := s.reserve(context.Background(), n, localImage{Name: "x:1", Size: math.MaxInt64}); err != nil {
		t.Errorf("unreadable free space: err = %v, want the load to go ahead", err)
	}
}

// importFailure is how kind reports a failed `ctr images import`: its exec
// error, wrapped by nodeutils, and then by streamImage; the ENOSPC text is
// only in the command's output.
func importFailure(output string) error {
	run := &kindexec.RunError{Command: []string{"docker", "exec", "ctr", "images", "import"}, Output: []byte(output), Inner: errors.New("exit status 1")}
	return fmt.Errorf("import into node after 123 bytes: %w", kinderrors.Wrap(run, "failed to load image"))
}

func TestDiskFullLoadReadsTheCommandOutput(t *testing.T) {
	n := &statNode{name: "dd-control-plane", out: "0 4096\n"}
	img := localImage{Name: "dagster:1"}
	output := `ctr: failed to ingest "blobs/sha256:ab": write /var/lib/containerd/io.containerd.content.v1.content/ingest/ab/data: no space left on device`
	err := diskFullLoad(context.Background(), n, img, importFailure(output))
	var full *DiskFullError
	if !errors.As(err, &full) {
		t.Fatalf("err = %v, want *DiskFullError", err)
	}
	if full.Error() != "the disk is full: loading image dagster:1 failed on node dd-control-plane (0 B free after the failed write)" {
		t.Errorf("Error() = %q", full.Error())
	}
	if full.Details() != output {
		t.Errorf("Details() = %q, want the ctr output", full.Details())
	}

	other := importFailure("ctr: content digest sha256:ab: not found")
	if err := diskFullLoad(context.Background(), n, img, other); err != other {
		t.Errorf("a load that failed otherwise: err = %v, want it unchanged", err)
	}
}

func TestCheckHostSpace(t *testing.T) {
	dir := t.TempDir()
	free, ok := statfsFree(dir)
	if !ok {
		t.Skip("statfs does not work here")
	}
	images := []localImage{{Name: "a:1", Size: free/2 + 1}, {Name: "b:1", Size: 1}}
	if err := checkHostSpace("unix:///var/run/docker.sock", dir, images, 1); err != nil {
		t.Errorf("half the free space: %v", err)
	}
	err := checkHostSpace("unix:///var/run/docker.sock", dir, images, 2)
	var full *DiskFullError
	if !errors.As(err, &full) || full.Need != 2*(free/2+2) || full.Where != "Docker's data root "+dir {
		t.Fatalf("two nodes of over half the free space each: err = %#v", err)
	}
	if !strings.HasPrefix(full.Error(), "not enough disk space for loading 2 images into a new cluster: Docker's data root "+dir+" has ") {
		t.Errorf("Error() = %q", full.Error())
	}
	// A remote engine's data root is not this machine's: nothing to read.
	if err := checkHostSpace("tcp://10.0.0.2:2376", dir, images, 2); err != nil {
		t.Errorf("remote engine: %v", err)
	}
	if err := checkHostSpace("unix:///var/run/docker.sock", dir+"/missing", images, 2); err != nil {
		t.Errorf("data root not on this machine: %v", err)
	}
}

func TestDiskFullCreate(t *testing.T) {
	run := &kindexec.RunError{Command: []string{"docker", "run"}, Output: []byte("docker: Error response from daemon: mkdir /var/lib/docker/volumes/x: no space left on device."), Inner: errors.New("exit status 125")}
	err := diskFullCreate("tcp://remote:2376", "/var/lib/docker", kinderrors.Wrap(run, "failed to create cluster"))
	var full *DiskFullError
	if !errors.As(err, &full) || full.Free != freeUnknown || full.Error() != "the disk is full: creating the cluster's nodes failed on Docker's data root /var/lib/docker" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(full.Details(), "no space left on device") {
		t.Errorf("Details() = %q", full.Details())
	}
	plain := errors.New("node(s) already exist for a cluster with the name")
	if diskFullCreate("", "", plain) != plain {
		t.Error("a create that failed otherwise must be returned unchanged")
	}
}
