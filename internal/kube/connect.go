package kube

import (
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
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

// Connect builds clients for a kube context, loading the kubeconfig the
// way kubectl does (LoadingRules). An empty context is the current one.
func Connect(kubeconfig, context string) (*Client, error) {
	loader := clientConfig(kubeconfig, context)
	restCfg, err := restConfig(loader, kubeconfig, context)
	if err != nil {
		return nil, err
	}
	clientset, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("building a Kubernetes client for %q: %w", context, err)
	}
	return &Client{Kubeconfig: kubeconfig, Context: context, File: contextFile(loader, context), REST: restCfg, Clientset: clientset}, nil
}

func clientConfig(kubeconfig, context string) clientcmd.ClientConfig {
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(LoadingRules(kubeconfig), overrides)
}

// contextFile is the file the loading rules took a context from ("" = the
// current context).
func contextFile(loader clientcmd.ClientConfig, context string) string {
	raw, err := loader.RawConfig()
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

// RESTConfig loads a context's REST config.
func RESTConfig(kubeconfig, context string) (*rest.Config, error) {
	return restConfig(clientConfig(kubeconfig, context), kubeconfig, context)
}

func restConfig(loader clientcmd.ClientConfig, kubeconfig, context string) (*rest.Config, error) {
	restCfg, err := loader.ClientConfig()
	if err != nil {
		return nil, &ContextError{Context: context, Kubeconfig: kubeconfig, Err: err}
	}
	// Readiness watches and log reads are many small requests; client-go's
	// default of 5 QPS would make up visibly slower.
	restCfg.QPS, restCfg.Burst = 50, 100
	return restCfg, nil
}
