package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// The GraphQL documents the suite sends. They were written against Dagster
// 1.13.27's schema and graphql_test.go validates every one of them against
// that schema (testdata/dagster-schema.graphql), so a typo or a field Dagster
// removed fails `go test`, not a user's `dagster-dev test`.
const (
	queryLocationEntry = `query DagsterDevLocation($name: String!) {
  workspaceLocationEntryOrError(name: $name) {
    __typename
    ... on WorkspaceLocationEntry {
      name
      loadStatus
      locationOrLoadError {
        __typename
        ... on RepositoryLocation { name repositories { name jobs { name } } }
        ... on PythonError { message className stack }
      }
    }
    ... on PythonError { message stack }
  }
}`

	queryWorkspaceLocations = `query DagsterDevWorkspace {
  workspaceOrError {
    __typename
    ... on Workspace { locationEntries { name loadStatus } }
    ... on PythonError { message stack }
  }
}`

	mutationLaunchRun = `mutation DagsterDevLaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { pipelineName errors { message path reason } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}`

	queryRun = `query DagsterDevRun($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status jobName tags { key value } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}`

	queryRuns = `query DagsterDevRuns($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs { results { runId status jobName } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}`

	queryLogs = `query DagsterDevLogs($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on MessageEvent { message level stepKey eventType }
        ... on ErrorEvent { error { message className stack cause { message stack } } }
      }
    }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}`

	queryInstance = `query DagsterDevInstance {
  instance { info runLauncher { name } }
}`
)

// Run statuses Dagster reports (RunStatus in the schema).
const (
	RunQueued    = "QUEUED"
	RunStarting  = "STARTING"
	RunStarted   = "STARTED"
	RunSuccess   = "SUCCESS"
	RunFailure   = "FAILURE"
	RunCanceling = "CANCELING"
	RunCanceled  = "CANCELED"
)

// terminalStatus reports whether a run in this status will never change
// again, so polling can stop.
func terminalStatus(s string) bool {
	return s == RunSuccess || s == RunFailure || s == RunCanceled
}

// GraphQL talks to Dagit's /graphql endpoint. Base returns the current base
// URL on every request because in existing-cluster mode that URL is a
// port-forward that is re-established when the Dagit pod it pointed at rolls.
type GraphQL struct {
	Base func(ctx context.Context) (string, error)
	HTTP *http.Client
}

// gqlError is one entry of a GraphQL response's "errors" list: the request
// itself was rejected (bad query or variables, or a resolver crash).
type gqlError struct {
	Message string `json:"message"`
}

// RequestError is a failure to get a usable GraphQL response: Dagit was
// unreachable, answered with a non-200 status, or rejected the request.
// Temporary is true for errors that a retry can fix (connection refused
// while Dagit restarts, 502/503 from a proxy).
type RequestError struct {
	Op        string
	Temporary bool
	Err       error
}

func (e *RequestError) Error() string { return fmt.Sprintf("GraphQL %s: %v", e.Op, e.Err) }
func (e *RequestError) Unwrap() error { return e.Err }

