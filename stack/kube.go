package stack

import (
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// connect connects to the config's kube context. The kubeconfig is the one
// the config names, else kubectl's ($KUBECONFIG merged, else
// ~/.kube/config), so a context defined in any $KUBECONFIG file is found.
func connect(cfg *config.Config) (*kube.Client, error) {
	return kube.Connect(cfg.KubeconfigExplicit(), cfg.KubeContext())
}

// kindKubeconfig is the file kind writes the cluster's context to.
func kindKubeconfig(cfg *config.Config) string {
	return kube.KindKubeconfigPath(cfg.KubeconfigExplicit())
}

// Kube is a connection under the field names e2e still uses.
//
// Deprecated: use kube.Connect(cfg.KubeconfigExplicit(), cfg.KubeContext()).
// Kept only until e2e/suite.go stops calling Connect.
type Kube struct {
	// Kubeconfig is the explicit kubeconfig ("" = kubectl's loading rules).
	Kubeconfig string
	Context    string
	REST       *rest.Config
	Client     kubernetes.Interface
}

// Connect builds clients for the config's kube context.
//
// Deprecated: use kube.Connect(cfg.KubeconfigExplicit(), cfg.KubeContext()).
// Kept only until e2e/suite.go stops calling it.
func Connect(cfg *config.Config) (*Kube, error) {
	c, err := connect(cfg)
	if err != nil {
		return nil, err
	}
	return &Kube{Kubeconfig: c.Kubeconfig, Context: c.Context, REST: c.REST, Client: c.Clientset}, nil
}

// KubeconfigPath is the kubeconfig to read a context from: the config's
// explicit file, or "" for kubectl's loading rules (chart.NewActionConfig
// and kube.Connect merge $KUBECONFIG then).
//
// Deprecated: use cfg.KubeconfigExplicit(). Kept only until e2e/release.go
// stops calling it.
func KubeconfigPath(cfg *config.Config) string {
	return cfg.KubeconfigExplicit()
}
