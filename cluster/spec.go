package cluster

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"regexp"

	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// Spec is the cluster dagster-dev wants.
type Spec struct {
	Name      string `json:"name"`      // kind cluster name
	NodeImage string `json:"nodeImage"` // "" = kind's default node image (defaults.Image)
	Nodes     int    `json:"nodes"`     // 1 = one control-plane; N>1 adds N-1 workers; 0 means 1
	HostPort  int    `json:"hostPort"`  // Dagit on 127.0.0.1:HostPort (0 = no mapping)
	NodePort  int    `json:"nodePort"`  // control-plane container port HostPort maps to (Dagit NodePort)
	// CodeMount is a host directory bind-mounted into every node, through
	// which pods see the user's code locations (hostPath volumes). Zero =
	// no mount.
	CodeMount Mount `json:"codeMount,omitzero"`
}

// Mount is a host directory bind-mounted read-only into every node. kind
// sets mounts only when it creates a cluster, so a parent directory is
// mounted once and code locations below it need no re-create.
type Mount struct {
	HostPath string `json:"hostPath,omitempty"` // absolute, symlinks resolved
	NodePath string `json:"nodePath,omitempty"` // absolute path inside each node
	// Required means the live cluster must have this mount (a code location
	// uses it): a cluster created without it is drift. A mount that is not
	// required is made on create, so a location added later needs no
	// re-create, and is not checked on reuse.
	Required bool `json:"-"`
}

// IsZero reports whether m asks for no mount.
func (m Mount) IsZero() bool { return m.HostPath == "" && m.NodePath == "" }

func (m Mount) String() string { return m.HostPath + " -> " + m.NodePath }

// hostListenAddress is where extraPortMappings listen: loopback only, so a
// dev Dagit (no auth) is never exposed to the network the laptop is on.
const hostListenAddress = "127.0.0.1"

// clusterNameRE is kind's own rule (pkg/internal/apis/config/validate.go),
// checked here so the error names the dagster-dev setting instead of
// surfacing from deep inside kind's create.
var clusterNameRE = regexp.MustCompile(`^[a-z0-9.-]+$`)

// normalized returns s with defaults applied: Nodes 0 -> 1 and the kind
// default node image spelled out, so drift comparison and the ownership
// record see what was really created.
func (s Spec) normalized() Spec {
	if s.Nodes == 0 {
		s.Nodes = 1
	}
	if s.NodeImage == "" {
		s.NodeImage = defaults.Image
	}
	return s
}

// Validate reports every problem with s, each naming the dagster-dev.yaml key.
func (s Spec) Validate() error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, errors.New("cluster.name is empty"))
	} else if !clusterNameRE.MatchString(s.Name) {
		errs = append(errs, fmt.Errorf("cluster.name %q is not a valid kind cluster name (allowed: lower-case letters, digits, '.', '-')", s.Name))
	}
	if s.Nodes < 0 {
		errs = append(errs, fmt.Errorf("cluster.nodes is %d, want 1 or more", s.Nodes))
	}
	if s.HostPort < 0 || s.HostPort > 65535 {
		errs = append(errs, fmt.Errorf("dagit.hostPort %d is not a TCP port (1-65535, or 0 for no mapping)", s.HostPort))
	}
	if s.HostPort != 0 && (s.NodePort <= 0 || s.NodePort > 65535) {
		errs = append(errs, fmt.Errorf("node port %d for dagit.hostPort %d is not a TCP port", s.NodePort, s.HostPort))
	}
	if !s.CodeMount.IsZero() && (!filepath.IsAbs(s.CodeMount.HostPath) || !path.IsAbs(s.CodeMount.NodePath)) {
		errs = append(errs, fmt.Errorf("code mount %s: both paths must be absolute", s.CodeMount))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid cluster spec: %w", errors.Join(errs...))
}

// KubeContext is the kubeconfig context kind writes for a cluster name.
func KubeContext(name string) string { return "kind-" + name }

// kindConfig turns a spec into the v1alpha4 config passed to kind: one
// control-plane (carrying the Dagit port mapping, because the NodePort is
// reachable on every node and the control-plane always exists) plus
// Nodes-1 workers. The node image is passed separately with
// CreateWithNodeImage so it applies to every node.
func kindConfig(s Spec) *v1alpha4.Cluster {
	s = s.normalized()
	cp := v1alpha4.Node{Role: v1alpha4.ControlPlaneRole}
	if s.HostPort != 0 {
		cp.ExtraPortMappings = []v1alpha4.PortMapping{{
			ContainerPort: int32(s.NodePort),
			HostPort:      int32(s.HostPort),
			ListenAddress: hostListenAddress,
			Protocol:      v1alpha4.PortMappingProtocolTCP,
		}}
	}
	cfg := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     s.Name,
		Nodes:    []v1alpha4.Node{cp},
	}
	for i := 1; i < s.Nodes; i++ {
		cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole})
	}
	// Every node gets the code mount: a run or step pod may land on any of them.
	if !s.CodeMount.IsZero() {
		for i := range cfg.Nodes {
			cfg.Nodes[i].ExtraMounts = []v1alpha4.Mount{{
				HostPath:      s.CodeMount.HostPath,
				ContainerPath: s.CodeMount.NodePath,
				Readonly:      true,
			}}
		}
	}
	return cfg
}
