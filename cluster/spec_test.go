package cluster

import (
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

func TestKindConfigPortMappingOnControlPlaneOnly(t *testing.T) {
	cfg := kindConfig(Spec{Name: "dd", Nodes: 3, HostPort: 3000, NodePort: 30080})
	if cfg.APIVersion != "kind.x-k8s.io/v1alpha4" || cfg.Kind != "Cluster" {
		t.Errorf("type meta = %+v", cfg.TypeMeta)
	}
	if len(cfg.Nodes) != 3 {
		t.Fatalf("nodes = %d, want 3", len(cfg.Nodes))
	}
	if cfg.Nodes[0].Role != v1alpha4.ControlPlaneRole {
		t.Errorf("node 0 role = %s", cfg.Nodes[0].Role)
	}
	for i, n := range cfg.Nodes[1:] {
		if n.Role != v1alpha4.WorkerRole {
			t.Errorf("node %d role = %s, want worker", i+1, n.Role)
		}
		if len(n.ExtraPortMappings) != 0 {
			t.Errorf("worker %d has port mappings %+v", i+1, n.ExtraPortMappings)
		}
	}
	want := v1alpha4.PortMapping{ContainerPort: 30080, HostPort: 3000, ListenAddress: "127.0.0.1", Protocol: v1alpha4.PortMappingProtocolTCP}
	if got := cfg.Nodes[0].ExtraPortMappings; len(got) != 1 || got[0] != want {
		t.Errorf("control-plane mappings = %+v, want [%+v]", got, want)
	}
}

func TestKindConfigYAML(t *testing.T) {
	out, err := yaml.Marshal(kindConfig(Spec{Name: "dd", Nodes: 2, HostPort: 3000, NodePort: 30080}))
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: kind.x-k8s.io/v1alpha4
kind: Cluster
name: dd
networking: {}
nodes:
- extraPortMappings:
  - containerPort: 30080
    hostPort: 3000
    listenAddress: 127.0.0.1
    protocol: TCP
  role: control-plane
- role: worker
`
	if string(out) != want {
		t.Errorf("YAML:\n%s\nwant:\n%s", out, want)
	}
}

func TestKindConfigDefaults(t *testing.T) {
	cfg := kindConfig(Spec{Name: "dd"}) // Nodes 0, HostPort 0
	if len(cfg.Nodes) != 1 || cfg.Nodes[0].Role != v1alpha4.ControlPlaneRole {
		t.Fatalf("nodes = %+v, want one control-plane", cfg.Nodes)
	}
	if len(cfg.Nodes[0].ExtraPortMappings) != 0 {
		t.Errorf("HostPort 0 produced mappings %+v", cfg.Nodes[0].ExtraPortMappings)
	}
	if n := (Spec{}).normalized(); n.Nodes != 1 || n.NodeImage != defaults.Image {
		t.Errorf("normalized zero spec = %+v", n)
	}
}

func TestSpecValidate(t *testing.T) {
	ok := Spec{Name: "dagster-dev", Nodes: 1, HostPort: 3000, NodePort: 30080}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid spec: %v", err)
	}
	if err := (Spec{Name: "x", HostPort: 0}).Validate(); err != nil {
		t.Errorf("no port mapping is valid: %v", err)
	}
	cases := []struct {
		spec Spec
		want string
	}{
		{Spec{}, "cluster.name is empty"},
		{Spec{Name: "Dagster_Dev"}, `cluster.name "Dagster_Dev" is not a valid kind cluster name`},
		{Spec{Name: "x", Nodes: -1}, "cluster.nodes is -1"},
		{Spec{Name: "x", HostPort: 70000, NodePort: 30080}, "dagit.hostPort 70000"},
		{Spec{Name: "x", HostPort: 3000}, "node port 0 for dagit.hostPort 3000"},
	}
	for _, c := range cases {
		err := c.spec.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want error containing %q", c.spec, err, c.want)
		}
	}
}

func TestKubeContext(t *testing.T) {
	if got := KubeContext("dagster-dev"); got != "kind-dagster-dev" {
		t.Errorf("KubeContext = %q", got)
	}
}
