package dagit

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// --- launchRun

func TestLaunchRunSendsExecutionParams(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevLaunchRun", data(`{"launchRun":{"__typename":"LaunchRunSuccess","run":{"runId":"abc-123","status":"QUEUED"}}}`))
	id, err := g.LaunchRun(context.Background(), JobSelector{Location: "user-code", Repository: "__repository__", Job: "dagster_dev_probe"},
		map[string]any{"ops": map[string]any{"probe": map[string]any{"config": map[string]any{"keys": []string{"A", "B"}}}}}, map[string]string{"z": "1", "a": "2"})
	if err != nil || id != "abc-123" {
		t.Fatalf("LaunchRun = %q, %v", id, err)
	}
	reqs := f.requests("DagsterDevLaunchRun")
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	got, _ := json.Marshal(reqs[0].Variables)
	want := `{"executionParams":{"executionMetadata":{"tags":[{"key":"a","value":"2"},{"key":"z","value":"1"}]},` +
		`"runConfigData":{"ops":{"probe":{"config":{"keys":["A","B"]}}}},` +
		`"selector":{"jobName":"dagster_dev_probe","repositoryLocationName":"user-code","repositoryName":"__repository__"}}}`
	if string(got) != want {
		t.Errorf("variables\n got %s\nwant %s", got, want)
	}
}

