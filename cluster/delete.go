package cluster

import (
	"context"
	"fmt"
	"time"
)

// DeleteResult says what Delete did.
type DeleteResult struct {
	Name    string
	Deleted bool     // false: there was nothing to delete
	Nodes   []string // node containers removed
	Message string   // one line for the user
	// VolumesInBackground is how many node volumes are still being
	// deleted by a detached process when Delete returns.
	VolumesInBackground int
	Duration            time.Duration
}

// Delete removes kind cluster name and its context in kubeconfigPath ("" =
// kind's default), but only if dagster-dev created it; otherwise it returns
// a *NotOwnedError. A cluster that does not exist is not an error: Delete is
// idempotent so `dagster-dev down` can always be re-run.
func (p *Provider) Delete(ctx context.Context, name, kubeconfigPath string) (*DeleteResult, error) {
	start := time.Now()
	dc, nodes, err := p.clusterNodes(ctx, "delete", name)
	if err != nil {
		return nil, err
	}
	res := &DeleteResult{Name: name}
	if len(nodes) == 0 {
		res.Message = fmt.Sprintf("kind cluster %q does not exist: nothing to delete", name)
		res.Duration = time.Since(start)
		return res, nil
	}
	owned := false
	if cp := controlPlane(nodes); cp != nil {
		rec, err := readOwner(ctx, dc, cp.ID)
		if err != nil {
			return nil, fmt.Errorf("delete kind cluster %q: %w", name, p.dockerError(err))
		}
		owned = rec != nil
	}
	if !owned {
		return nil, &NotOwnedError{Cluster: name}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.logger.Infof("deleting kind cluster %q (%d node container(s))", name, len(nodes))
	volumes, err := p.removeNodeContainers(ctx, dc, nodes)
	if err != nil {
		return nil, fmt.Errorf("delete kind cluster %q: %w", name, err)
	}
	// kind's Delete removes what is left of the nodes (none, unless one
	// appeared meanwhile) and the kind-<name> context (cluster, user) from
	// the kubeconfig, leaving other contexts alone.
	if err := p.kind.Delete(name, kubeconfigPath); err != nil {
		return nil, fmt.Errorf("delete kind cluster %q: %w", name, err)
	}
	if len(volumes) > 0 {
		if removeVolumesDetached(volumes) {
			res.VolumesInBackground = len(volumes)
		} else {
			for _, v := range volumes {
				if err := dc.VolumeRemove(context.WithoutCancel(ctx), v, true); err != nil {
					return nil, fmt.Errorf("delete kind cluster %q: remove volume %s: %w", name, v, p.dockerError(err))
				}
			}
		}
	}
	res.Deleted = true
	res.Nodes = nodeNames(nodes)
	res.Duration = time.Since(start)
	res.Message = fmt.Sprintf("deleted kind cluster %q (%d node(s)) in %s", name, len(nodes), res.Duration.Round(100*time.Millisecond))
	return res, nil
}
