package stack

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/podlogs"
)

// Logs shows the logs of the release's pods, several at once, each line
// prefixed with a short label of its pod: `dagster-dev logs`.
type Logs struct {
	Env *Env
	// Components are LogComponents names or code-location names; none
	// means every component and the runs' pods.
	Components []string
	// RunID shows one run: its run and step pods, and its Dagster event
	// log, in time order.
	RunID   string
	Follow  bool
	Options podlogs.Options
	Out     podlogs.Sink
}

// LogComponent is a name `logs` takes and what it selects.
type LogComponent struct {
	Name string
	// Component is the chart component; "" for the runs' pods.
	Component string
	Help      string
}

// LogComponents are the names `dagster-dev logs` takes besides code
// locations' names.
var LogComponents = []LogComponent{
	{"dagit", kube.ComponentDagit, "the webserver"},
	{"daemon", kube.ComponentDaemon, "schedules, sensors, the run queue and monitoring"},
	{"workers", kube.ComponentWorker, "the Celery workers"},
	{"code", kube.ComponentUserCode, "every code server"},
	{"postgresql", kube.ComponentDatabase, "the run storage"},
	{"rabbitmq", kube.ComponentBroker, "the Celery broker"},
	{"runs", "", "the run and step pods of every run"},
}

// shortNames are the prefixes of each component's pods.
var shortNames = map[string]string{
	kube.ComponentDagit: "dagit", kube.ComponentDaemon: "daemon", kube.ComponentWorker: "worker",
	kube.ComponentUserCode: "code", kube.ComponentDatabase: "postgresql", kube.ComponentBroker: "rabbitmq",
}

// UnknownComponentError names a component `logs` does not know.
type UnknownComponentError struct {
	Name  string
	Known []string
}

func (e *UnknownComponentError) Error() string {
	return fmt.Sprintf("no component or code location named %q", e.Name)
}

func (e *UnknownComponentError) Fix() string {
	return "use one of: " + strings.Join(e.Known, ", ")
}

// selection is what the component arguments select.
type selection struct {
	release    string
	runID      string
	all, runs  bool
	components sets.Set[string]
	locations  sets.Set[string]
}

// CodeLocationNames are the code locations deployed for the release, and
// those the config declares: what `logs` and shell completion offer.
func CodeLocationNames(ctx context.Context, client kubernetes.Interface, cfg *config.Config) []string {
	names := sets.New[string]()
	for _, l := range cfg.CodeLocations {
		names.Insert(l.Name)
	}
	if client != nil {
		if ws, err := kube.ListWorkloads(ctx, client, cfg.Namespace, kube.ComponentSelector(cfg.Release, kube.ComponentUserCode)); err == nil {
			for _, w := range ws.All() {
				if loc := w.Template.Labels[kube.LabelCodeLocation]; loc != "" {
					names.Insert(loc)
				}
			}
		}
	}
	return sets.List(names)
}

// LogNames are every name `logs` takes: the components, then the code
// locations of the config and, when the cluster answers (best effort,
// within ctx), of the release; with no config, the components alone.
// Shell completion offers them.
func LogNames(ctx context.Context, env *Env) []string {
	names := make([]string, 0, len(LogComponents))
	for _, c := range LogComponents {
		names = append(names, c.Name)
	}
	if env == nil {
		return names
	}
	var client kubernetes.Interface
	if kc, err := env.Kube.Connect(); err == nil {
		client = kc.Clientset
	}
	return append(names, CodeLocationNames(ctx, client, env.Config)...)
}

func (l *Logs) selection(ctx context.Context, client kubernetes.Interface) (*selection, error) {
	sel := &selection{release: l.Env.Config.Release, runID: l.RunID, components: sets.New[string](), locations: sets.New[string]()}
	if len(l.Components) == 0 {
		sel.all = l.RunID == ""
		return sel, nil
	}
	known := map[string]LogComponent{}
	for _, c := range LogComponents {
		known[c.Name] = c
	}
	var locations []string
	for _, name := range l.Components {
		if c, ok := known[name]; ok {
			if c.Component == "" {
				sel.runs = true
			} else {
				sel.components.Insert(c.Component)
			}
			continue
		}
		if locations == nil {
			locations = CodeLocationNames(ctx, client, l.Env.Config)
		}
		if !slices.Contains(locations, name) {
			names := make([]string, 0, len(LogComponents)+len(locations))
			for _, c := range LogComponents {
				names = append(names, c.Name)
			}
			return nil, &UnknownComponentError{Name: name, Known: append(names, locations...)}
		}
		sel.locations.Insert(name)
	}
	return sel, nil
}

// source turns the selection into the pods to read and their labels.
func (s *selection) source(namespace string) podlogs.Source {
	src := podlogs.Source{Namespace: namespace, Match: s.match}
	switch {
	case s.runID != "":
		src.Selector = kube.RunSelector(s.runID)
	case !s.all && !s.runs:
		src.Selector = kube.ReleaseSelector(s.release)
	}
	return src
}

