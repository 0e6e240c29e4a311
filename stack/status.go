package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/progress"
	"github.com/dagster-dev/dagster-dev/internal/text"
	"github.com/dagster-dev/dagster-dev/watch"
)

// Status reports the environment's health without changing anything.
type Status struct {
	Env *Env
	// Runs is how many of the newest runs to list (0 = DefaultStatusRuns).
	Runs int
}

// NewStatus is Status on env.
func NewStatus(env *Env) *Status { return &Status{Env: env} }

// DefaultStatusRuns is how many runs status lists unless asked.
const DefaultStatusRuns = 5

// Report is Status's result; its JSON form is `dagster-dev status --json`.
type Report struct {
	Healthy  bool             `json:"healthy"`
	Problems []string         `json:"problems,omitempty"`
	Cluster  ClusterReport    `json:"cluster"`
	Release  *ReleaseReport   `json:"release,omitempty"`
	Workload []WorkloadReport `json:"workloads,omitempty"`
	Dagit    DagitReport      `json:"dagit"`
	// Locations are the code locations of Dagit's workspace.
	Locations []LocationReport `json:"codeLocations"`
	// Runs are the newest runs, newest first.
	Runs []RunReport `json:"runs"`
	// Watch is the dagster-dev watch that holds the environment's lease;
	// null when none runs.
	Watch *watch.Holder `json:"watch"`
	// Took is how long status took to gather the report.
	Took time.Duration `json:"-"`
}

// LocationReport is one code location as Dagit has it.
type LocationReport struct {
	Name string `json:"name"`
	// Status is loaded, loading or failed.
	Status string `json:"status"`
	// Error is the start of the load error of a failed location.
	Error string `json:"error,omitempty"`
}

// RunReport is one run of the history.
type RunReport struct {
	ID      string     `json:"id"`
	Job     string     `json:"job"`
	Status  string     `json:"status"`
	Created time.Time  `json:"created"`
	Started *time.Time `json:"started,omitempty"`
	Ended   *time.Time `json:"ended,omitempty"`
	// Seconds is how long it ran (so far).
	Seconds float64 `json:"durationSeconds"`
	// Suite is true for a run `dagster-dev test` launched: such runs do
	// not make the environment unhealthy.
	Suite bool `json:"suite,omitempty"`
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
	URL string `json:"url"`
	// Forwarded is true on an existing cluster: URL is served only while
	// `dagster-dev dagit` runs (status asks through a port-forward of its
	// own).
	Forwarded bool   `json:"forwarded,omitempty"`
	Answers   bool   `json:"answers"`
	Response  string `json:"response,omitempty"`
}

// Run gathers the report. An error means status itself could not run
// (e.g. Docker unreachable); an unhealthy environment is a Report with
// Healthy false.
func (s *Status) Run(ctx context.Context) (*Report, error) {
	start := time.Now()
	cfg := s.Env.Config
	r := &Report{
		Cluster:   ClusterReport{Context: cfg.KubeContext(), Existing: cfg.ExistingCluster()},
		Dagit:     DagitReport{URL: cfg.DagitURL(), Forwarded: cfg.ExistingCluster()},
		Locations: []LocationReport{},
		Runs:      []RunReport{},
	}
	rep, err := s.gather(ctx, r)
	if rep != nil {
		rep.Took = time.Since(start)
	}
	return rep, err
}

