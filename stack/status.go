package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/cluster"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// Status reports the environment's health without changing anything.
type Status struct {
	Config   *config.Config
	Provider *cluster.Provider
}

// Report is Status's result; its JSON form is `dagster-dev status --json`.
type Report struct {
	Healthy  bool             `json:"healthy"`
	Problems []string         `json:"problems,omitempty"`
	Cluster  ClusterReport    `json:"cluster"`
	Release  *ReleaseReport   `json:"release,omitempty"`
	Workload []WorkloadReport `json:"workloads,omitempty"`
	Dagit    DagitReport      `json:"dagit"`
}

// ClusterReport describes the cluster.
type ClusterReport struct {
	Name     string       `json:"name,omitempty"`
	Context  string       `json:"context"`
	Existing bool         `json:"existingCluster"`
	Exists   bool         `json:"exists"`
	Owned    bool         `json:"createdByDagsterDev"`
	Nodes    []NodeReport `json:"nodes,omitempty"`
}

// NodeReport is one node container.
type NodeReport struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	State string `json:"state"`
	Image string `json:"image"`
}

// ReleaseReport is the Helm release.
type ReleaseReport struct {
	Name         string    `json:"name"`
	Namespace    string    `json:"namespace"`
	Revision     int       `json:"revision"`
	State        string    `json:"state"`
	ChartVersion string    `json:"chartVersion"`
	AppVersion   string    `json:"appVersion"`
	Updated      time.Time `json:"updated"`
}

// WorkloadReport is one Deployment, StatefulSet or DaemonSet of the release.
type WorkloadReport struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Ready   int32  `json:"ready"`
	Desired int32  `json:"desired"`
}

// DagitReport says whether Dagit answers.
type DagitReport struct {
	URL      string `json:"url"`
	Answers  bool   `json:"answers"`
	Response string `json:"response,omitempty"`
}

// Run gathers the report. An error means status itself could not run
// (e.g. Docker unreachable); an unhealthy environment is a Report with
// Healthy false.
func (s *Status) Run(ctx context.Context) (*Report, error) {
	cfg := s.Config
	r := &Report{
		Cluster: ClusterReport{Context: cfg.KubeContext(), Existing: cfg.ExistingCluster()},
		Dagit:   DagitReport{URL: cfg.DagitURL()},
	}
	if !cfg.ExistingCluster() {
		p := s.Provider
		if p == nil {
			p = cluster.NewProvider()
		}
		st, err := p.Status(ctx, cfg.Cluster.Name)
		if err != nil {
			return nil, err
		}
		r.Cluster.Name, r.Cluster.Exists, r.Cluster.Owned = st.Name, st.Exists, st.Owned
		for _, n := range st.Nodes {
			r.Cluster.Nodes = append(r.Cluster.Nodes, NodeReport{Name: n.Name, Role: n.Role, State: n.State, Image: n.Image})
			if n.State != "running" {
				r.problem("node %s is %s (run `dagster-dev up` to start it)", n.Name, n.State)
			}
		}
		if !st.Exists {
			r.problem("kind cluster %s does not exist (run `dagster-dev up`)", cfg.Cluster.Name)
			return r.finish(), nil
		}
		if !st.Running() {
			return r.finish(), nil
		}
	}

	kc, err := connect(cfg)
	if err != nil {
		var ce *kube.ContextError
		if errors.As(err, &ce) {
			r.problem("%v (%s)", err, ce.Fix())
		} else {
			r.problem("%v", err)
		}
		return r.finish(), nil
	}
	if _, err := kc.Clientset.Discovery().ServerVersion(); err != nil {
		r.problem("API server of %s unreachable: %v", cfg.KubeContext(), err)
		return r.finish(), nil
	}
	r.Cluster.Exists = true

	helmCfg, err := chart.NewActionConfig(kc.Kubeconfig, kc.Context, cfg.Namespace, nil)
	if err != nil {
		return nil, err
	}
	rel, err := (&chart.Status{Config: helmCfg, ReleaseName: cfg.Release}).Run()
	switch {
	case errors.Is(err, chart.ErrReleaseNotFound):
		r.problem("release %s is not installed in namespace %s (run `dagster-dev up`)", cfg.Release, cfg.Namespace)
		return r.finish(), nil
	case err != nil:
		return nil, err
	}
	r.Release = &ReleaseReport{Name: rel.Name, Namespace: rel.Namespace, Revision: rel.Revision, State: string(rel.State),
		ChartVersion: rel.ChartVersion, AppVersion: rel.AppVersion, Updated: rel.Updated}
	if rel.State != "deployed" {
		r.problem("release %s is %s (run `dagster-dev up` to converge it)", rel.Name, rel.State)
	}

	if err := r.workloads(ctx, kc.Clientset, cfg); err != nil {
		return nil, err
	}
	if !cfg.ExistingCluster() {
		r.Dagit.Answers, r.Dagit.Response = probeDagit(ctx, cfg.DagitURL())
		if !r.Dagit.Answers {
			r.problem("Dagit does not answer on %s/server_info", cfg.DagitURL())
		}
	}
	return r.finish(), nil
}

