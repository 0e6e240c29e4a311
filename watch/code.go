package watch

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/internal/text"
	"github.com/dagster-dev/dagster-dev/internal/userfile"
)

// CodeLocations is the running Dagster's view of the code locations;
// stack implements it with Dagit's GraphQL API (dagit.Client).
type CodeLocations interface {
	// Locations lists every location with its state and definitions.
	Locations(ctx context.Context) ([]dagit.LocationEntry, error)
	// Reload makes the location's code server load its code again and
	// returns the entry Dagit holds once it has: loaded, or failed with
	// the Python error. A server that does not answer yet is waited for.
	Reload(ctx context.Context, name string) (dagit.LocationEntry, error)
}

// DagitLocations is CodeLocations through Dagit's GraphQL API; timeout
// bounds one reload, a code server that does not answer yet included.
func DagitLocations(c *dagit.Client, timeout time.Duration) CodeLocations {
	return &dagitLocations{c: c, timeout: timeout}
}

type dagitLocations struct {
	c       *dagit.Client
	timeout time.Duration
}

func (d *dagitLocations) Locations(ctx context.Context) ([]dagit.LocationEntry, error) {
	return d.c.Locations(ctx)
}

func (d *dagitLocations) Reload(ctx context.Context, name string) (dagit.LocationEntry, error) {
	return d.c.ReloadWhenReachable(ctx, name, dagit.Poll{Interval: 250 * time.Millisecond, Timeout: d.timeout})
}

// Reload is one code location reloaded because its files changed.
type Reload struct {
	Location string
	// Files are the changed files relative to the location's directory;
	// empty for a reload that no edit caused (start, --once, overflow).
	Files []string
	// Took is the time from the first save of the batch (or from the
	// request, without Files) to the location loaded in Dagit.
	Took time.Duration
	// Added and Removed are what the reload changed in the definitions.
	Added, Removed []dagit.Definition
	// Definitions counts what the location defines now.
	Definitions int
	// Recovered is set when the location had failed to load before.
	Recovered bool
	// Err is set when the code failed to load; Dagit then shows the
	// location with this error.
	Err *dagit.CodeLocationError
}

// Summary is the reload in one line, e.g.
// "code location analytics reloaded 1.21s after save (defs.py): +job daily_report".
func (r Reload) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "code location %s ", r.Location)
	if r.Err != nil {
		fmt.Fprintf(&b, "failed to load%s", r.Err.At())
	} else {
		b.WriteString("reloaded")
	}
	if len(r.Files) > 0 {
		fmt.Fprintf(&b, " %s after save (%s)", roundDuration(r.Took), fileList(r.Files))
	} else {
		fmt.Fprintf(&b, " in %s", roundDuration(r.Took))
	}
	if r.Err != nil {
		b.WriteString(": " + r.Err.Message)
		return b.String()
	}
	b.WriteString(": ")
	var parts []string
	for _, d := range r.Added {
		parts = append(parts, "+"+d.String())
	}
	for _, d := range r.Removed {
		parts = append(parts, "-"+d.String())
	}
	switch {
	case len(parts) > 0:
		const maxShown = 12
		if len(parts) > maxShown {
			parts = append(parts[:maxShown], fmt.Sprintf("(+%d more)", len(parts)-maxShown))
		}
		b.WriteString(strings.Join(parts, ", "))
	default:
		fmt.Fprintf(&b, "%d %s, unchanged", r.Definitions, text.Plural(r.Definitions, "definition", "definitions"))
	}
	if r.Recovered {
		b.WriteString(" (recovered from the load error)")
	}
	return b.String()
}

func fileList(files []string) string {
	const maxShown = 3
	if len(files) <= maxShown {
		return strings.Join(files, ", ")
	}
	return fmt.Sprintf("%s and %d more files", strings.Join(files[:maxShown], ", "), len(files)-maxShown)
}

// codeState is what watch last saw of each location: the last loaded
// entry (the diff of the next reload is against it, so a recovery reports
// what changed since the last good load, not everything) and whether the
// last load failed.
type codeState struct {
	mu      sync.Mutex
	entries map[string]dagit.LocationEntry
	failed  map[string]bool
}

// get returns the last loaded entry and whether the last load failed.
func (s *codeState) get(name string) (last dagit.LocationEntry, known, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, known = s.entries[name]
	return last, known, s.failed[name]
}

