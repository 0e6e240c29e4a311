package stack

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/dagit"
)

// CodeLocationError is a code location that failed to load in Dagit: the
// user's Python raised on import. File is on the host when the location is
// mounted from a local directory, so an editor can open it.
type CodeLocationError struct {
	Location string
	File     string // "" when the traceback has no frame of the user's
	Line     int
	Message  string
	// Traceback is the Python error as Dagit reports it.
	Traceback string
}

func (e *CodeLocationError) Error() string {
	where := ""
	if e.File != "" {
		where = fmt.Sprintf(" at %s:%d", e.File, e.Line)
	}
	return fmt.Sprintf("code location %q failed to load%s: %s", e.Location, where, e.Message)
}

// Fix says what to do about it.
func (e *CodeLocationError) Fix() string {
	if e.File != "" {
		return fmt.Sprintf("fix %s:%d, then run `dagster-dev up` again (with `dagster-dev watch` running, saving the file reloads the location)", e.File, e.Line)
	}
	return "fix the import error in the location's code, then run `dagster-dev up` again"
}

// Details is the Python traceback.
func (e *CodeLocationError) Details() string { return strings.TrimRight(e.Traceback, "\n") }

// codeLocationError turns Dagit's load error into a CodeLocationError with
// the file on the host.
func codeLocationError(cfg *config.Config, e *dagit.LocationLoadError) *CodeLocationError {
	out := &CodeLocationError{Location: e.Location, Message: e.Error(), Traceback: e.Err.Error()}
	// The headline without the "code location ... failed to load at ..."
	// prefix, which this error says itself.
	if i := strings.Index(out.Message, ": "); i >= 0 {
		out.Message = out.Message[i+2:]
	}
	if f, ok := e.Err.UserFrame(); ok {
		out.File, out.Line = hostFile(cfg, e.Location, f.File), f.Line
	}
	return out
}

// hostFile maps a file in a path location's pods back to the user's
// directory; other files are returned as they are.
func hostFile(cfg *config.Config, location, podFile string) string {
	for _, l := range cfg.CodeLocations {
		if l.Name != location || l.Path == "" {
			continue
		}
		root := path.Join(config.CodePodRoot, l.Name)
		rel, ok := strings.CutPrefix(podFile, root+"/")
		if !ok {
			return podFile
		}
		host := filepath.Join(cfg.Resolve(l.Path), filepath.FromSlash(rel))
		if r, err := filepath.Rel(cfg.Dir, host); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return host
	}
	return podFile
}

// waitLocations waits until Dagit has every code location loaded. The
// locations whose code server rolled are reloaded first: Dagit would keep
// the old server's definitions until its own periodic check.
func waitLocations(ctx context.Context, cfg *config.Config, reload []string, timeout time.Duration) ([]dagit.LocationEntry, error) {
	client := &dagit.Client{BaseURL: cfg.DagitURL()}
	for _, name := range reload {
		if _, err := client.ReloadWhenReachable(ctx, name, dagit.Poll{Interval: time.Second, Timeout: timeout}); err != nil {
			var loadErr *dagit.ReloadError
			if !errors.As(err, &loadErr) {
				return nil, fmt.Errorf("reloading code location %s after its code server rolled: %w", name, err)
			}
		}
	}
	locs, err := client.WaitLocations(ctx, dagit.Poll{Interval: 500 * time.Millisecond, Timeout: timeout})
	var loadErr *dagit.LocationLoadError
	if errors.As(err, &loadErr) {
		return locs, codeLocationError(cfg, loadErr)
	}
	return locs, err
}

func locationsNote(locs []dagit.LocationEntry) string {
	names := make([]string, 0, len(locs))
	for _, l := range locs {
		names = append(names, l.Name)
	}
	sort.Strings(names)
	return fmt.Sprintf("%d loaded: %s", len(names), strings.Join(names, ", "))
}

// rolledLocations are the code locations whose code server rolled.
func rolledLocations(rolls []Roll) []string {
	var out []string
	for _, r := range rolls {
		if r.Location != "" {
			out = append(out, r.Location)
		}
	}
	return out
}
