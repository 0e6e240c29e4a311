package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/docker/go-connections/nat"
	"sigs.k8s.io/kind/pkg/apis/config/defaults"
)

func cp(img string, ports ...string) nodeContainer {
	return nodeContainer{Name: "dd-control-plane", Role: RoleControlPlane, State: "running", Image: img, Ports: ports}
}

func worker(name, img string) nodeContainer {
	return nodeContainer{Name: name, Role: RoleWorker, State: "running", Image: img}
}

const img134 = "dagster-dev.local/kind-node:v1.34.4"

func TestCompareSpecMatch(t *testing.T) {
	want := Spec{Name: "dd", NodeImage: img134, Nodes: 2, HostPort: 3000, NodePort: 30080}.normalized()
	nodes := []nodeContainer{cp(img134, "127.0.0.1:3000->30080/tcp"), worker("dd-worker", img134)}
	if d := compareSpec(want, nodes); len(d) != 0 {
		t.Errorf("differences for a matching cluster: %+v", d)
	}
}

func TestCompareSpecEachDifference(t *testing.T) {
	want := Spec{Name: "dd", NodeImage: img134, Nodes: 1, HostPort: 3000, NodePort: 30080}.normalized()
	cases := []struct {
		name      string
		nodes     []nodeContainer
		field     string
		wantStr   string
		haveStr   string
		diffCount int
	}{
		{"host port", []nodeContainer{cp(img134, "127.0.0.1:3001->30080/tcp")}, "dagit host port",
			"127.0.0.1:3000->30080/tcp", "127.0.0.1:3001->30080/tcp", 1},
		{"no mapping", []nodeContainer{cp(img134)}, "dagit host port",
			"127.0.0.1:3000->30080/tcp", "no port mapping", 1},
		{"all interfaces", []nodeContainer{cp(img134, "0.0.0.0:3000->30080/tcp")}, "dagit host port",
			"127.0.0.1:3000->30080/tcp", "0.0.0.0:3000->30080/tcp", 1},
		{"node image", []nodeContainer{cp("kindest/node:v1.33.1", "127.0.0.1:3000->30080/tcp")}, "node image",
			`"` + img134 + `"`, `"kindest/node:v1.33.1"`, 1},
		{"extra worker", []nodeContainer{cp(img134, "127.0.0.1:3000->30080/tcp"), worker("dd-worker", img134)}, "nodes",
			"1 (1 control-plane)", "2 (1 control-plane, 1 worker)", 1},
		{"HA", []nodeContainer{cp(img134, "127.0.0.1:3000->30080/tcp"), {Name: "dd-external-load-balancer", Role: roleExternalLB, Image: "kindest/haproxy"}}, "nodes",
			"1 (1 control-plane)", "2 (1 control-plane, 1 external-load-balancer)", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := compareSpec(want, c.nodes)
			if len(d) != c.diffCount {
				t.Fatalf("differences = %+v, want %d", d, c.diffCount)
			}
			if d[0].Field != c.field || d[0].Want != c.wantStr || d[0].Have != c.haveStr {
				t.Errorf("difference = %+v, want {%s %s %s}", d[0], c.field, c.wantStr, c.haveStr)
			}
		})
	}
}

func TestCompareSpecNoMappingWanted(t *testing.T) {
	want := Spec{Name: "dd", NodeImage: img134}.normalized()
	if d := compareSpec(want, []nodeContainer{cp(img134)}); len(d) != 0 {
		t.Errorf("differences: %+v", d)
	}
	d := compareSpec(want, []nodeContainer{cp(img134, "127.0.0.1:3000->30080/tcp")})
	if len(d) != 1 || d[0].Want != "no port mapping" {
		t.Errorf("differences = %+v, want the unexpected mapping reported", d)
	}
}

func TestSameImage(t *testing.T) {
	cases := []struct {
		want, have string
		same       bool
	}{
		{img134, img134, true},
		{"kindest/node:v1.34.0", "docker.io/kindest/node:v1.34.0", true},
		// kind's default is pinned by digest; the tag alone matches it.
		{"kindest/node:v1.37.0", defaults.Image, true},
		{defaults.Image, defaults.Image, true},
		{"kindest/node:v1.36.0", defaults.Image, false},
		{defaults.Image, "kindest/node:v1.37.0", false},
		{img134, "dagster-dev.local/kind-node:v1.34.5", false},
		{"kindest/node", "kindest/node:latest", true},
	}
	for _, c := range cases {
		if got := sameImage(c.want, c.have); got != c.same {
			t.Errorf("sameImage(%q, %q) = %v, want %v", c.want, c.have, got, c.same)
		}
	}
}

func TestDriftErrorMessage(t *testing.T) {
	e := &DriftError{Cluster: "dd", Owned: true, Differences: []Difference{
		{Field: "dagit host port", Want: "127.0.0.1:3000->30080/tcp", Have: "127.0.0.1:3001->30080/tcp"},
		{Field: "nodes", Want: "1 (1 control-plane)", Have: "2 (1 control-plane, 1 worker)"},
	}}
	msg := shown(e)
	for _, s := range []string{
		`kind cluster "dd" exists but differs`,
		"dagit host port: want 127.0.0.1:3000->30080/tcp, have 127.0.0.1:3001->30080/tcp",
		"nodes: want 1 (1 control-plane), have 2 (1 control-plane, 1 worker)",
		"`dagster-dev down` then `dagster-dev up`",
	} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q:\n%s", s, msg)
		}
	}
	e.Owned = false
	if msg := shown(e); !strings.Contains(msg, "kind delete cluster --name dd") || strings.Contains(msg, "`dagster-dev down` then") {
		t.Errorf("not-owned message should point at kind delete, not dagster-dev down:\n%s", msg)
	}
}

// Ensure must report drift read from the node containers and change
// nothing: no container started, no kind call (the fake docker CLI on PATH
// exits 1, so any kind call would fail the test with a different error).
func TestEnsureDriftFromContainers(t *testing.T) {
	fakeDockerCLI(t)
	f := newFakeDocker()
	id := f.addNode("dd", "dd-control-plane", RoleControlPlane, "exited", img134,
		map[string]nat.PortBinding{"30080/tcp": {HostIP: "127.0.0.1", HostPort: "3001"}})
	if err := writeOwner(context.Background(), f, id, ownerRecord{CreatedBy: ownerCreator}); err != nil {
		t.Fatal(err)
	}
	p := NewProvider(withDocker(f))
	res, err := p.Ensure(context.Background(), Spec{Name: "dd", NodeImage: img134, Nodes: 1, HostPort: 3000, NodePort: 30080}, t.TempDir()+"/kubeconfig")
	var de *DriftError
	if !errors.As(err, &de) {
		t.Fatalf("Ensure = %v, %v; want *DriftError", res, err)
	}
	if !de.Owned || len(de.Differences) != 1 || de.Differences[0].Have != "127.0.0.1:3001->30080/tcp" {
		t.Errorf("drift = %+v", de)
	}
	if len(f.started) != 0 {
		t.Errorf("containers started despite drift: %v", f.started)
	}
}