// names lists the locations seen, sorted.
func (s *codeState) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.failed))
	for n := range s.failed {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (s *codeState) set(e dagit.LocationEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entries == nil {
		s.entries, s.failed = map[string]dagit.LocationEntry{}, map[string]bool{}
	}
	s.failed[e.Name] = e.LoadError != nil
	if e.LoadError == nil {
		s.entries[e.Name] = e
	}
}

// codeBatch is what one batch changed in one location.
type codeBatch struct {
	name       string
	root       *codeRoot // nil for a location without path
	files      []string  // code files, relative to the root
	deps       []string  // dependency files, relative to the root
	fullReload bool
}

// codeChanges sorts a batch's paths by location and kind.
func (e *engine) codeChanges(b batch) []*codeBatch {
	if e.tree == nil || len(e.tree.roots) == 0 {
		return nil
	}
	by := map[*codeRoot]*codeBatch{}
	get := func(r *codeRoot) *codeBatch {
		if by[r] == nil {
			by[r] = &codeBatch{name: r.loc.Name, root: r}
		}
		return by[r]
	}
	for p := range b.paths {
		for _, r := range e.tree.rootsOf(p) {
			rel, err := filepath.Rel(r.dir, p)
			if err != nil {
				continue
			}
			cb := get(r)
			if r.kind(p) == KindDependency {
				cb.deps = append(cb.deps, rel)
			} else {
				cb.files = append(cb.files, rel)
			}
		}
	}
	if b.all {
		for _, r := range e.tree.roots {
			get(r).fullReload = true
		}
	}
	var out []*codeBatch
	for _, r := range e.tree.roots {
		if cb := by[r]; cb != nil {
			slices.Sort(cb.files)
			slices.Sort(cb.deps)
			out = append(out, cb)
		}
	}
	return out
}

// syncCode reloads the locations whose code changed, all at once (each
// has its own code server), and says what a dependency change needs. It
// returns a temporary error when Dagit could not be reached, so the batch
// is retried with the files' latest content.
func (e *engine) syncCode(ctx context.Context, b batch) error {
	changes := e.codeChanges(b)
	if len(changes) == 0 || e.opts.Code == nil {
		return nil
	}
	if err := e.readCodeState(ctx); err != nil {
		return err
	}
	if b.all && e.opts.Once {
		// --once reloads every location, image ones included: a script
		// that rebuilt an image under the same tag asks for this.
		for _, name := range e.code.names() {
			if !slices.ContainsFunc(changes, func(cb *codeBatch) bool { return cb.name == name }) {
				changes = append(changes, &codeBatch{name: name, fullReload: true})
			}
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(changes))
	for i, cb := range changes {
		if e.opts.Images == nil || cb.root == nil || cb.root.loc.Build == nil {
			// A location with build: has its image built with the values.
			for _, d := range cb.deps {
				e.dependencyChanged(cb.root, d)
			}
		}
		if len(cb.files) == 0 && !cb.fullReload {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.reload(ctx, cb.name, cb.files, b.first)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// readCodeState fetches every location once, so the first reload has
// definitions to compare with.
func (e *engine) readCodeState(ctx context.Context) error {
	if e.codeRead {
		return nil
	}
	locs, err := e.opts.Code.Locations(ctx)
	if err != nil {
		return fmt.Errorf("reading code locations from Dagit: %w", err)
	}
	for _, l := range locs {
		e.code.set(l)
	}
	e.codeRead = true
	return nil
}

// reload reloads one location and reports the result; a load error is
// reported as a problem with the user's file:line and watching goes on.
func (e *engine) reload(ctx context.Context, name string, files []string, first time.Time) error {
	start := time.Now()
	if len(files) == 0 || first.IsZero() {
		first = start
	}
	before, known, failed := e.code.get(name)
	entry, err := e.opts.Code.Reload(ctx, name)
	if err != nil {
		var re *dagit.ReloadError
		if errors.As(err, &re) && re.NotFound() {
			e.problem(fmt.Errorf("code location %s is not in Dagit's workspace: run `dagster-dev up` to deploy it (watch reloads locations, it does not add them)", name))
			return nil
		}
		return err
	}
	e.code.set(entry)
	r := Reload{Location: name, Files: files, Took: time.Since(first)}
	if entry.LoadError != nil {
		le := &dagit.LocationLoadError{Location: name, Err: entry.LoadError}
		r.Err = dagit.NewCodeLocationError(le, func(f string) string { return e.cfg.HostFile(name, f) })
		r.Err.Then = "save it: watch reloads the location. Until then Dagit shows the location as failed with this error and its jobs, schedules and sensors are unavailable; runs already started keep running"
		e.rep.Reloaded(r)
		e.problems.Add(1)
		return nil
	}
	r.Recovered = failed
	r.Definitions = len(entry.Definitions.All())
	if known {
		r.Added, r.Removed = before.Definitions.Diff(entry.Definitions)
	}
	e.rep.Reloaded(r)
	return nil
}

// dependencyChanged says what a change to a file that defines the
// location's image needs: a new image, which a reload cannot provide.
func (e *engine) dependencyChanged(r *codeRoot, file string) {
	loc := r.loc
	var how string
	switch {
	case loc.Build != nil:
		how = "run `dagster-dev up`: it builds the image (build:), side-loads it and rolls only this location"
	case loc.Image != "":
		how = fmt.Sprintf("rebuild it, e.g. `docker build -t %s %s`, then run `dagster-dev up`: it side-loads the image and rolls only this location", loc.Image, displayDir(r.dir))
	default:
		how = fmt.Sprintf("build an image that installs them, set codeLocations[%s].image to it, then run `dagster-dev up`", loc.Name)
	}
	e.rep.Info(fmt.Sprintf("code location %s: %s changed: dependencies need a new image, a reload does not install them; %s", loc.Name, file, how))
}

// displayDir is dir as a shell argument: relative to the working
// directory when below it (userfile.DisplayPath), with ./ in front.
func displayDir(dir string) string {
	p := userfile.DisplayPath(dir)
	if filepath.IsAbs(p) || p == "." {
		return p
	}
	return "./" + p
}
