package dagit

import (
	"context"
	"errors"
	"fmt"
	"github.com/dagster-dev/dagster-dev/internal/text"
	"math"
	"strings"
	"time"
)

// Location load states (RepositoryLocationLoadStatus).
const (
	LocationLoading = "LOADING"
	LocationLoaded  = "LOADED"
)

// Typenames of locationOrLoadError.
const (
	typeRepositoryLocation = "RepositoryLocation"
	typePythonError        = "PythonError"
)

// LocationState is what Dagit says about one code location (Location).
type LocationState struct {
	// Found is false when the workspace has no location of that name.
	Found bool
	// LoadStatus is LOADING or LOADED.
	LoadStatus string
	// Typename of locationOrLoadError: RepositoryLocation when it loaded,
	// PythonError when loading failed, "" while there is no result yet.
	Typename string
	// LoadError is set when the location failed to load.
	LoadError *PythonError
	// Jobs maps repository name to its job names.
	Jobs map[string][]string
}

// Ready is the condition Dagster's own kind tests wait for: LOADED and a
// RepositoryLocation. Polling only loadStatus races a reload (the status
// can be LOADED from the previous server while the new one is coming up).
func (s LocationState) Ready() bool {
	return s.Found && s.LoadStatus == LocationLoaded && s.Typename == typeRepositoryLocation
}

// HasJob reports whether repo in the location defines job.
func (s LocationState) HasJob(repo, job string) bool {
	for _, j := range s.Jobs[repo] {
		if j == job {
			return true
		}
	}
	return false
}

func (s LocationState) String() string {
	switch {
	case !s.Found:
		return "not in the workspace"
	case s.LoadError != nil:
		return fmt.Sprintf("%s with a load error: %s", s.LoadStatus, text.FirstLine(s.LoadError.Message))
	case s.Typename == "":
		return s.LoadStatus + " (no location yet)"
	}
	return fmt.Sprintf("%s (%s)", s.LoadStatus, s.Typename)
}

// Location asks for one code location's state.
func (c *Client) Location(ctx context.Context, name string) (LocationState, error) {
	var out struct {
		Entry *struct {
			Typename   string `json:"__typename"`
			Name       string `json:"name"`
			LoadStatus string `json:"loadStatus"`
			Location   *struct {
				Typename     string   `json:"__typename"`
				Message      string   `json:"message"`
				ClassName    string   `json:"className"`
				Stack        []string `json:"stack"`
				Repositories []struct {
					Name string `json:"name"`
					Jobs []struct {
						Name string `json:"name"`
					} `json:"jobs"`
				} `json:"repositories"`
			} `json:"locationOrLoadError"`
			Message string   `json:"message"`
			Stack   []string `json:"stack"`
		} `json:"workspaceLocationEntryOrError"`
	}
	if err := c.do(ctx, "workspaceLocationEntryOrError", queryLocationEntry, map[string]any{"name": name}, &out); err != nil {
		return LocationState{}, err
	}
	e := out.Entry
	if e == nil {
		return LocationState{}, nil
	}
	if e.Typename == typePythonError {
		return LocationState{}, &PythonError{Message: e.Message, Stack: e.Stack}
	}
	st := LocationState{Found: true, LoadStatus: e.LoadStatus}
	if l := e.Location; l != nil {
		st.Typename = l.Typename
		switch l.Typename {
		case typePythonError:
			st.LoadError = &PythonError{Message: l.Message, ClassName: l.ClassName, Stack: l.Stack}
		case typeRepositoryLocation:
			st.Jobs = map[string][]string{}
			for _, r := range l.Repositories {
				names := make([]string, 0, len(r.Jobs))
				for _, j := range r.Jobs {
					names = append(names, j.Name)
				}
				st.Jobs[r.Name] = names
			}
		}
	}
	return st, nil
}

// LocationNames lists the workspace's code locations, for a failure message
// that says which names exist when the expected one does not.
func (c *Client) LocationNames(ctx context.Context) ([]string, error) {
	var out struct {
		W struct {
			Typename string `json:"__typename"`
			Entries  []struct {
				Name string `json:"name"`
			} `json:"locationEntries"`
			Message string `json:"message"`
		} `json:"workspaceOrError"`
	}
	if err := c.do(ctx, "workspaceOrError", queryWorkspaceLocations, nil, &out); err != nil {
		return nil, err
	}
	if out.W.Typename == typePythonError {
		return nil, &PythonError{Message: out.W.Message}
	}
	names := make([]string, 0, len(out.W.Entries))
	for _, e := range out.W.Entries {
		names = append(names, e.Name)
	}
	return names, nil
}