func TestLaunchRunErrors(t *testing.T) {
	tests := []struct {
		name     string
		resp     fakeResponse
		wantType string
		wantMsg  []string
	}{
		{
			name: "invalid run config",
			resp: data(`{"launchRun":{"__typename":"RunConfigValidationInvalid","pipelineName":"dagster_dev_probe","errors":[
				{"message":"Received unexpected config entry \"nope\"","path":["root","ops","probe","config"],"reason":"FIELD_NOT_DEFINED"},
				{"message":"Missing required config entry \"keys\"","path":[],"reason":"MISSING_REQUIRED_FIELD"}]}}`),
			wantType: "RunConfigValidationInvalid",
			wantMsg:  []string{`root.ops.probe.config: Received unexpected config entry "nope"`, "\n  Missing required config entry"},
		},
		{
			name:     "python error",
			resp:     data(`{"launchRun":{"__typename":"PythonError","message":"DagsterInvariantViolationError: no job_image\n","stack":["  File \"x.py\", line 1\n","    raise\n"]}}`),
			wantType: "PythonError",
			wantMsg:  []string{"no job_image", `File "x.py", line 1`},
		},
		{
			// Dagster's webserver sends a PythonError result with HTTP 500
			// (seen while a code server restarted).
			name:     "python error with HTTP 500",
			resp:     fakeResponse{status: 500, body: `{"data":{"launchRun":{"__typename":"PythonError","message":"dagster._core.errors.DagsterUserCodeUnreachableError: Could not reach user code server. gRPC Error code: UNAVAILABLE\n","stack":[]}}}`},
			wantType: "PythonError",
			wantMsg:  []string{"Could not reach user code server"},
		},
		{
			name:     "job not found",
			resp:     data(`{"launchRun":{"__typename":"PipelineNotFoundError","message":"Could not find Pipeline user-code.__repository__.nope"}}`),
			wantType: "PipelineNotFoundError",
			wantMsg:  []string{"Could not find Pipeline"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, g := newFakeDagit(t)
			f.on("DagsterDevLaunchRun", tc.resp)
			_, err := g.LaunchRun(context.Background(), JobSelector{"l", "r", "j"}, nil, nil)
			var le *LaunchError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v (%T), want *LaunchError", err, err)
			}
			if le.Typename != tc.wantType {
				t.Errorf("Typename = %q, want %q", le.Typename, tc.wantType)
			}
			for _, w := range tc.wantMsg {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// --- run polling

func runResp(status string) fakeResponse {
	return data(`{"runOrError":{"__typename":"Run","runId":"r1","status":"` + status + `","jobName":"dagster_dev_probe","tags":[{"key":"k","value":"v"}]}}`)
}

func TestWaitRunPollsToTerminalStatus(t *testing.T) {
	for _, final := range []string{RunSuccess, RunFailure, RunCanceled} {
		t.Run(final, func(t *testing.T) {
			f, g := newFakeDagit(t)
			f.on("DagsterDevRun", runResp(RunQueued), fakeResponse{503, ""}, runResp(RunStarting), runResp(RunStarted), runResp(final))
			var seen []string
			run, err := g.WaitRun(context.Background(), "r1", fastPoll, func(r Run) { seen = append(seen, r.Status) })
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != final || run.JobName != "dagster_dev_probe" || run.Tags["k"] != "v" {
				t.Errorf("run = %+v", run)
			}
			if want := []string{RunQueued, RunStarting, RunStarted, final}; !reflect.DeepEqual(seen, want) {
				t.Errorf("onPoll saw %v, want %v", seen, want)
			}
			if got := f.requests("DagsterDevRun")[0].Variables["runId"]; got != "r1" {
				t.Errorf("runId = %v", got)
			}
		})
	}
}

func TestWaitRunTimeout(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevRun", runResp(RunStarted))
	start := time.Now()
	run, err := g.WaitRun(context.Background(), "r1", Poll{Interval: 5 * time.Millisecond, Timeout: 60 * time.Millisecond}, nil)
	var te *RunTimeoutError
	if !errors.As(err, &te) || te.Status != RunStarted || run.Status != RunStarted {
		t.Fatalf("err = %v, run = %+v", err, run)
	}
	if !strings.Contains(err.Error(), "run r1 still STARTED after 60ms") {
		t.Errorf("message %q", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestWaitRunTimeoutWithoutAnyAnswer(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevRun", fakeResponse{503, "down"})
	_, err := g.WaitRun(context.Background(), "r1", Poll{Interval: 5 * time.Millisecond, Timeout: 40 * time.Millisecond}, nil)
	if err == nil || !strings.Contains(err.Error(), "no answer from Dagit") || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("err = %v", err)
	}
}

func TestWaitRunNotFoundIsFinal(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevRun", data(`{"runOrError":{"__typename":"RunNotFoundError","message":"Run r1 could not be found."}}`))
	_, err := g.WaitRun(context.Background(), "r1", Poll{Interval: time.Millisecond, Timeout: time.Hour}, nil)
	if !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.requests("DagsterDevRun")); n != 1 {
		t.Errorf("%d polls after RunNotFoundError, want 1", n)
	}
}

func TestRunPythonError(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevRun", data(`{"runOrError":{"__typename":"PythonError","message":"OperationalError: server closed the connection","stack":[]}}`))
	_, err := g.Run(context.Background(), "r1")
	var pe *PythonError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "server closed the connection") {
		t.Fatalf("err = %v", err)
	}
}

func TestRuns(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevRuns", data(`{"runsOrError":{"__typename":"Runs","results":[{"runId":"r1","status":"SUCCESS","jobName":"j"}]}}`))
	runs, err := g.Runs(context.Background(), "r1")
	if err != nil || len(runs) != 1 || !reflect.DeepEqual(runs[0], Run{ID: "r1", Status: RunSuccess, JobName: "j", Tags: map[string]string{}}) {
		t.Fatalf("Runs = %+v, %v", runs, err)
	}
	got, _ := json.Marshal(f.requests("DagsterDevRuns")[0].Variables)
	if string(got) != `{"filter":{"runIds":["r1"]}}` {
		t.Errorf("variables %s", got)
	}
	f.on("DagsterDevRuns", data(`{"runsOrError":{"__typename":"InvalidPipelineRunsFilterError","message":"bad filter"}}`))
	if _, err := g.Runs(context.Background(), "r1"); err == nil || !strings.Contains(err.Error(), "bad filter") {
		t.Errorf("err = %v", err)
	}
}

func TestRecentRuns(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevRuns", data(`{"runsOrError":{"__typename":"Runs","results":[
		{"runId":"r2","status":"STARTED","jobName":"etl","creationTime":1764756000.5,"startTime":1764756001.0,"endTime":null,"tags":[]},
		{"runId":"r1","status":"FAILURE","jobName":"etl","creationTime":1764755000.0,"startTime":1764755001.0,"endTime":1764755004.25,
		 "tags":[{"key":"dagster-dev/test-case","value":"run"}]}]}}`))
	runs, err := g.RecentRuns(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != "r2" || runs[1].Tags[SuiteRunTag] != "run" {
		t.Fatalf("runs %+v", runs)
	}
	if d := runs[1].Duration(time.Now()); d != 3250*time.Millisecond {
		t.Errorf("duration of an ended run %s, want 3.25s", d)
	}
	if !runs[0].Ended.IsZero() || runs[0].Duration(runs[0].Started.Add(time.Minute)) != time.Minute {
		t.Errorf("a running run: ended %v", runs[0].Ended)
	}
	if f.requests("DagsterDevRuns")[0].Variables["limit"] != float64(2) {
		t.Errorf("limit not sent: %v", f.requests("DagsterDevRuns")[0].Variables)
	}
}
