package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
)

func TestKindConfigCodeMountOnEveryNode(t *testing.T) {
	m := Mount{HostPath: "/home/u/proj", NodePath: "/dagster-dev/code"}
	cfg := kindConfig(Spec{Name: "dd", Nodes: 3, CodeMount: m})
	if len(cfg.Nodes) != 3 {
		t.Fatalf("nodes = %d", len(cfg.Nodes))
	}
	for i, n := range cfg.Nodes {
		if len(n.ExtraMounts) != 1 || n.ExtraMounts[0].HostPath != m.HostPath || n.ExtraMounts[0].ContainerPath != m.NodePath || !n.ExtraMounts[0].Readonly {
			t.Errorf("node %d (%s) mounts = %+v, want %s read-only", i, n.Role, n.ExtraMounts, m)
		}
	}
	if got := kindConfig(Spec{Name: "dd"}).Nodes[0].ExtraMounts; len(got) != 0 {
		t.Errorf("no code mount asked, got %+v", got)
	}
}

func TestSpecValidateCodeMount(t *testing.T) {
	err := Spec{Name: "x", CodeMount: Mount{HostPath: "rel", NodePath: "/dagster-dev/code"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "must be absolute") {
		t.Errorf("relative host path: %v", err)
	}
}

func TestCompareSpecCodeMount(t *testing.T) {
	mount := Mount{HostPath: "/home/u/proj", NodePath: "/dagster-dev/code"}
	withMount := func(n nodeContainer, mounts ...string) nodeContainer { n.Mounts = mounts; return n }
	base := Spec{Name: "dd", NodeImage: img134, Nodes: 2}.normalized()

	// Not required: a cluster made before locations existed (or from another
	// directory) is reused as it is.
	opt := base
	opt.CodeMount = mount
	if d := compareSpec(opt, []nodeContainer{cp(img134), worker("dd-worker", img134)}); len(d) != 0 {
		t.Errorf("optional mount reported as drift: %+v", d)
	}

	req := opt
	req.CodeMount.Required = true
	good := []nodeContainer{withMount(cp(img134), mount.String()), withMount(worker("dd-worker", img134), mount.String())}
	if d := compareSpec(req, good); len(d) != 0 {
		t.Errorf("matching mounts reported as drift: %+v", d)
	}

	// Missing on one node.
	d := compareSpec(req, []nodeContainer{withMount(cp(img134), mount.String()), worker("dd-worker", img134)})
	if len(d) != 1 || !strings.Contains(d[0].Field, "code mount") || d[0].Have != "no code mount on dd-worker" {
		t.Errorf("mount missing on a worker: %+v", d)
	}

	// Another host directory at the same node path.
	other := Mount{HostPath: "/home/u/other", NodePath: mount.NodePath}.String()
	d = compareSpec(req, []nodeContainer{withMount(cp(img134), other), withMount(worker("dd-worker", img134), other)})
	if len(d) != 1 || d[0].Have != other || !strings.Contains(d[0].Want, "/home/u/proj") {
		t.Errorf("mount of another directory: %+v", d)
	}
}

// CheckCodeMount reads the live nodes: a cluster created from another
// directory's config is drift with the fix of a DriftError, the right
// mount passes, and a missing cluster says to run up.
func TestCheckCodeMount(t *testing.T) {
	ctx := context.Background()
	f := newFakeDocker()
	id := f.addNode("dd", "dd-control-plane", RoleControlPlane, "running", img134, nil)
	ins := f.inspects[id]
	ins.Mounts = []container.MountPoint{{Type: mount.TypeBind, Source: "/home/u/other", Destination: "/dagster-dev/code"}}
	f.inspects[id] = ins
	if err := writeOwner(ctx, f, id, ownerRecord{CreatedBy: ownerCreator}); err != nil {
		t.Fatal(err)
	}
	p := NewProvider(withDocker(f))
	spec := Spec{Name: "dd", CodeMount: Mount{HostPath: "/home/u/proj", NodePath: "/dagster-dev/code", Required: true}}

	var de *DriftError
	if err := p.CheckCodeMount(ctx, spec); !errors.As(err, &de) {
		t.Fatalf("another code root: %v, want *DriftError", err)
	}
	if !de.Owned || len(de.Differences) != 1 || de.Differences[0].Have != "/home/u/other -> /dagster-dev/code" ||
		!strings.Contains(de.Fix(), "dagster-dev down") || !strings.Contains(de.Fix(), "set cluster.name") ||
		strings.Contains(de.Fix(), "change dagster-dev.yaml back") {
		t.Errorf("drift = %+v, fix %q", de, de.Fix())
	}
	// Another difference besides the mount: the general fix applies.
	de.Differences = append(de.Differences, Difference{Field: "nodes", Want: "2", Have: "1"})
	if !strings.Contains(de.Fix(), "change dagster-dev.yaml back") {
		t.Errorf("mixed drift fix = %q", de.Fix())
	}

	spec.CodeMount.HostPath = "/home/u/other"
	if err := p.CheckCodeMount(ctx, spec); err != nil {
		t.Errorf("matching mount: %v", err)
	}

	spec.Name = "gone"
	if err := p.CheckCodeMount(ctx, spec); err == nil || !strings.Contains(err.Error(), "dagster-dev up") {
		t.Errorf("missing cluster: %v", err)
	}
}