func (r *Report) workloads(ctx context.Context, client kubernetes.Interface, cfg *config.Config) error {
	ws, err := kube.ListWorkloads(ctx, client, cfg.Namespace, kube.ReleaseSelector(cfg.Release))
	if err != nil {
		return fmt.Errorf("listing the release's workloads: %w", err)
	}
	for _, w := range ws.All() {
		r.Workload = append(r.Workload, WorkloadReport{Kind: w.Kind, Name: w.Meta.Name, Ready: w.Ready, Desired: w.Desired})
	}
	sort.Slice(r.Workload, func(i, j int) bool { return r.Workload[i].Name < r.Workload[j].Name })
	for _, w := range r.Workload {
		if w.Ready < w.Desired {
			r.problem("%s %s: %d/%d ready", w.Kind, w.Name, w.Ready, w.Desired)
		}
	}
	return nil
}

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func (r *Report) finish() *Report {
	r.Healthy = len(r.Problems) == 0
	return r
}

func probeDagit(ctx context.Context, base string) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/server_info", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode == http.StatusOK, strings.TrimSpace(string(body))
}

// Text renders the report for a terminal.
func (r *Report) Text() string {
	var b strings.Builder
	state := "healthy"
	if !r.Healthy {
		state = "UNHEALTHY"
	}
	fmt.Fprintf(&b, "environment: %s\n", state)
	if r.Cluster.Existing {
		fmt.Fprintf(&b, "cluster:     existing context %s\n", r.Cluster.Context)
	} else {
		owner := "created by dagster-dev"
		if !r.Cluster.Owned {
			owner = "not created by dagster-dev"
		}
		if !r.Cluster.Exists {
			owner = "absent"
		}
		fmt.Fprintf(&b, "cluster:     kind %s (%s), context %s\n", r.Cluster.Name, owner, r.Cluster.Context)
		for _, n := range r.Cluster.Nodes {
			fmt.Fprintf(&b, "  node %-36s %-14s %-8s %s\n", n.Name, n.Role, n.State, n.Image)
		}
	}
	if r.Release != nil {
		fmt.Fprintf(&b, "release:     %s revision %d, %s, chart %s (Dagster %s), updated %s\n", r.Release.Name, r.Release.Revision,
			r.Release.State, r.Release.ChartVersion, r.Release.AppVersion, r.Release.Updated.Format(time.RFC3339))
	}
	for _, w := range r.Workload {
		mark := "✓"
		if w.Ready < w.Desired {
			mark = "✗"
		}
		fmt.Fprintf(&b, "  %s %-11s %-40s %d/%d\n", mark, w.Kind, w.Name, w.Ready, w.Desired)
	}
	if !r.Cluster.Existing {
		answer := "answers"
		if !r.Dagit.Answers {
			answer = "does not answer"
		}
		fmt.Fprintf(&b, "dagit:       %s (%s)\n", r.Dagit.URL, answer)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "problem: %s\n", p)
	}
	return b.String()
}