// match keeps the selected pods and names them: "dagit/x7k2p",
// "analytics/9fz3d" (a code location), "postgresql/0", "run-1a2b3c4d" and
// "1a2b3c4d/my_op" (a run's pod and a step's).
func (s *selection) match(p *corev1.Pod) (string, bool) {
	comp := p.Labels[kube.LabelComponent]
	if comp == kube.ComponentRunWorker || comp == kube.ComponentStepWorker {
		if p.Labels[kube.LabelRunRelease] != s.release || !(s.all || s.runs || s.runID != "") {
			return "", false
		}
		run := shortRun(p.Labels[kube.LabelRunID])
		if comp == kube.ComponentRunWorker {
			return "run-" + run, true
		}
		step := p.Labels[kube.LabelOp]
		if step == "" {
			step = podSuffix(p.Name)
		}
		return run + "/" + step, true
	}
	if s.runID != "" || p.Labels[kube.LabelInstance] != s.release {
		return "", false
	}
	loc := p.Labels[kube.LabelCodeLocation]
	if !s.all && !s.components.Has(comp) && !(comp == kube.ComponentUserCode && s.locations.Has(loc)) {
		return "", false
	}
	name, ok := shortNames[comp]
	if !ok {
		return "", false
	}
	if comp == kube.ComponentUserCode && loc != "" {
		name = loc
	}
	return name + "/" + podSuffix(p.Name), true
}

func shortRun(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// podSuffix is what tells a workload's pods apart: a Deployment pod's
// random suffix, a StatefulSet pod's ordinal.
func podSuffix(name string) string {
	return name[strings.LastIndex(name, "-")+1:]
}

// Run reads the logs once, or follows them until ctx ends (with a run:
// until the run has ended and its pods' logs are read).
func (l *Logs) Run(ctx context.Context) error {
	kc, err := l.Env.Kube.Connect()
	if err != nil {
		return err
	}
	sel, err := l.selection(ctx, kc.Clientset)
	if err != nil {
		return err
	}
	reader := &podlogs.Reader{Client: kc.Clientset}
	src := sel.source(l.Env.Config.Namespace)
	var events *runEvents
	if l.RunID != "" {
		conn := l.Env.DagitConn(ctx, kc)
		defer conn.Close()
		client := l.Env.dagit("", 30*time.Second)
		client.URL = conn.BaseURL
		events = &runEvents{client: client, runID: l.RunID, out: l.Out}
	}
	if !l.Follow {
		lines, err := reader.Collect(ctx, src, l.Options, l.Out.Notice)
		if err != nil {
			return fmt.Errorf("reading logs: %w", err)
		}
		if events != nil {
			evLines, err := events.lines(ctx)
			if err != nil {
				l.Out.Notice("events", fmt.Sprintf("Dagster's event log not readable: %v", err))
			} else if len(lines) == 0 && len(evLines) == 0 {
				return &RunNotFoundError{RunID: l.RunID}
			}
			lines = podlogs.Merge(lines, evLines)
		}
		if len(lines) == 0 {
			l.Out.Notice("logs", "no log lines: no selected pod has run (yet)")
		}
		for _, line := range lines {
			l.Out.Line(line)
		}
		return nil
	}
	opts := l.Options
	opts.Finished = l.RunID != ""
	f := &podlogs.Follower{Reader: reader, Source: src, Opts: opts, Sink: l.Out}
	if events == nil {
		return f.Run(ctx, nil)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		events.follow(ctx)
		// The run has ended: let its pods' last lines arrive.
		_ = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			return f.Active() == 0, nil
		})
		cancel()
	}()
	return f.Run(ctx, nil)
}

// RunNotFoundError says neither Dagster nor the cluster knows the run.
type RunNotFoundError struct{ RunID string }

func (e *RunNotFoundError) Error() string {
	return fmt.Sprintf("no run %s: no pods and no events", e.RunID)
}
func (e *RunNotFoundError) Fix() string {
	return "copy the run ID from Dagit's Runs page or `dagster-dev status` (the full ID, not the 8-character prefix)"
}

// runEvents reads a run's Dagster event log as log lines labelled
// "events": a failed run's error is there even when its pods say little.
type runEvents struct {
	client *dagit.Client
	runID  string
	out    podlogs.Sink
	cursor string
}

func (r *runEvents) lines(ctx context.Context) ([]podlogs.Line, error) {
	evs, cursor, err := r.client.LogsAfter(ctx, r.runID, r.cursor)
	r.cursor = cursor
	var out []podlogs.Line
	for _, e := range evs {
		out = append(out, eventLines(e)...)
	}
	return out, err
}

// eventLines renders one event: its type, step and message, then its
// error's lines.
func eventLines(e dagit.Event) []podlogs.Line {
	head := e.EventType
	if head == "" {
		head = strings.TrimSuffix(e.Typename, "Event")
	}
	if e.StepKey != "" {
		head += " [" + e.StepKey + "]"
	}
	out := []podlogs.Line{{Time: e.Time, Label: "events", Text: head + ": " + strings.TrimSpace(e.Message)}}
	if e.Error != nil {
		for _, line := range strings.Split(strings.TrimRight(e.Error.Error(), "\n"), "\n") {
			out = append(out, podlogs.Line{Time: e.Time, Label: "events", Text: "    " + line})
		}
	}
	return out
}

// follow prints the run's new events every second until the run ends.
func (r *runEvents) follow(ctx context.Context) {
	warned := false
	_ = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		if err := r.print(ctx); err != nil && !warned && ctx.Err() == nil {
			r.out.Notice("events", fmt.Sprintf("Dagster's event log not readable (retrying): %v", err))
			warned = true
		}
		run, err := r.client.Run(ctx, r.runID)
		if err != nil || !dagit.TerminalStatus(run.Status) {
			return false, nil
		}
		// The events written between the read and the status.
		_ = r.print(ctx)
		r.out.Notice("events", "run "+run.Status)
		return true, nil
	})
}

// print sends the events after the cursor to the sink.
func (r *runEvents) print(ctx context.Context) error {
	lines, err := r.lines(ctx)
	for _, l := range lines {
		r.out.Line(l)
	}
	return err
}
