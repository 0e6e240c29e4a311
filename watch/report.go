package watch

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Reporter receives everything watch has to say; the CLI renders it. Calls
// come from several goroutines, one at a time (watch serialises them).
// Nothing passed to a Reporter ever contains a Secret value.
type Reporter interface {
	// Info is progress: what is watched, retries, recoveries.
	Info(msg string)
	// Problem is a change that was not applied (bad input, a refused
	// apply) or a rollout that failed. Watching continues.
	Problem(err error)
	// Changed is one applied change, reported once its rollouts finished.
	Changed(c Change)
	// Reloaded is one code location reloaded, or failed to load.
	Reloaded(r Reload)
}

// Change is one applied change: one source file's effect on the cluster.
type Change struct {
	// Files are the edited files, as the user knows them.
	Files []string
	// Object is "ConfigMap/name", "Secret/name", or "release <name>" for
	// chart values.
	Object string
	// Created is set when the object did not exist before.
	Created bool
	// Added, Removed and Changed are keys (variable names) or, for chart
	// values outside the env maps, dotted value paths. Never values.
	Added, Removed, Changed []string
	// Restarted are the workloads rolled for this change ("Deployment/x").
	Restarted []string
	// JobPods is set when job pods consume the change: they need no restart
	// because each run starts a new pod that reads the new values.
	JobPods bool
	// Applied is the time from the first save to the object (or release)
	// being updated in the cluster; Ready the time from the first save to
	// every restarted workload being Ready (0 when nothing restarted).
	Applied, Ready time.Duration
	// RolloutErr is set when a restarted workload did not become Ready.
	RolloutErr error
}

// Summary is the change in one line, e.g.
// "team.env → ConfigMap/team: ~LOG_LEVEL +NEW; restarted Deployment/dagster-dagit, Ready 4.2s after save (applied 85ms)".
func (c Change) Summary() string {
	var b strings.Builder
	b.WriteString(strings.Join(c.Files, ", "))
	b.WriteString(" → ")
	b.WriteString(c.Object)
	b.WriteString(": ")
	keys := keyList(c.Added, c.Removed, c.Changed)
	switch {
	case c.Created && keys != "":
		b.WriteString("created with " + keys)
	case c.Created:
		b.WriteString("created (empty)")
	case keys == "":
		b.WriteString("updated")
	default:
		b.WriteString(keys)
	}
	if len(c.Restarted) > 0 {
		b.WriteString("; restarted " + strings.Join(c.Restarted, ", "))
		if c.RolloutErr == nil {
			fmt.Fprintf(&b, ", Ready %s after save", roundDuration(c.Ready))
		}
	} else {
		b.WriteString("; no running workload reads it")
	}
	fmt.Fprintf(&b, " (applied %s after save)", roundDuration(c.Applied))
	if c.JobPods {
		b.WriteString("; job pods read the new values on their next run")
	}
	if c.RolloutErr != nil {
		b.WriteString("; ROLLOUT FAILED: " + c.RolloutErr.Error())
	}
	return b.String()
}

func keyList(added, removed, changed []string) string {
	var parts []string
	for _, k := range added {
		parts = append(parts, "+"+k)
	}
	for _, k := range changed {
		parts = append(parts, "~"+k)
	}
	for _, k := range removed {
		parts = append(parts, "-"+k)
	}
	const maxShown = 12
	if len(parts) > maxShown {
		more := len(parts) - maxShown
		parts = append(parts[:maxShown], fmt.Sprintf("(+%d more)", more))
	}
	return strings.Join(parts, " ")
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	default:
		return d.Round(time.Millisecond)
	}
}

// NewTextReporter writes one timestamped line per report to w: the plain
// rendering for terminals, CI logs and tests.
func NewTextReporter(w io.Writer) Reporter {
	return &textReporter{w: w, now: time.Now}
}

type textReporter struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

func (r *textReporter) line(prefix, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, "%s %s%s\n", r.now().Format("15:04:05"), prefix, msg)
}

func (r *textReporter) Info(msg string) { r.line("", msg) }

// Problem reports err, then its fix, in the order the CLI uses.
func (r *textReporter) Problem(err error) {
	msg := err.Error()
	var fixable interface{ Fix() string }
	if errors.As(err, &fixable) && fixable.Fix() != "" {
		msg += "\n  fix: " + fixable.Fix()
	}
	r.line("error: ", msg)
}
func (r *textReporter) Changed(c Change) { r.line("", c.Summary()) }

// Reloaded prints a load error like Problem: the error, then the fix.
func (r *textReporter) Reloaded(rl Reload) {
	if rl.Err == nil {
		r.line("", rl.Summary())
		return
	}
	r.line("error: ", rl.Summary()+"\n  fix: "+rl.Err.Fix())
}

// lockedReporter serialises calls, so Reporter implementations need no
// locking of their own.
type lockedReporter struct {
	mu sync.Mutex
	r  Reporter
}

func (l *lockedReporter) Info(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.r.Info(msg)
}

func (l *lockedReporter) Problem(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.r.Problem(err)
}

func (l *lockedReporter) Changed(c Change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.r.Changed(c)
}

func (l *lockedReporter) Reloaded(r Reload) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.r.Reloaded(r)
}

type discard struct{}

func (discard) Info(string)     {}
func (discard) Problem(error)   {}
func (discard) Changed(Change)  {}
func (discard) Reloaded(Reload) {}
