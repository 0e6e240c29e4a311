package kube

import (
	"fmt"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Client is a connection to one kube context.
type Client struct {
	// Kubeconfig is the explicit kubeconfig file ("" = kubectl's loading
	// rules: $KUBECONFIG merged, else ~/.kube/config).
	Kubeconfig string
	Context    string
	// File is the kubeconfig file that defines Context, as loaded (with a
	// merged $KUBECONFIG, the first file that names it); "" if unknown.
	File      string
	REST      *rest.Config
	Clientset kubernetes.Interface
	// Getter is the loader REST and Clientset came from; Helm's action
	// configuration is built on it (chart.NewActionConfig), so both
	// clients read the same context with the same client settings.
	Getter genericclioptions.RESTClientGetter
}

// ContextError is a kube context that cannot be loaded.
type ContextError struct {
	Context, Kubeconfig string
	Err                 error
}

func (e *ContextError) Error() string {
	return fmt.Sprintf("kube context %q (kubeconfig %s): %v", e.Context, DisplayPath(e.Kubeconfig), e.Err)
}

func (e *ContextError) Unwrap() error { return e.Err }

// Fix says how to get the context.
func (e *ContextError) Fix() string {
	return "for a kind cluster run `dagster-dev up`; for an existing cluster check `kubectl config get-contexts`"
}

// Readiness watches and log reads are many small requests; client-go's
// default of 5 QPS would make up visibly slower.
const (
	clientQPS   = 50
	clientBurst = 100
)

// Getter is the one way dagster-dev loads a kube context: kubectl's loading
// rules (the explicit file, else every $KUBECONFIG file merged, first
// definition of a name winning, else ~/.kube/config), an empty context meaning the current
// one, and our client rate limits. namespace is the default namespace of
// the clients built from it ("" = the context's). Both the Kubernetes
// clientset (Connect) and Helm's action configuration are built on it.
func Getter(kubeconfig, context, namespace string) *genericclioptions.ConfigFlags {
	flags := genericclioptions.NewConfigFlags(true)
	// No password flag: the loader is then non-interactive, so nothing
	// ever prompts on stdin (watch and CI run without a terminal).
	flags.Password = nil
	flags.KubeConfig = &kubeconfig
	flags.Context = &context
	if namespace != "" {
		flags.Namespace = &namespace
	}
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config {
		c.QPS, c.Burst = clientQPS, clientBurst
		return c
	}
	return flags
}

// Connect builds clients for a kube context through Getter. An empty
// context is the current one.
func Connect(kubeconfig, context, namespace string) (*Client, error) {
	getter := Getter(kubeconfig, context, namespace)
	restCfg, err := getter.ToRESTConfig()
	if err != nil {
		return nil, &ContextError{Context: context, Kubeconfig: kubeconfig, Err: err}
	}
	clientset, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("building a Kubernetes client for %q: %w", context, err)
	}
	return &Client{Kubeconfig: kubeconfig, Context: context, File: contextFile(getter, context), REST: restCfg, Clientset: clientset, Getter: getter}, nil
}

// contextFile is the file the loading rules took a context from ("" = the
// current context).
func contextFile(getter genericclioptions.RESTClientGetter, context string) string {
	raw, err := getter.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return ""
	}
	if context == "" {
		context = raw.CurrentContext
	}
	if c, ok := raw.Contexts[context]; ok {
		return c.LocationOfOrigin
	}
	return ""
}
