package stack

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/cluster"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/text"
	"github.com/dagster-dev/dagster-dev/watch"
)

// Down removes what Up created: the kind cluster (only one dagster-dev
// created) and its kubeconfig context; in existing-cluster mode the release
// and the objects dagster-dev made, never anything else. It is idempotent.
type Down struct {
	Env *Env
}

// NewDown is Down on env.
func NewDown(env *Env) *Down { return &Down{Env: env} }

// DownResult says what was removed.
type DownResult struct {
	Removed  []string
	Duration time.Duration
}

// Run performs Down.
func (d *Down) Run(ctx context.Context) (*DownResult, error) {
	start := time.Now()
	cfg := d.Env.Config
	if cfg.ExistingCluster() {
		res, err := d.existing(ctx)
		if res != nil {
			res.Duration = time.Since(start)
		}
		return res, err
	}
	step := d.Env.Out.Start("delete cluster " + cfg.Cluster.Name)
	del, err := d.Env.Cluster.Delete(ctx, cfg.Cluster.Name, kube.KindKubeconfigPath(cfg.KubeconfigExplicit()))
	if err != nil {
		step.Fail("")
		return nil, err
	}
	res := &DownResult{Duration: time.Since(start)}
	if !del.Deleted {
		step.Skip("nothing to delete")
		return res, nil
	}
	res.Removed = append(res.Removed, "kind cluster "+del.Name, "kube context "+cluster.KubeContext(del.Name))
	note := fmt.Sprintf("%d %s removed, context %s removed", len(del.Nodes), text.Plural(len(del.Nodes), "node", "nodes"), cluster.KubeContext(del.Name))
	if del.VolumesInBackground > 0 {
		note += fmt.Sprintf("; %s freed in the background", text.Plural(del.VolumesInBackground, "its volume is", "their volumes are"))
	}
	step.Done(note)
	return res, nil
}

// existing uninstalls from a cluster dagster-dev did not create.
func (d *Down) existing(ctx context.Context) (*DownResult, error) {
	cfg, out := d.Env.Config, d.Env.Out
	res := &DownResult{}
	kc, err := d.Env.Kube.Connect()
	if err != nil {
		return nil, err
	}
	ns := cfg.Namespace

	step := out.Start("uninstall " + cfg.Release)
	un, err := (&chart.Uninstall{Config: kc.Helm, ReleaseName: cfg.Release, Wait: true, Timeout: cfg.Timeout.Duration}).Run(ctx)
	if err != nil {
		step.Fail("")
		return nil, err
	}
	if un.Removed {
		res.Removed = append(res.Removed, "release "+cfg.Release)
		step.Done("removed")
	} else {
		step.Skip("no release")
	}

	step = out.Start("objects dagster-dev created")
	removed, err := kube.DeleteOwned(ctx, kc.Clientset, ns, cfg.Release, watch.LeaseName)
	if err != nil {
		step.Fail("")
		return nil, err
	}
	res.Removed = append(res.Removed, removed...)
	if len(removed) == 0 {
		step.Skip("none left")
	} else {
		step.Done(strings.Join(removed, ", "))
	}
	return res, nil
}