// unreachableError is the load error of a location whose gRPC server did
// not answer. Dagit keeps watching such a location and reloads it when the
// server answers (its server watcher's reconnect and error-recovery loops),
// so it heals: the usual case right after Dagit and the user-code server
// rolled together.
const unreachableError = "DagsterUserCodeUnreachableError"

// Unreachable reports whether the error is a code server that did not
// answer, a load error Dagit retries by itself, as opposed to an error in
// the user's code, which stays until the code changes.
func (e *PythonError) Unreachable() bool {
	return e != nil && (e.ClassName == unreachableError || strings.Contains(e.Message, unreachableError))
}

// WaitLocation polls until the location is Ready. A location that failed to
// load for a reason Dagit does not retry (an error in the user's code) is
// reported at once, since waiting would only delay the message; an
// unreachable server and an unreachable Dagit (connection refused while it
// restarts) are waited out.
func (c *Client) WaitLocation(ctx context.Context, name string, p Poll) (LocationState, error) {
	try := func(ctx context.Context, last LocationState) (LocationState, bool, error) {
		st, err := c.Location(ctx, name)
		switch {
		case err == nil && st.LoadStatus == LocationLoaded && st.LoadError != nil && !st.LoadError.Unreachable():
			return st, true, fmt.Errorf("code location %q failed to load:\n%s", name, st.LoadError.Error())
		case err == nil:
			return st, st.Ready(), nil
		case IsTemporary(err):
			return last, false, err
		}
		return last, true, err
	}
	timedOut := func(last LocationState, lastErr error) error {
		if lastErr != nil {
			return fmt.Errorf("code location %q not loaded after %s; last error: %v", name, p.Timeout, lastErr)
		}
		msg := fmt.Sprintf("code location %q not loaded after %s: %s", name, p.Timeout, last)
		if !last.Found {
			// Name the locations that do exist: a renamed location is
			// the usual cause.
			lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if names, err := c.LocationNames(lctx); err == nil {
				msg += fmt.Sprintf(" (the workspace has: %s)", text.ListOrNone(names))
			}
			lcancel()
		}
		return errors.New(msg)
	}
	return PollUntil(ctx, p, try, timedOut)
}

// LocationEntry is one code location of the workspace with everything a
// caller needs to wait for it, explain its failure or diff its definitions.
type LocationEntry struct {
	Name string
	// LoadStatus is LOADING or LOADED.
	LoadStatus string
	// Updated is when Dagit last (re)loaded the entry (updatedTimestamp).
	Updated time.Time
	// VersionKey changes whenever Dagit has a new version of the location
	// (versionKey).
	VersionKey string
	// Typename of locationOrLoadError: RepositoryLocation, PythonError, or
	// "" while there is no result yet.
	Typename string
	// LoadError is set when the location failed to load; UserFrame gives
	// the file:line in the user's code.
	LoadError *PythonError
	// Definitions is the summary of what a loaded location defines.
	Definitions Definitions
}

// Loaded is LOADED with a RepositoryLocation (see LocationState.Ready).
func (e LocationEntry) Loaded() bool {
	return e.LoadStatus == LocationLoaded && e.Typename == typeRepositoryLocation
}

// Failed is LOADED with a load error Dagit will not retry by itself.
func (e LocationEntry) Failed() bool {
	return e.LoadStatus == LocationLoaded && e.LoadError != nil && !e.LoadError.Unreachable()
}

// entryJSON decodes fragmentLocationEntry.
type entryJSON struct {
	Name             string  `json:"name"`
	LoadStatus       string  `json:"loadStatus"`
	UpdatedTimestamp float64 `json:"updatedTimestamp"`
	VersionKey       string  `json:"versionKey"`
	Location         *struct {
		Typename string `json:"__typename"`
		PythonError
		Repositories []repositoryJSON `json:"repositories"`
	} `json:"locationOrLoadError"`
}

func (j *entryJSON) entry() LocationEntry {
	e := LocationEntry{Name: j.Name, LoadStatus: j.LoadStatus, VersionKey: j.VersionKey}
	if j.UpdatedTimestamp > 0 {
		sec, frac := math.Modf(j.UpdatedTimestamp)
		e.Updated = time.Unix(int64(sec), int64(frac*1e9))
	}
	if l := j.Location; l != nil {
		e.Typename = l.Typename
		switch l.Typename {
		case typePythonError:
			pe := l.PythonError
			e.LoadError = &pe
		case typeRepositoryLocation:
			e.Definitions = definitionsOf(l.Repositories)
		}
	}
	return e
}

