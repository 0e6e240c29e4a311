package dagit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
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

// TerminalStatus reports whether a run in this status will never change
// again, so polling can stop.
func TerminalStatus(s string) bool {
	return s == RunSuccess || s == RunFailure || s == RunCanceled
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
func (c *Client) LaunchRun(ctx context.Context, sel JobSelector, runConfig map[string]any, tags map[string]string) (string, error) {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tagList := make([]map[string]string, 0, len(tags))
	for _, k := range keys {
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
	if err := c.do(ctx, "launchRun", mutationLaunchRun, map[string]any{"executionParams": params}, &out); err != nil {
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
	case typePythonError:
		return "", &LaunchError{Typename: r.Typename, Python: &PythonError{Message: r.Message, Stack: r.Stack}}
	}
	return "", &LaunchError{Typename: r.Typename, Message: r.Message}
}

// Run is what Dagit says about one run.
type Run struct {
	ID      string
	Status  string
	JobName string
	Tags    map[string]string
}

// ErrRunNotFound is returned when Dagster has no run with the ID.
var ErrRunNotFound = errors.New("run not found")

// Run reads one run.
func (c *Client) Run(ctx context.Context, runID string) (Run, error) {
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
	if err := c.do(ctx, "runOrError", queryRun, map[string]any{"runId": runID}, &out); err != nil {
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
	case typePythonError:
		return Run{}, fmt.Errorf("runOrError: %w", &PythonError{Message: out.R.Message, Stack: out.R.Stack})
	}
	return Run{}, fmt.Errorf("runOrError: unexpected %s: %s", out.R.Typename, out.R.Message)
}

// Runs reads runs by ID from the run history (runsOrError), which is a
// different code path from runOrError: a listing of the run storage.
func (c *Client) Runs(ctx context.Context, runIDs ...string) ([]Run, error) {
	list, err := c.listRuns(ctx, map[string]any{"filter": map[string]any{"runIds": runIDs}})
	runs := make([]Run, 0, len(list))
	for _, r := range list {
		runs = append(runs, Run{ID: r.ID, Status: r.Status, JobName: r.Job, Tags: r.Tags})
	}
	return runs, err
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
// uses it to record the run's Kubernetes Jobs while they exist). An
// unreachable Dagit is waited out.
func (c *Client) WaitRun(ctx context.Context, runID string, p Poll, onPoll func(Run)) (Run, error) {
	try := func(ctx context.Context, last Run) (Run, bool, error) {
		r, err := c.Run(ctx, runID)
		switch {
		case err == nil:
			if onPoll != nil && ctx.Err() == nil {
				onPoll(r)
			}
			return r, TerminalStatus(r.Status), nil
		case IsTemporary(err):
			// Dagit restarting (a roll, or Postgres coming back) is not a
			// verdict on the run.
			return last, false, err
		}
		return last, true, err
	}
	timedOut := func(last Run, lastErr error) error {
		if last.Status == "" && lastErr != nil {
			return fmt.Errorf("run %s: no answer from Dagit within %s: %w", runID, p.Timeout, lastErr)
		}
		return &RunTimeoutError{RunID: runID, Status: last.Status, Timeout: p.Timeout}
	}
	return PollUntil(ctx, p, try, timedOut)
}

// RunSummary is one entry of the run history.
type RunSummary struct {
	ID      string
	Job     string
	Status  string
	Created time.Time
	// Started and Ended are zero until the run starts and ends.
	Started, Ended time.Time
	Tags           map[string]string
}

// Duration is how long the run ran (so far, for one that has not ended).
func (r RunSummary) Duration(now time.Time) time.Duration {
	switch {
	case r.Started.IsZero():
		return 0
	case r.Ended.IsZero():
		return now.Sub(r.Started)
	}
	return r.Ended.Sub(r.Started)
}

// SuiteRunTag marks the runs `dagster-dev test` launches; its value names
// the case. Such runs are the suite's business: status does not judge the
// environment by them.
const SuiteRunTag = "dagster-dev/test-case"

// RecentRuns reads the newest runs of the history, newest first.
func (c *Client) RecentRuns(ctx context.Context, limit int) ([]RunSummary, error) {
	return c.listRuns(ctx, map[string]any{"limit": limit})
}

// listRuns asks runsOrError with a filter or a limit.
func (c *Client) listRuns(ctx context.Context, vars map[string]any) ([]RunSummary, error) {
	var out struct {
		R struct {
			Typename string `json:"__typename"`
			Results  []struct {
				RunID        string   `json:"runId"`
				Status       string   `json:"status"`
				JobName      string   `json:"jobName"`
				CreationTime float64  `json:"creationTime"`
				StartTime    *float64 `json:"startTime"`
				EndTime      *float64 `json:"endTime"`
				Tags         []struct {
					Key   string `json:"key"`
					Value string `json:"value"`
				} `json:"tags"`
			} `json:"results"`
			Message string `json:"message"`
		} `json:"runsOrError"`
	}
	if err := c.do(ctx, "runsOrError", queryRuns, vars, &out); err != nil {
		return nil, err
	}
	if out.R.Typename != "Runs" {
		return nil, fmt.Errorf("runsOrError: %s: %s", out.R.Typename, out.R.Message)
	}
	runs := make([]RunSummary, 0, len(out.R.Results))
	for _, r := range out.R.Results {
		s := RunSummary{ID: r.RunID, Job: r.JobName, Status: r.Status, Created: seconds(r.CreationTime), Tags: map[string]string{}}
		if r.StartTime != nil {
			s.Started = seconds(*r.StartTime)
		}
		if r.EndTime != nil {
			s.Ended = seconds(*r.EndTime)
		}
		for _, t := range r.Tags {
			s.Tags[t.Key] = t.Value
		}
		runs = append(runs, s)
	}
	return runs, nil
}

// seconds reads Dagster's float epoch seconds.
func seconds(f float64) time.Time {
	if f <= 0 {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}
