package e2e

import (
	"context"
	"fmt"
	"strings"
	"time"
)

func (s *suite) caseDagit(ctx context.Context, t *T) error {
	info, err := waitServerInfo(ctx, s.gql, Poll{Interval: s.poll, Timeout: min(s.timeout(), 2*time.Minute)})
	if err != nil {
		err = fmt.Errorf("GET %s/server_info: %w", s.dagit.Describe(), err)
		if !s.cfg.ExistingCluster() && strings.Contains(err.Error(), "connection refused") {
			err = fmt.Errorf("%w\n  hint: 127.0.0.1:%d is kind's port mapping to Dagit's NodePort %d, fixed when the cluster was created; if dagit.hostPort or dagit.nodePort changed since, recreate the cluster (dagster-dev down, then up)",
				err, s.cfg.Dagit.HostPort, s.cfg.Dagit.NodePort)
		}
		return err
	}
	t.Logf("Dagit %s (Dagster %s) at %s", info.WebserverVersion, info.DagsterVersion, s.dagit.Describe())
	return nil
}