func (s *Status) gather(ctx context.Context, r *Report) (*Report, error) {
	cfg := s.Env.Config
	if !cfg.ExistingCluster() {
		st, err := s.Env.Cluster.Status(ctx, cfg.Cluster.Name)
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

	kc, err := s.Env.Kube.Connect()
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

	rel, err := (&chart.Status{Config: kc.Helm, ReleaseName: cfg.Release}).Run()
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
	if h, err := watch.LeaseHolder(ctx, kc.Clientset, cfg.Namespace); err == nil {
		r.Watch = h
	}
	conn := s.Env.DagitConn(ctx, kc)
	defer conn.Close()
	base, err := conn.BaseURL(ctx)
	if err != nil {
		r.problem("Dagit cannot be reached: %v", err)
		return r.finish(), nil
	}
	info, err := s.Env.dagit(base, 5*time.Second).ServerInfo(ctx)
	r.Dagit.Answers, r.Dagit.Response = err == nil, info
	if err != nil {
		r.Dagit.Response = err.Error()
		r.problem("Dagit does not answer on %s/server_info", conn.Describe())
		return r.finish(), nil
	}
	s.dagster(ctx, r, s.Env.dagit(base, 15*time.Second))
	return r.finish(), nil
}

// dagster adds what Dagit says: the code locations and the newest runs.
func (s *Status) dagster(ctx context.Context, r *Report, client *dagit.Client) {
	var locs []dagit.LocationEntry
	var runs []dagit.RunSummary
	var locErr, runErr error
	n := s.Runs
	if n <= 0 {
		n = DefaultStatusRuns
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); locs, locErr = client.Locations(ctx) }()
	go func() { defer wg.Done(); runs, runErr = client.RecentRuns(ctx, n) }()
	wg.Wait()
	if locErr != nil {
		r.problem("reading Dagit's code locations: %v", locErr)
	}
	for _, l := range locs {
		rep := LocationReport{Name: l.Name, Status: "loading"}
		switch {
		case l.Loaded():
			rep.Status = "loaded"
		case l.LoadError != nil && l.LoadStatus == dagit.LocationLoaded:
			rep.Status = "failed"
			ce := codeLocationError(s.Env.Config, &dagit.LocationLoadError{Location: l.Name, Err: l.LoadError})
			rep.Error = ce.Message
			if ce.File != "" {
				rep.Error = fmt.Sprintf("%s:%d: %s", ce.File, ce.Line, ce.Message)
			}
			r.problem("code location %s failed to load: %s", l.Name, rep.Error)
		default:
			r.problem("code location %s is still loading", l.Name)
		}
		r.Locations = append(r.Locations, rep)
	}
	if runErr != nil {
		r.problem("reading Dagit's runs: %v", runErr)
	}
	now := time.Now()
	judged := map[string]bool{}
	for _, run := range runs {
		rep := RunReport{ID: run.ID, Job: run.Job, Status: run.Status, Created: run.Created, Seconds: run.Duration(now).Round(time.Millisecond).Seconds()}
		if !run.Started.IsZero() {
			rep.Started = &run.Started
		}
		if !run.Ended.IsZero() {
			rep.Ended = &run.Ended
		}
		_, rep.Suite = run.Tags[dagit.SuiteRunTag]
		r.Runs = append(r.Runs, rep)
		// The newest finished run of each job says whether the job works.
		if rep.Suite || !dagit.TerminalStatus(run.Status) || judged[run.Job] {
			continue
		}
		judged[run.Job] = true
		if run.Status == dagit.RunFailure {
			r.problem("the last run of job %s failed: run %s (`dagster-dev logs --run %s`)", run.Job, run.ID, run.ID)
		}
	}
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
		var nodes [][]string
		for _, n := range r.Cluster.Nodes {
			nodes = append(nodes, []string{"node " + n.Name, n.Role, n.State, n.Image})
		}
		writeTable(&b, nodes, nil)
	}
	if r.Release != nil {
		fmt.Fprintf(&b, "release:     %s revision %d, %s, chart %s (Dagster %s), updated %s\n", r.Release.Name, r.Release.Revision,
			r.Release.State, r.Release.ChartVersion, r.Release.AppVersion, r.Release.Updated.Format(time.RFC3339))
	}
	var workloads [][]string
	for _, w := range r.Workload {
		mark := "✓"
		if w.Ready < w.Desired {
			mark = "✗"
		}
		workloads = append(workloads, []string{mark + " " + w.Kind, w.Name, fmt.Sprintf("%d/%d", w.Ready, w.Desired)})
	}
	writeTable(&b, workloads, nil)
	answer := "answers"
	if !r.Dagit.Answers {
		answer = "does not answer"
	}
	if r.Dagit.Forwarded {
		fmt.Fprintf(&b, "dagit:       %s while `dagster-dev dagit` runs (%s through a port-forward)\n", r.Dagit.URL, answer)
	} else {
		fmt.Fprintf(&b, "dagit:       %s (%s)\n", r.Dagit.URL, answer)
	}
	if len(r.Locations) > 0 {
		fmt.Fprintf(&b, "code locations:\n")
		var locations [][]string
		for _, l := range r.Locations {
			mark := map[string]string{"loaded": "✓", "failed": "✗"}[l.Status]
			if mark == "" {
				mark = "…"
			}
			locations = append(locations, []string{mark + " " + l.Name, l.Status})
		}
		// A failed location's error goes under its row, outside the
		// columns, which stay aligned across it.
		writeTable(&b, locations, func(i int) {
			if e := r.Locations[i].Error; e != "" {
				b.WriteString(text.Indent(e, "      "))
				b.WriteByte('\n')
			}
		})
	}
	if len(r.Runs) > 0 {
		fmt.Fprintf(&b, "runs (newest first):\n")
		// Durations align on the right: padded to the longest here, as
		// tabwriter aligns every column of a table the same way.
		durations := make([]string, len(r.Runs))
		width := 0
		for i, run := range r.Runs {
			durations[i] = progress.Round(time.Duration(run.Seconds * float64(time.Second)))
			width = max(width, utf8.RuneCountInString(durations[i]))
		}
		var runs [][]string
		for i, run := range r.Runs {
			mark := map[string]string{dagit.RunSuccess: "✓", dagit.RunFailure: "✗", dagit.RunCanceled: "-"}[run.Status]
			if mark == "" {
				mark = "…"
			}
			created := run.Created.Local().Format("Jan 2 15:04:05")
			if run.Suite {
				created += "  (dagster-dev test)"
			}
			runs = append(runs, []string{mark + " " + run.ID, run.Job, run.Status, fmt.Sprintf("%*s", width, durations[i]), created})
		}
		writeTable(&b, runs, nil)
	}
	switch {
	case r.Watch == nil:
		fmt.Fprintf(&b, "watch:       not running\n")
	case r.Watch.Stale:
		fmt.Fprintf(&b, "watch:       stale lease of %s (not renewed since %s; it was killed or lost the cluster)\n", r.Watch.Identity, r.Watch.Renewed.Local().Format(time.RFC3339))
	default:
		fmt.Fprintf(&b, "watch:       running: %s, since %s\n", r.Watch.Identity, r.Watch.Since.Local().Format(time.RFC3339))
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "problem: %s\n", p)
	}
	return b.String()
}

// writeTable writes rows of cells to b as a table: each row on a line
// indented by two spaces, its cells in columns (text/tabwriter) as wide as
// their longest cell plus two spaces, so a long name moves the columns after
// it instead of breaking their alignment. after, if not nil, is called with
// each row's index once the row is written, to add lines under it that are
// not part of the table (the columns stay aligned across them).
func writeTable(b *strings.Builder, rows [][]string, after func(i int)) {
	if len(rows) == 0 {
		return
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	for _, row := range rows {
		for i, cell := range row {
			if i > 0 {
				tw.Write([]byte{'\t'})
			}
			tw.Write([]byte(tableCell(cell)))
		}
		tw.Write([]byte{'\n'})
	}
	tw.Flush() // writes to a bytes.Buffer: cannot fail
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	for i, line := range lines {
		// An empty last cell leaves the padding of the one before it.
		b.WriteString("  " + strings.TrimRight(line, " ") + "\n")
		if after != nil {
			after(i)
		}
	}
}

// tableCell is s as one cell: the characters tabwriter reads as the end of
// a cell or a line become spaces.
func tableCell(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\v', '\f', '\r':
			return ' '
		}
		return r
	}, s)
}
