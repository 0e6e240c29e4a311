package stack

import (
	"context"
	"errors"
	"fmt"
	"io"

	"helm.sh/helm/v3/pkg/action"
	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/progress"
	"github.com/dagster-dev/dagster-dev/internal/readiness"
	"github.com/dagster-dev/dagster-dev/watch"
)

// Watch is `dagster-dev watch`: it connects to the environment's cluster
// and runs watch.Run with the config's Helm release (for env and values
// changes) and readiness.WaitRollout as the rollout waiter. Ctrl-C
// (cancelling ctx) is a clean exit.
type Watch struct {
	Env *Env
	// Out receives one timestamped line per report (watch.NewTextReporter).
	Out io.Writer
	// Reporter, when set, receives the reports instead of Out.
	Reporter watch.Reporter
	// Once syncs once, waits for the restarts and returns (--once).
	Once bool
}

// Run performs Watch.
func (w *Watch) Run(ctx context.Context) error {
	if w.Env == nil || w.Env.Config == nil {
		return errors.New("stack: Watch.Env with a Config is required")
	}
	cfg := w.Env.Config
	rep := w.Reporter
	if rep == nil {
		out := w.Out
		if out == nil {
			out = io.Discard
		}
		rep = watch.NewTextReporter(out)
	}
	kc, err := w.Env.Kube.Connect()
	if err != nil {
		return err
	}
	rel := newChartRelease(cfg, kc)
	opts := watch.Options{
		Config:      cfg,
		Client:      kc.Clientset,
		Release:     rel,
		Reporter:    rep,
		Once:        w.Once,
		WaitRollout: readiness.WaitRollout,
	}
	if !cfg.ExistingCluster() {
		// Dagit is on the kind port mapping; an existing cluster has
		// no path locations to watch.
		// A reload answers once the location has loaded: a request's
		// bound is the user's timeout, not the usual seconds.
		opts.Code = watch.DagitLocations(w.Env.dagit(cfg.DagitURL(), cfg.Timeout.Duration), cfg.Timeout.Duration)
		p := w.Env.Cluster
		if cfg.HasPathLocations() {
			// Said once here rather than as a pod stuck on its subPath.
			if err := p.CheckCodeMount(ctx, ClusterSpec(cfg)); err != nil {
				return err
			}
		}
		opts.Images = &kindImages{p: p, cfg: cfg}
		opts.Doctor = &kindDoctor{p: p, cluster: cfg.Cluster.Name}
	}
	return watch.Run(ctx, opts)
}

// newChartRelease is the watch.Release of the config's Helm release,
// through the chart package: chart.Apply upgrades it (no Helm wait; watch
// waits for exactly the workloads that changed), and the deployed
// revision's user-supplied values are what watch compares against.
// kc is the environment's connection.
func newChartRelease(cfg *config.Config, kc *Clients) watch.Release {
	return &chartRelease{ac: kc.Helm, client: kc.Clientset, namespace: cfg.Namespace, name: cfg.Release}
}

type chartRelease struct {
	ac *action.Configuration
	// client checks the references of the pods an upgrade would deploy.
	client    kubernetes.Interface
	namespace string
	name      string
}

func (r *chartRelease) Name() string { return r.name }

// Values reads the last deployed revision. A release that only has failed
// or pending revisions counts as not installed: `up` must repair it, and an
// upgrade from watch would only hide the failure.
func (r *chartRelease) Values(context.Context) (map[string]any, bool, error) {
	return (&chart.DeployedValues{Config: r.ac, ReleaseName: r.name}).Run()
}

// Upgrade applies vals; watch calls it only for an installed release, so
// chart.Apply's install branch is never taken from here. Values whose pods
// would require a ConfigMap or Secret that does not exist are refused, as
// `up` refuses them, before Helm writes anything.
func (r *chartRelease) Upgrade(ctx context.Context, vals map[string]any) error {
	m, err := chart.Render(r.name, r.namespace, vals)
	if err != nil {
		return err
	}
	if err := checkReferences(ctx, r.client, r.namespace, m); err != nil {
		return fmt.Errorf("%w; nothing applied, release %s keeps its values", err, r.name)
	}
	_, err = (&chart.Apply{Config: r.ac, Namespace: r.namespace, ReleaseName: r.name, Values: vals}).Run(ctx)
	return err
}

// kindImages is watch.Images for the config's kind cluster.
type kindImages struct {
	p   Cluster
	cfg *config.Config
}

func (k *kindImages) BuildAndLoad(ctx context.Context, loc config.CodeLocation) (string, string, error) {
	spec, ok := k.cfg.BuildSpec(loc)
	if !ok {
		return "", "", fmt.Errorf("code location %s has no build", loc.Name)
	}
	ref, err := buildImage(ctx, k.p, spec, progress.New(io.Discard))
	if err != nil {
		return "", "", err
	}
	loads, err := k.p.LoadImages(ctx, k.cfg.Cluster.Name, []string{ref}, nil)
	if err != nil {
		return "", "", err
	}
	return ref, imageIDs(loads)[ref], nil
}

// kindDoctor is watch.Doctor for the config's kind cluster: a full disk
// is what it can see from outside the API server (etcd crashes on one).
type kindDoctor struct {
	p       Cluster
	cluster string
}

func (d *kindDoctor) Diagnose(ctx context.Context) error { return d.p.CheckDisk(ctx, d.cluster) }
