package stack

import (
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