// do posts one GraphQL request and decodes "data" into out.
func (g *GraphQL) do(ctx context.Context, op, query string, vars map[string]any, out any) error {
	base, err := g.Base(ctx)
	if err != nil {
		return &RequestError{Op: op, Temporary: true, Err: err}
	}
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return &RequestError{Op: op, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/graphql", bytes.NewReader(body))
	if err != nil {
		return &RequestError{Op: op, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	client := g.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &RequestError{Op: op, Temporary: true, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return &RequestError{Op: op, Temporary: true, Err: err}
	}
	var envelope struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	jsonErr := json.Unmarshal(data, &envelope)
	if resp.StatusCode != http.StatusOK {
		// Dagster answers invalid queries with 400 and a JSON errors list;
		// show those messages rather than only the status line.
		if jsonErr == nil && len(envelope.Errors) > 0 {
			return &RequestError{Op: op, Err: fmt.Errorf("HTTP %d: %s", resp.StatusCode, joinGQLErrors(envelope.Errors))}
		}
		temporary := resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout
		return &RequestError{Op: op, Temporary: temporary, Err: fmt.Errorf("HTTP %d: %s", resp.StatusCode, snippet(data))}
	}
	if jsonErr != nil {
		return &RequestError{Op: op, Err: fmt.Errorf("response is not JSON (%v): %s", jsonErr, snippet(data))}
	}
	if len(envelope.Errors) > 0 {
		return &RequestError{Op: op, Err: errors.New(joinGQLErrors(envelope.Errors))}
	}
	if len(envelope.Data) == 0 || string(envelope.Data) == "null" {
		return &RequestError{Op: op, Err: errors.New("response has no data")}
	}
	if err := json.Unmarshal(envelope.Data, out); err != nil {
		return &RequestError{Op: op, Err: fmt.Errorf("decoding response: %w", err)}
	}
	return nil
}

func joinGQLErrors(errs []gqlError) string {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Message
	}
	return strings.Join(msgs, "; ")
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

// PythonError is Dagster's report of an exception on the server side.
type PythonError struct {
	Message   string       `json:"message"`
	ClassName string       `json:"className"`
	Stack     []string     `json:"stack"`
	Cause     *PythonError `json:"cause"`
}

func (e *PythonError) Error() string {
	if e == nil {
		return "<nil>"
	}
	msg := strings.TrimSpace(e.Message)
	if len(e.Stack) > 0 {
		msg += "\n" + strings.TrimRight(strings.Join(e.Stack, ""), "\n")
	}
	if e.Cause != nil {
		msg += "\ncaused by: " + e.Cause.Error()
	}
	return msg
}

// Location load states (RepositoryLocationLoadStatus).
const (
	LocationLoading = "LOADING"
	LocationLoaded  = "LOADED"
)

// LocationState is what Dagit says about one code location.
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
	return s.Found && s.LoadStatus == LocationLoaded && s.Typename == "RepositoryLocation"
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
		return fmt.Sprintf("%s with a load error: %s", s.LoadStatus, firstLine(s.LoadError.Message))
	case s.Typename == "":
		return s.LoadStatus + " (no location yet)"
	}
	return fmt.Sprintf("%s (%s)", s.LoadStatus, s.Typename)
}

// Location asks for one code location's state.
func (g *GraphQL) Location(ctx context.Context, name string) (LocationState, error) {
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
	if err := g.do(ctx, "workspaceLocationEntryOrError", queryLocationEntry, map[string]any{"name": name}, &out); err != nil {
		return LocationState{}, err
	}
	e := out.Entry
	if e == nil {
		return LocationState{}, nil
	}
	if e.Typename == "PythonError" {
		return LocationState{}, &PythonError{Message: e.Message, Stack: e.Stack}
	}
	st := LocationState{Found: true, LoadStatus: e.LoadStatus}
	if l := e.Location; l != nil {
		st.Typename = l.Typename
		switch l.Typename {
		case "PythonError":
			st.LoadError = &PythonError{Message: l.Message, ClassName: l.ClassName, Stack: l.Stack}
		case "RepositoryLocation":
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
func (g *GraphQL) LocationNames(ctx context.Context) ([]string, error) {
	var out struct {
		W struct {
			Typename string `json:"__typename"`
			Entries  []struct {
				Name string `json:"name"`
			} `json:"locationEntries"`
			Message string `json:"message"`
		} `json:"workspaceOrError"`
	}
	if err := g.do(ctx, "workspaceOrError", queryWorkspaceLocations, nil, &out); err != nil {
		return nil, err
	}
	if out.W.Typename == "PythonError" {
		return nil, &PythonError{Message: out.W.Message}
	}
	names := make([]string, 0, len(out.W.Entries))
	for _, e := range out.W.Entries {
		names = append(names, e.Name)
	}
	return names, nil
}

// Poll controls a wait loop: how often to ask and for how long.
type Poll struct {
	Interval time.Duration
	Timeout  time.Duration
}

func (p Poll) interval() time.Duration {
	if p.Interval <= 0 {
		return 2 * time.Second
	}
	return p.Interval
}

// unreachableError is the load error of a location whose gRPC server did
// not answer. Dagit keeps watching such a location and reloads it when the
// server answers (its server watcher's reconnect and error-recovery loops),
// so it heals: the usual case right after Dagit and the user-code server
// rolled together.
const unreachableError = "DagsterUserCodeUnreachableError"

// transientLoadError reports whether Dagit will retry the load by itself.
func transientLoadError(e *PythonError) bool {
	return e.ClassName == unreachableError || strings.Contains(e.Message, unreachableError)
}

// WaitLocation polls until the location is Ready. A location that failed to
// load for a reason Dagit does not retry (an error in the user's code) is
// reported at once, since waiting would only delay the message; an
// unreachable server is waited out.
func (g *GraphQL) WaitLocation(ctx context.Context, name string, p Poll) (LocationState, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	var last LocationState
	var lastErr error
	for {
		st, err := g.Location(ctx, name)
		switch {
		case ctx.Err() != nil:
			// The deadline cut the request short: report below.
		case err == nil:
			last, lastErr = st, nil
			if st.Ready() {
				return st, nil
			}
			if st.LoadStatus == LocationLoaded && st.LoadError != nil && !transientLoadError(st.LoadError) {
				return st, fmt.Errorf("code location %q failed to load:\n%s", name, st.LoadError.Error())
			}
		case isTemporary(err):
			lastErr = err
		default:
			return last, err
		}
		select {
		case <-ctx.Done():
			if parentDone(ctx) {
				return last, ctx.Err()
			}
			msg := fmt.Sprintf("code location %q not loaded after %s: %s", name, p.Timeout, last)
			if lastErr != nil {
				msg = fmt.Sprintf("code location %q not loaded after %s; last error: %v", name, p.Timeout, lastErr)
			} else if !last.Found {
				// Name the locations that do exist: a renamed location is
				// the usual cause.
				lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				if names, err := g.LocationNames(lctx); err == nil {
					msg += fmt.Sprintf(" (the workspace has: %s)", listOrNone(names))
				}
				lcancel()
			}
			return last, errors.New(msg)
		case <-time.After(p.interval()):
		}
	}
}

// parentDone distinguishes "our own timeout fired" from "the caller gave
// up" (Ctrl-C): only the former is a test failure worth a message.
func parentDone(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), context.Canceled)
}

func isTemporary(err error) bool {
	var re *RequestError
	return errors.As(err, &re) && re.Temporary
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// JobSelector names a job in a code location.
type JobSelector struct {
	Location   string
	Repository string
	Job        string
}

// LaunchError is a launchRun answer other than LaunchRunSuccess.
type LaunchError struct {
	Typename string
	Message  string
	// ConfigErrors are the RunConfigValidationInvalid errors, one line each
	// with the config path.
	ConfigErrors []string
	Python       *PythonError
}

func (e *LaunchError) Error() string {
	switch {
	case len(e.ConfigErrors) > 0:
		return fmt.Sprintf("launchRun: %s: the run config is invalid:\n  %s", e.Typename, strings.Join(e.ConfigErrors, "\n  "))
	case e.Python != nil:
		return fmt.Sprintf("launchRun: %s: %s", e.Typename, e.Python.Error())
	}
	return fmt.Sprintf("launchRun: %s: %s", e.Typename, e.Message)
}

// LaunchRun starts job with runConfig and tags; it returns the run ID.
func (g *GraphQL) LaunchRun(ctx context.Context, sel JobSelector, runConfig map[string]any, tags map[string]string) (string, error) {
	tagList := make([]map[string]string, 0, len(tags))
	for _, k := range sortedKeys(tags) {
		tagList = append(tagList, map[string]string{"key": k, "value": tags[k]})
	}
	params := map[string]any{
		"selector": map[string]any{
			"repositoryLocationName": sel.Location,
			"repositoryName":         sel.Repository,
			"jobName":                sel.Job,
		},
		"runConfigData":     runConfig,
		"executionMetadata": map[string]any{"tags": tagList},
	}
	var out struct {
		R struct {
			Typename string `json:"__typename"`
			Run      struct {
				RunID  string `json:"runId"`
				Status string `json:"status"`
			} `json:"run"`
			Message string   `json:"message"`
			Stack   []string `json:"stack"`
			Errors  []struct {
				Message string   `json:"message"`
				Path    []string `json:"path"`
				Reason  string   `json:"reason"`
			} `json:"errors"`
		} `json:"launchRun"`
	}
	if err := g.do(ctx, "launchRun", mutationLaunchRun, map[string]any{"executionParams": params}, &out); err != nil {
		return "", err
	}
	r := out.R
	switch r.Typename {
	case "LaunchRunSuccess":
		if r.Run.RunID == "" {
			return "", &LaunchError{Typename: r.Typename, Message: "no run ID in the answer"}
		}
		return r.Run.RunID, nil
	case "RunConfigValidationInvalid":
		le := &LaunchError{Typename: r.Typename}
		for _, e := range r.Errors {
			line := e.Message
			if len(e.Path) > 0 {
				line = strings.Join(e.Path, ".") + ": " + line
			}
			le.ConfigErrors = append(le.ConfigErrors, line)
		}
		return "", le
	case "PythonError":
		return "", &LaunchError{Typename: r.Typename, Python: &PythonError{Message: r.Message, Stack: r.Stack}}
	}
	return "", &LaunchError{Typename: r.Typename, Message: r.Message}
}

// Run is what the suite reads about one run.
type Run struct {
	ID      string
	Status  string
	JobName string
	Tags    map[string]string
}

// ErrRunNotFound is returned when Dagster has no run with the ID.
var ErrRunNotFound = errors.New("run not found")

// Run reads one run.
func (g *GraphQL) Run(ctx context.Context, runID string) (Run, error) {
	var out struct {
		R struct {
			Typename string `json:"__typename"`
			RunID    string `json:"runId"`
			Status   string `json:"status"`
			JobName  string `json:"jobName"`
			Tags     []struct {
				Key   string `json:"key"`
				Value string `json:"value"`
			} `json:"tags"`
			Message string   `json:"message"`
			Stack   []string `json:"stack"`
		} `json:"runOrError"`
	}
	if err := g.do(ctx, "runOrError", queryRun, map[string]any{"runId": runID}, &out); err != nil {
		return Run{}, err
	}
	switch out.R.Typename {
	case "Run":
		tags := map[string]string{}
		for _, t := range out.R.Tags {
			tags[t.Key] = t.Value
		}
		return Run{ID: out.R.RunID, Status: out.R.Status, JobName: out.R.JobName, Tags: tags}, nil
	case "RunNotFoundError":
		return Run{}, fmt.Errorf("%w: %s", ErrRunNotFound, out.R.Message)
	case "PythonError":
		return Run{}, fmt.Errorf("runOrError: %w", &PythonError{Message: out.R.Message, Stack: out.R.Stack})
	}
	return Run{}, fmt.Errorf("runOrError: unexpected %s: %s", out.R.Typename, out.R.Message)
}

// Runs reads runs by ID from the run history (runsOrError), which is a
// different code path from runOrError: a listing of the run storage.
func (g *GraphQL) Runs(ctx context.Context, runIDs ...string) ([]Run, error) {
	var out struct {
		R struct {
			Typename string `json:"__typename"`
			Results  []struct {
				RunID   string `json:"runId"`
				Status  string `json:"status"`
				JobName string `json:"jobName"`
			} `json:"results"`
			Message string `json:"message"`
		} `json:"runsOrError"`
	}
	vars := map[string]any{"filter": map[string]any{"runIds": runIDs}}
	if err := g.do(ctx, "runsOrError", queryRuns, vars, &out); err != nil {
		return nil, err
	}
	if out.R.Typename != "Runs" {
		return nil, fmt.Errorf("runsOrError: %s: %s", out.R.Typename, out.R.Message)
	}
	runs := make([]Run, 0, len(out.R.Results))
	for _, r := range out.R.Results {
		runs = append(runs, Run{ID: r.RunID, Status: r.Status, JobName: r.JobName})
	}
	return runs, nil
}

// RunTimeoutError says a run did not finish in time; Status is the last
// status seen.
type RunTimeoutError struct {
	RunID   string
	Status  string
	Timeout time.Duration
}

func (e *RunTimeoutError) Error() string {
	return fmt.Sprintf("run %s still %s after %s", e.RunID, e.Status, e.Timeout)
}

// WaitRun polls runOrError until the run reaches a terminal status and
// returns it; it is not an error for the status to be FAILURE — the caller
// decides. onPoll, if set, is called after every successful poll (the suite
// uses it to record the run's Kubernetes Jobs while they exist).
func (g *GraphQL) WaitRun(ctx context.Context, runID string, p Poll, onPoll func(Run)) (Run, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	var last Run
	var lastErr error
	for {
		r, err := g.Run(ctx, runID)
		switch {
		case ctx.Err() != nil:
			// The deadline cut the request short: report below.
		case err == nil:
			last, lastErr = r, nil
			if onPoll != nil {
				onPoll(r)
			}
			if terminalStatus(r.Status) {
				return r, nil
			}
		case isTemporary(err):
			// Dagit restarting (a roll, or Postgres coming back) is not a
			// verdict on the run.
			lastErr = err
		default:
			return last, err
		}
		select {
		case <-ctx.Done():
			if parentDone(ctx) {
				return last, ctx.Err()
			}
			if last.Status == "" && lastErr != nil {
				return last, fmt.Errorf("run %s: no answer from Dagit within %s: %w", runID, p.Timeout, lastErr)
			}
			return last, &RunTimeoutError{RunID: runID, Status: last.Status, Timeout: p.Timeout}
		case <-time.After(p.interval()):
		}
	}
}

// Event is one entry of a run's event log.
type Event struct {
	Typename  string
	Message   string
	Level     string
	StepKey   string
	EventType string
	Error     *PythonError
}

// Logs reads a run's whole event log, following the cursor.
func (g *GraphQL) Logs(ctx context.Context, runID string) ([]Event, error) {
	var events []Event
	var cursor any
	for page := 0; page < 1000; page++ {
		var out struct {
			L struct {
				Typename string `json:"__typename"`
				Cursor   string `json:"cursor"`
				HasMore  bool   `json:"hasMore"`
				Events   []struct {
					Typename  string       `json:"__typename"`
					Message   string       `json:"message"`
					Level     string       `json:"level"`
					StepKey   string       `json:"stepKey"`
					EventType string       `json:"eventType"`
					Error     *PythonError `json:"error"`
				} `json:"events"`
				Message string   `json:"message"`
				Stack   []string `json:"stack"`
			} `json:"logsForRun"`
		}
		if err := g.do(ctx, "logsForRun", queryLogs, map[string]any{"runId": runID, "cursor": cursor}, &out); err != nil {
			return events, err
		}
		switch out.L.Typename {
		case "EventConnection":
		case "PythonError":
			return events, fmt.Errorf("logsForRun: %w", &PythonError{Message: out.L.Message, Stack: out.L.Stack})
		default:
			return events, fmt.Errorf("logsForRun: %s: %s", out.L.Typename, out.L.Message)
		}
		for _, e := range out.L.Events {
			events = append(events, Event{Typename: e.Typename, Message: e.Message, Level: e.Level, StepKey: e.StepKey, EventType: e.EventType, Error: e.Error})
		}
		// An unchanged cursor with hasMore would loop forever; stop there.
		if !out.L.HasMore || out.L.Cursor == "" || out.L.Cursor == cursor {
			return events, nil
		}
		cursor = out.L.Cursor
	}
	return events, fmt.Errorf("logsForRun: run %s has more than 1000 pages of events", runID)
}

// ErrorEvents keeps the events that carry an error or are ERROR-level: what
// explains a failed run.
func ErrorEvents(events []Event) []Event {
	var out []Event
	for _, e := range events {
		if e.Error != nil || e.Level == "ERROR" || e.Level == "CRITICAL" {
			out = append(out, e)
		}
	}
	return out
}

// FormatEvents renders events for a failure message, one block per event.
func FormatEvents(events []Event) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "%s", e.Typename)
		if e.StepKey != "" {
			fmt.Fprintf(&b, " [%s]", e.StepKey)
		}
		fmt.Fprintf(&b, ": %s\n", strings.TrimSpace(e.Message))
		if e.Error != nil {
			b.WriteString(indent(e.Error.Error(), "    "))
			b.WriteByte('\n')
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// Instance is what Dagit says about the Dagster instance.
type Instance struct {
	// Info is the instance config as YAML; empty when Dagit hides it.
	Info        string
	RunLauncher string
}

// Instance reads the instance description.
func (g *GraphQL) Instance(ctx context.Context) (Instance, error) {
	var out struct {
		I struct {
			Info        *string `json:"info"`
			RunLauncher *struct {
				Name string `json:"name"`
			} `json:"runLauncher"`
		} `json:"instance"`
	}
	if err := g.do(ctx, "instance", queryInstance, nil, &out); err != nil {
		return Instance{}, err
	}
	var inst Instance
	if out.I.Info != nil {
		inst.Info = *out.I.Info
	}
	if out.I.RunLauncher != nil {
		inst.RunLauncher = out.I.RunLauncher.Name
	}
	return inst, nil
}

// probeLine matches what the chart's probe op logs for each requested key.
var probeLine = regexp.MustCompile(`DAGSTER_DEV_PROBE ([A-Za-z_][A-Za-z0-9_]*)=(.*)`)

// ParseProbe collects KEY=value pairs from the probe's output lines (event
// messages or pod logs). A key reported twice keeps its last value.
func ParseProbe(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if m := probeLine.FindStringSubmatch(line); m != nil {
			out[m[1]] = strings.TrimRight(m[2], "\r")
		}
	}
	return out
}
