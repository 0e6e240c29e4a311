package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/text"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func (s *suite) caseHealth(ctx context.Context, t *T) error {
	nodes, err := s.kube.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	if len(nodes.Items) == 0 {
		return errors.New("the cluster has no nodes")
	}
	var problems []string
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				ready = c.Status == corev1.ConditionTrue
				if !ready {
					problems = append(problems, fmt.Sprintf("node %s is not Ready: %s %s", n.Name, c.Reason, c.Message))
				}
			}
		}
		if !ready && len(problems) == 0 {
			problems = append(problems, fmt.Sprintf("node %s reports no Ready condition", n.Name))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	t.Logf("%d %s Ready", len(nodes.Items), text.Plural(len(nodes.Items), "node", "nodes"))

	// Right after `up` or a previous case's restore a workload may still be
	// finishing its roll; a short grace tells that from a broken one, and a
	// pod failure (crash loop, image pull) ends the wait at once.
	deadline := time.Now().Add(min(s.timeout(), 2*time.Minute))
	for {
		ws, err := s.kube.releaseWorkloads(ctx)
		if err != nil {
			return err
		}
		if len(ws) == 0 {
			return fmt.Errorf("release %s has no workloads in namespace %s: run `dagster-dev up`", s.cfg.Release, s.cfg.Namespace)
		}
		celery, err := s.celery()
		if err != nil {
			return err
		}
		required := []string{kube.ComponentDagit, kube.ComponentUserCode}
		if celery {
			required = append(required, kube.ComponentWorker)
		}
		var missing []string
		for _, comp := range required {
			if _, ok := findWorkload(ws, comp, ""); !ok {
				missing = append(missing, comp)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("release %s has no workload for %s (workloads: %s)", s.cfg.Release, strings.Join(missing, ", "), workloadIDs(ws))
		}
		var pending []string
		for _, w := range ws {
			if f := w.status.Failure; f != nil {
				return f
			}
			if !w.status.Done {
				pending = append(pending, fmt.Sprintf("%s: %d/%d ready, %s", w.ID(), w.status.Ready, w.status.Desired, w.status.Waiting))
			}
		}
		if len(pending) == 0 {
			t.Logf("%d workloads healthy: %s", len(ws), workloadIDs(ws))
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d workloads of release %s are not healthy:\n%s", len(pending), len(ws), s.cfg.Release, strings.Join(pending, "\n"))
		}
		if err := sleep(ctx, 3*time.Second); err != nil {
			return err
		}
	}
}
