package stack

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/cluster"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/watch"
)

// Down removes what Up created: the kind cluster (only one dagster-dev
// created) and its kubeconfig context; in existing-cluster mode the release
// and the objects dagster-dev made, never anything else. It is idempotent.
type Down struct {
	Config   *config.Config
	Out      Printer
	Provider *cluster.Provider
}

// DownResult says what was removed.
type DownResult struct {
	Removed  []string
	Duration time.Duration
}

// Run performs Down.
func (d *Down) Run(ctx context.Context) (*DownResult, error) {
	start := time.Now()
	if d.Config.ExistingCluster() {
		res, err := d.existing(ctx)
		if res != nil {
			res.Duration = time.Since(start)
		}
		return res, err
	}
	p := d.Provider
	if p == nil {
		p = cluster.NewProvider(cluster.WithLogger(logAdapter{d.Out}))
	}
	step := d.Out.Start("delete cluster " + d.Config.Cluster.Name)
	del, err := p.Delete(ctx, d.Config.Cluster.Name, kindKubeconfig(d.Config))
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
	note := fmt.Sprintf("%d %s removed, context %s removed", len(del.Nodes), plural(len(del.Nodes), "node", "nodes"), cluster.KubeContext(del.Name))
	if del.VolumesInBackground > 0 {
		note += fmt.Sprintf("; %s freed in the background", plural(del.VolumesInBackground, "its volume is", "their volumes are"))
	}
	step.Done(note)
	return res, nil
}

// existing uninstalls from a cluster dagster-dev did not create.
func (d *Down) existing(ctx context.Context) (*DownResult, error) {
	cfg, out := d.Config, d.Out
	res := &DownResult{}
	kc, err := connect(cfg)
	if err != nil {
		return nil, err
	}
	ns := cfg.Namespace

	step := out.Start("uninstall " + cfg.Release)
	helmCfg, err := chart.NewActionConfig(kc.Kubeconfig, kc.Context, ns, nil)
	if err != nil {
		step.Fail("")
		return nil, err
	}
	un, err := (&chart.Uninstall{Config: helmCfg, ReleaseName: cfg.Release, Wait: true, Timeout: cfg.Timeout.Duration}).Run(ctx)
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
	removed, err := deleteOwnedObjects(ctx, kc.Clientset, ns, cfg.Release)
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

// deleteOwnedObjects removes the sources and lease watch made, the
// release's PVCs and the password Secret Helm keeps on uninstall, and the
// namespace if dagster-dev created it.
func deleteOwnedObjects(ctx context.Context, client kubernetes.Interface, ns, release string) ([]string, error) {
	var removed []string
	core := client.CoreV1()
	owned := metav1.ListOptions{LabelSelector: kube.ManagedBySelector()}
	ofRelease := metav1.ListOptions{LabelSelector: kube.ReleaseSelector(release)}

	nsObj, err := core.Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading namespace %s: %w", ns, err)
	}
	if nsObj.Labels[kube.LabelManagedBy] == kube.ManagedByValue {
		if err := core.Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("deleting namespace %s: %w", ns, err)
		}
		return []string{"namespace " + ns}, nil
	}

	cms, err := core.ConfigMaps(ns).List(ctx, owned)
	if err != nil {
		return nil, fmt.Errorf("listing ConfigMaps: %w", err)
	}
	for _, o := range cms.Items {
		if err := core.ConfigMaps(ns).Delete(ctx, o.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return removed, fmt.Errorf("deleting ConfigMap %s: %w", o.Name, err)
		}
		removed = append(removed, "ConfigMap "+o.Name)
	}
	for _, sel := range []metav1.ListOptions{owned, ofRelease} {
		secrets, err := core.Secrets(ns).List(ctx, sel)
		if err != nil {
			return removed, fmt.Errorf("listing Secrets: %w", err)
		}
		for _, o := range secrets.Items {
			if err := core.Secrets(ns).Delete(ctx, o.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return removed, fmt.Errorf("deleting Secret %s: %w", o.Name, err)
			}
			removed = append(removed, "Secret "+o.Name)
		}
	}
	pvcs, err := core.PersistentVolumeClaims(ns).List(ctx, ofRelease)
	if err != nil {
		return removed, fmt.Errorf("listing PersistentVolumeClaims: %w", err)
	}
	for _, o := range pvcs.Items {
		if err := core.PersistentVolumeClaims(ns).Delete(ctx, o.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return removed, fmt.Errorf("deleting PersistentVolumeClaim %s: %w", o.Name, err)
		}
		removed = append(removed, "PersistentVolumeClaim "+o.Name)
	}
	err = client.CoordinationV1().Leases(ns).Delete(ctx, watch.LeaseName, metav1.DeleteOptions{})
	switch {
	case err == nil:
		removed = append(removed, "Lease "+watch.LeaseName)
	case !apierrors.IsNotFound(err):
		return removed, fmt.Errorf("deleting Lease %s: %w", watch.LeaseName, err)
	}
	return removed, nil
}