// Locations lists every code location of the workspace, in Dagit's order.
func (c *Client) Locations(ctx context.Context) ([]LocationEntry, error) {
	var out struct {
		W struct {
			Typename string      `json:"__typename"`
			Entries  []entryJSON `json:"locationEntries"`
			Message  string      `json:"message"`
			Stack    []string    `json:"stack"`
		} `json:"workspaceOrError"`
	}
	if err := c.do(ctx, "workspaceOrError", queryLocations, nil, &out); err != nil {
		return nil, err
	}
	if out.W.Typename != "Workspace" {
		return nil, fmt.Errorf("workspaceOrError: %w", &PythonError{Message: out.W.Message, Stack: out.W.Stack})
	}
	entries := make([]LocationEntry, len(out.W.Entries))
	for i := range out.W.Entries {
		entries[i] = out.W.Entries[i].entry()
	}
	return entries, nil
}

// ReloadError is a reloadRepositoryLocation answer other than the location
// entry: RepositoryLocationNotFound, ReloadNotSupported, UnauthorizedError
// or PythonError (then Python is set).
type ReloadError struct {
	Location string
	Typename string
	Message  string
	Python   *PythonError
}

func (e *ReloadError) Error() string {
	msg := e.Message
	if e.Python != nil {
		msg = e.Python.Error()
	}
	return fmt.Sprintf("reloading code location %q: %s: %s", e.Location, e.Typename, msg)
}

// NotFound reports whether the workspace has no location of that name.
func (e *ReloadError) NotFound() bool { return e.Typename == "RepositoryLocationNotFound" }

// ReloadLocation asks Dagit to reload a code location
// (reloadRepositoryLocation) and returns the entry it answers with. That
// entry can still be LOADING or hold the previous version: wait for the
// reloaded one by polling Locations until the entry is LOADED with an
// Updated or VersionKey different from before the reload.
func (c *Client) ReloadLocation(ctx context.Context, name string) (LocationEntry, error) {
	var out struct {
		R struct {
			Typename string `json:"__typename"`
			entryJSON
			PythonError
		} `json:"reloadRepositoryLocation"`
	}
	if err := c.do(ctx, "reloadRepositoryLocation", mutationReloadLocation, map[string]any{"name": name}, &out); err != nil {
		return LocationEntry{}, err
	}
	switch out.R.Typename {
	case "WorkspaceLocationEntry":
		return out.R.entry(), nil
	case typePythonError:
		pe := out.R.PythonError
		return LocationEntry{}, &ReloadError{Location: name, Typename: out.R.Typename, Python: &pe}
	}
	return LocationEntry{}, &ReloadError{Location: name, Typename: out.R.Typename, Message: out.R.Message}
}

// ReloadWhenReachable is ReloadLocation retried while the location's code
// server does not answer yet or Dagit is restarting, for up to p.Timeout: a
// code server that just rolled can be Ready before Dagit reaches it (the
// Service's endpoints and the server's own start lag behind), and Dagit
// answers such a reload with DagsterUserCodeUnreachableError, sometimes as
// an HTTP 500. Errors in the user's code are returned at once.
func (c *Client) ReloadWhenReachable(ctx context.Context, name string, p Poll) (LocationEntry, error) {
	try := func(ctx context.Context, last LocationEntry) (LocationEntry, bool, error) {
		start := time.Now()
		e, err := c.ReloadLocation(ctx, name)
		switch {
		case ctx.Err() != nil:
			// Cut short: PollUntil drops this try; ask nothing more.
			return last, false, err
		case err == nil && !e.unreachable():
			return c.freshEntry(ctx, e), true, nil
		case err == nil:
			return e, false, fmt.Errorf("code location %q: %s", name, text.FirstLine(e.LoadError.Message))
		case IsTemporary(err) || unreachable(err):
			return last, false, err
		}
		// Reloading a location that failed to load, Dagit 1.13 reloads it
		// and then answers HTTP 500 with the old error (building its
		// answer from the workspace as it was before): the workspace
		// entry holds the result.
		if l, ok := c.reloadedEntry(ctx, name, err, start); ok {
			return l, true, nil
		}
		return last, true, err
	}
	timedOut := func(_ LocationEntry, lastErr error) error {
		if lastErr == nil {
			// No reload answered before the deadline.
			lastErr = context.DeadlineExceeded
		}
		return fmt.Errorf("reloading code location %q: its code server did not answer within %s: %w", name, p.Timeout, lastErr)
	}
	return PollUntil(ctx, p, try, timedOut)
}

