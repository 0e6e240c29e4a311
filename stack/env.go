package stack

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/cluster"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/internal/dagitconn"
	"github.com/dagster-dev/dagster-dev/internal/imagebuild"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/progress"
)

// Env is the one set of clients every verb works through, as Helm's
// action.Configuration is for its actions: cmd builds it once (NewEnv) and
// hands it to the verb; tests build it from fakes. No verb connects to
// Docker, Kubernetes or Dagit by itself.
type Env struct {
	Config *config.Config
	// Out receives the step list and the messages of the packages below.
	Out Printer
	// Cluster is the kind provider (unused on an existing cluster).
	Cluster Cluster
	// Kube reaches the config's kube context. It connects on first use:
	// on a new kind cluster the context exists only once Cluster.Ensure
	// has written it.
	Kube Connector
	// DagitConn says where Dagit answers from this machine: the kind
	// port mapping, or a port-forward on an existing cluster.
	DagitConn func(ctx context.Context, kc *Clients) dagitconn.Conn
}

// NewEnv is the production Env for cfg: the kind provider (logging to out,
// waiting up to the config's timeout), kubectl's loading rules for the
// config's context (kube.Getter, shared by the clientset and Helm), and
// Dagit where the config serves it. out may be nil (nothing is printed).
func NewEnv(cfg *config.Config, out Printer) *Env {
	if out == nil {
		out = progress.New(io.Discard)
	}
	return &Env{
		Config:    cfg,
		Out:       out,
		Cluster:   KindCluster{cluster.NewProvider(cluster.WithLogger(logAdapter{out}), cluster.WithReadyTimeout(cfg.Timeout.Duration))},
		Kube:      &kubeConnector{kubeconfig: cfg.KubeconfigExplicit(), context: cfg.KubeContext(), namespace: cfg.Namespace},
		DagitConn: func(ctx context.Context, kc *Clients) dagitconn.Conn { return dagitconn.For(ctx, cfg, kc.Client) },
	}
}

// dagit is a Dagit client for base; timeout bounds each request.
func (e *Env) dagit(base string, timeout time.Duration) *dagit.Client {
	return &dagit.Client{BaseURL: base, HTTP: &http.Client{Timeout: timeout}}
}

// Cluster is what the verbs ask of kind (cluster.Provider, through
// KindCluster).
type Cluster interface {
	Status(ctx context.Context, name string) (*cluster.ClusterStatus, error)
	Preflight(ctx context.Context, spec cluster.Spec, reuse bool) error
	Ensure(ctx context.Context, spec cluster.Spec, kubeconfigPath string) (*cluster.EnsureResult, error)
	Delete(ctx context.Context, name, kubeconfigPath string) (*cluster.DeleteResult, error)
	// StartLoadImages side-loads images in the background from the moment
	// the nodes take them (cluster.Provider.StartLoadImages).
	StartLoadImages(ctx context.Context, spec cluster.Spec, images []string, report func(cluster.ImageLoad)) (ImageJob, error)
	LoadImages(ctx context.Context, clusterName string, images []string, report func(cluster.ImageLoad)) ([]cluster.ImageLoad, error)
	Builder
	CheckDisk(ctx context.Context, name string) error
	CheckCodeMount(ctx context.Context, spec cluster.Spec) error
}

// ImageJob is a side-load running in the background.
type ImageJob interface {
	Wait() ([]cluster.ImageLoad, error)
	// Phases is how long, once it ended, the job waited for the nodes to
	// take images and how long it loaded after that.
	Phases() (waited, loading time.Duration)
}

// KindCluster is the Cluster of a cluster.Provider.
type KindCluster struct{ *cluster.Provider }

// StartLoadImages is cluster.Provider.StartLoadImages.
func (k KindCluster) StartLoadImages(ctx context.Context, spec cluster.Spec, images []string, report func(cluster.ImageLoad)) (ImageJob, error) {
	job, err := k.Provider.StartLoadImages(ctx, spec, images, report)
	if err != nil {
		return nil, err
	}
	return job, nil
}

// Builder builds a code location's image (cluster.Provider.BuildImage).
type Builder interface {
	BuildImage(ctx context.Context, spec imagebuild.Spec, ref string, progress func(string)) (string, error)
	LocalImages(ctx context.Context, images []string) (map[string]cluster.LocalImage, error)
}

// Clients are the clients of one kube context: the Kubernetes clientset
// (with the REST config port-forwards need) and Helm's action
// configuration for the config's namespace, both built on one loader.
type Clients struct {
	*kube.Client
	Helm *action.Configuration
}

// Connector connects to the config's kube context.
type Connector interface {
	Connect() (*Clients, error)
}

// kubeConnector connects once (kube.Connect, chart.NewActionConfig on the
// same kube.Getter) and hands every later caller the same clients. A
// failure is not kept: the next call tries again (a cluster that kind is
// still writing the context of).
type kubeConnector struct {
	kubeconfig, context, namespace string

	mu      sync.Mutex
	clients *Clients
}

func (c *kubeConnector) Connect() (*Clients, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clients != nil {
		return c.clients, nil
	}
	kc, err := kube.Connect(c.kubeconfig, c.context, c.namespace)
	if err != nil {
		return nil, err
	}
	helm, err := chart.NewActionConfig(kc.Getter, c.namespace, nil)
	if err != nil {
		return nil, err
	}
	c.clients = &Clients{Client: kc, Helm: helm}
	return c.clients, nil
}
