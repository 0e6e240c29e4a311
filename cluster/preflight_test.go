package cluster

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"
)

// listen occupies a free port on 127.0.0.1 for the test's duration.
func listen(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// procTree writes fake inotify sysctls and returns the /proc root.
func procTree(t *testing.T, watches, instances string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "sys", "fs", "inotify")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"max_user_watches": watches, "max_user_instances": instances} {
		if v == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCheckPortFree(t *testing.T) {
	port := listen(t)
	if err := checkPortFree(port); err == nil {
		t.Fatalf("checkPortFree(%d) = nil while a listener holds it", port)
	}
	// A port nobody holds: take one and release it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := l.Addr().(*net.TCPAddr).Port
	l.Close()
	if err := checkPortFree(free); err != nil {
		t.Errorf("checkPortFree(%d) on a free port = %v", free, err)
	}
}

func TestPreflightPortInUse(t *testing.T) {
	fakeDockerCLI(t)
	port := listen(t)
	f := newFakeDocker()
	p := NewProvider(withDocker(f))
	p.procRoot = procTree(t, "524288", "512")

	err := p.Preflight(context.Background(), Spec{Name: "dd", HostPort: port, NodePort: 30080}, true)
	var pe *PortInUseError
	if !errors.As(err, &pe) {
		t.Fatalf("Preflight = %v, want *PortInUseError", err)
	}
	if pe.Port != port {
		t.Errorf("port = %d, want %d", pe.Port, port)
	}
	msg := shown(err)
	for _, s := range []string{"127.0.0.1:" + strconv.Itoa(port), "already in use", "dagit.hostPort"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q: %s", s, msg)
		}
	}
}

func TestPreflightPortHeldByOwnClusterOnReuse(t *testing.T) {
	fakeDockerCLI(t)
	port := listen(t) // stands in for docker-proxy of the existing cluster
	f := newFakeDocker()
	f.addNode("dd", "dd-control-plane", RoleControlPlane, "running", img134,
		map[string]nat.PortBinding{"30080/tcp": {HostIP: "127.0.0.1", HostPort: strconv.Itoa(port)}})
	f.containers[0].Ports = []container.Port{{IP: "127.0.0.1", PrivatePort: 30080, PublicPort: uint16(port), Type: "tcp"}}
	p := NewProvider(withDocker(f))
	p.procRoot = procTree(t, "524288", "512")
	spec := Spec{Name: "dd", HostPort: port, NodePort: 30080}

	if err := p.Preflight(context.Background(), spec, true); err != nil {
		t.Errorf("reuse: port published by the cluster itself must not fail: %v", err)
	}
	// Not reusing: the same port is a conflict, and the error names who holds it.
	err := p.Preflight(context.Background(), spec, false)
	var pe *PortInUseError
	if !errors.As(err, &pe) {
		t.Fatalf("no reuse: Preflight = %v, want *PortInUseError", err)
	}
	if !strings.Contains(pe.Holder, `kind cluster "dd"`) || !strings.Contains(pe.Holder, "dd-control-plane") {
		t.Errorf("holder = %q", pe.Holder)
	}
	// Another cluster's port is a conflict even when reusing.
	err = p.Preflight(context.Background(), Spec{Name: "other", HostPort: port, NodePort: 30080}, true)
	if !errors.As(err, &pe) {
		t.Errorf("other cluster: Preflight = %v, want *PortInUseError", err)
	}
}

func TestPreflightDockerUnreachable(t *testing.T) {
	fakeDockerCLI(t)
	f := newFakeDocker()
	f.pingErr = errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock")
	p := NewProvider(withDocker(f))
	p.procRoot = procTree(t, "524288", "512")
	err := p.Preflight(context.Background(), Spec{Name: "dd"}, true)
	var de *DockerUnreachableError
	if !errors.As(err, &de) {
		t.Fatalf("Preflight = %v, want *DockerUnreachableError", err)
	}
	for _, s := range []string{"Cannot connect", "sudo systemctl start docker", "dockerd &", "e2e/offline/prepare"} {
		if !strings.Contains(shown(err), s) {
			t.Errorf("message lacks %q: %s", s, err)
		}
	}
}

func TestPreflightDockerCLIMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	p := NewProvider(withDocker(newFakeDocker()))
	p.procRoot = procTree(t, "524288", "512")
	err := p.Preflight(context.Background(), Spec{Name: "dd"}, true)
	var ce *DockerCLIMissingError
	if !errors.As(err, &ce) {
		t.Fatalf("Preflight = %v, want *DockerCLIMissingError", err)
	}
}

func TestPreflightAllGood(t *testing.T) {
	fakeDockerCLI(t)
	f := newFakeDocker()
	f.images[img134] = imageWithID("sha256:node")
	log := &recLogger{}
	p := NewProvider(withDocker(f), WithLogger(log))
	p.procRoot = procTree(t, "524288", "512")
	if err := p.Preflight(context.Background(), Spec{Name: "dd", NodeImage: img134}, true); err != nil {
		t.Errorf("Preflight = %v", err)
	}
	if len(log.warns) != 0 {
		t.Errorf("warnings: %v", log.warns)
	}
	// A node image that is not local is only a warning (kind can pull it).
	if err := p.Preflight(context.Background(), Spec{Name: "dd", NodeImage: "kindest/node:v9"}, true); err != nil {
		t.Errorf("Preflight with a remote node image = %v", err)
	}
	if len(log.warns) != 1 || !strings.Contains(log.warns[0], "kindest/node:v9") {
		t.Errorf("warnings = %v, want one about the node image", log.warns)
	}
}

func TestCheckInotify(t *testing.T) {
	if err := checkInotify(procTree(t, "524288\n", "512\n")); err != nil {
		t.Errorf("recommended values: %v", err)
	}
	if err := checkInotify(procTree(t, "65536", "256")); err != nil {
		t.Errorf("minimum values: %v", err)
	}
	err := checkInotify(procTree(t, "8192\n", "128\n"))
	var ie *InotifyLimitError
	if !errors.As(err, &ie) {
		t.Fatalf("Debian defaults: %v, want *InotifyLimitError", err)
	}
	want := []InotifySetting{
		{Name: "fs.inotify.max_user_watches", Have: 8192, Want: MinInotifyWatches},
		{Name: "fs.inotify.max_user_instances", Have: 128, Want: MinInotifyInstances},
	}
	if len(ie.Low) != 2 || ie.Low[0] != want[0] || ie.Low[1] != want[1] {
		t.Errorf("low = %+v, want %+v", ie.Low, want)
	}
	msg := shown(err)
	for _, s := range []string{"max_user_watches is 8192, want at least 65536", "max_user_instances is 128", "sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q: %s", s, msg)
		}
	}
	// Only instances low.
	if err := checkInotify(procTree(t, "524288", "128")); !errors.As(err, &ie) || len(ie.Low) != 1 || ie.Low[0].Name != "fs.inotify.max_user_instances" {
		t.Errorf("instances low: %v", err)
	}
	// Unparsable values are an error, not a silent pass.
	if err := checkInotify(procTree(t, "lots", "512")); err == nil || !strings.Contains(err.Error(), "parse") {
		t.Errorf("garbage value: %v", err)
	}
	// No /proc files (not Linux): nothing to check.
	if err := checkInotify(t.TempDir()); err != nil {
		t.Errorf("missing files: %v", err)
	}
}

func TestParseSysctlInt(t *testing.T) {
	for in, want := range map[string]int64{"8192\n": 8192, " 524288 ": 524288, "0": 0} {
		got, err := parseSysctlInt(in)
		if err != nil || got != want {
			t.Errorf("parseSysctlInt(%q) = %d, %v", in, got, err)
		}
	}
	if _, err := parseSysctlInt(""); err == nil {
		t.Error("empty value parsed")
	}
}

func TestPreflightReportsAllFailures(t *testing.T) {
	fakeDockerCLI(t)
	port := listen(t)
	p := NewProvider(withDocker(newFakeDocker()))
	p.procRoot = procTree(t, "8192", "128")
	err := p.Preflight(context.Background(), Spec{Name: "dd", HostPort: port, NodePort: 30080}, false)
	var pe *PortInUseError
	var ie *InotifyLimitError
	if !errors.As(err, &pe) || !errors.As(err, &ie) {
		t.Errorf("Preflight = %v, want both port and inotify errors", err)
	}
}
