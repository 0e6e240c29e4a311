package stack

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dagster-dev/dagster-dev/config"
)

// KubeconfigPath is the kubeconfig file dagster-dev reads and, for kind
// clusters, writes: cluster.kubeconfig, else the first entry of $KUBECONFIG,
// else ~/.kube/config — the same file kubectl and kind use.
func KubeconfigPath(cfg *config.Config) string {
	if cfg.Cluster.Kubeconfig != "" {
		return cfg.Resolve(cfg.Cluster.Kubeconfig)
	}
	if env := os.Getenv("KUBECONFIG"); env != "" {
		return filepath.SplitList(env)[0]
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return clientcmd.RecommendedHomeFile
	}
	return filepath.Join(home, ".kube", "config")
}

// Kube is a connection to the environment's cluster.
type Kube struct {
	Kubeconfig string
	Context    string
	REST       *rest.Config
	Client     kubernetes.Interface
}

// Connect builds clients for the config's kube context.
func Connect(cfg *config.Config) (*Kube, error) {
	path := KubeconfigPath(cfg)
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: cfg.KubeContext()}
	restCfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kube context %q in %s: %w (for a kind cluster run `dagster-dev up`; for an existing cluster check `kubectl config get-contexts`)", cfg.KubeContext(), path, err)
	}
	// Readiness watches and log reads are many small requests; client-go's
	// default of 5 QPS would make up visibly slower.
	restCfg.QPS, restCfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("building a Kubernetes client for %q: %w", cfg.KubeContext(), err)
	}
	return &Kube{Kubeconfig: path, Context: cfg.KubeContext(), REST: restCfg, Client: client}, nil
}
