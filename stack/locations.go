package stack

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/dagit"
)

// CodeLocationError is a code location that failed to load (see
// dagit.CodeLocationError).
type CodeLocationError = dagit.CodeLocationError

// codeLocationError turns Dagit's load error into a CodeLocationError with
// the file on the host.
func codeLocationError(cfg *config.Config, e *dagit.LocationLoadError) *CodeLocationError {
	return dagit.NewCodeLocationError(e, func(f string) string { return cfg.HostFile(e.Location, f) })
}

// waitLocations waits until Dagit has every code location loaded. The
// locations whose code server rolled are reloaded first: Dagit would keep
// the old server's definitions until its own periodic check.
func waitLocations(ctx context.Context, cfg *config.Config, client *dagit.Client, reload []string, timeout time.Duration) ([]dagit.LocationEntry, error) {
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
	if len(names) == 0 {
		return "none in the workspace (add codeLocations, or set values.userCode.example.enabled)"
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