// freshEntry reads e's location from the workspace after a successful
// reload mutation. Dagit 1.13 answers the mutation with the new timestamp
// and version key but the definitions from before the reload (each answer
// one save behind); the workspace, read after, has the reloaded ones. e is
// returned when the workspace cannot be read or holds an older entry.
func (c *Client) freshEntry(ctx context.Context, e LocationEntry) LocationEntry {
	locs, err := c.Locations(ctx)
	if err != nil {
		return e
	}
	for _, l := range locs {
		if l.Name == e.Name && l.LoadStatus == LocationLoaded && !l.Updated.Before(e.Updated) {
			return l
		}
	}
	return e
}

// reloadedEntry reads name's workspace entry after a reload that failed
// with a RequestError and returns it when Dagit updated it since start (it
// runs on this machine's clock, give or take a second), or when it holds
// an error in the user's code.
func (c *Client) reloadedEntry(ctx context.Context, name string, reloadErr error, start time.Time) (LocationEntry, bool) {
	var re *RequestError
	if !errors.As(reloadErr, &re) {
		return LocationEntry{}, false
	}
	locs, err := c.Locations(ctx)
	if err != nil {
		return LocationEntry{}, false
	}
	for _, l := range locs {
		if l.Name != name || l.LoadStatus != LocationLoaded || l.unreachable() {
			continue
		}
		if l.LoadError != nil || l.Updated.After(start.Add(-time.Second)) {
			return l, true
		}
	}
	return LocationEntry{}, false
}

// unreachable is an entry whose load failed because its server did not answer.
func (e LocationEntry) unreachable() bool { return e.LoadError != nil && e.LoadError.Unreachable() }

// unreachable reports whether a reload failed because the code server did
// not answer, however Dagit reported it.
func unreachable(err error) bool {
	var re *ReloadError
	if errors.As(err, &re) && re.Python != nil {
		return re.Python.Unreachable()
	}
	return err != nil && strings.Contains(err.Error(), unreachableError)
}

// LocationLoadError is a code location that failed to load because of its
// code (not an unreachable server).
type LocationLoadError struct {
	Location string
	Err      *PythonError
}

func (e *LocationLoadError) Error() string {
	where := ""
	if f, ok := e.Err.UserFrame(); ok {
		where = " at " + f.String()
	}
	msg := summary(e.Err.Message)
	for i := range e.Err.Chain {
		// The original exception says more than Dagster's wrapper.
		msg = summary(e.Err.Chain[i].Error.Message)
	}
	return fmt.Sprintf("code location %q failed to load%s: %s", e.Location, where, msg)
}

// summary is the line of an exception message that names it: the first,
// or for a SyntaxError, whose message starts with its location and the
// offending code, the last.
func summary(msg string) string {
	first := text.FirstLine(msg)
	if strings.HasPrefix(first, "File \"") {
		lines := strings.Split(strings.TrimSpace(msg), "\n")
		return strings.TrimSpace(lines[len(lines)-1])
	}
	return first
}

func (e *LocationLoadError) Unwrap() error { return e.Err }

// WaitLocations polls Locations until every code location of the workspace
// is Loaded and returns them. A location that Failed ends the wait at once
// with a *LocationLoadError; an unreachable server or Dagit is waited out.
// A workspace with no location at all is returned as it is.
func (c *Client) WaitLocations(ctx context.Context, p Poll) ([]LocationEntry, error) {
	try := func(ctx context.Context, last []LocationEntry) ([]LocationEntry, bool, error) {
		locs, err := c.Locations(ctx)
		switch {
		case err == nil:
			done := true
			for _, l := range locs {
				if l.Failed() {
					return locs, true, &LocationLoadError{Location: l.Name, Err: l.LoadError}
				}
				done = done && l.Loaded()
			}
			return locs, done, nil
		case IsTemporary(err):
			return last, false, err
		}
		return last, true, err
	}
	timedOut := func(last []LocationEntry, lastErr error) error {
		if lastErr != nil {
			return fmt.Errorf("code locations not loaded after %s; last error: %w", p.Timeout, lastErr)
		}
		var pending []string
		for _, l := range last {
			if !l.Loaded() {
				st := l.LoadStatus
				if l.LoadError != nil {
					st += " with a load error: " + text.FirstLine(l.LoadError.Message)
				}
				pending = append(pending, fmt.Sprintf("%s (%s)", l.Name, st))
			}
		}
		return fmt.Errorf("code locations not loaded after %s: %s", p.Timeout, text.ListOrNone(pending))
	}
	return PollUntil(ctx, p, try, timedOut)
}
