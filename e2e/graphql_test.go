package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/dagster-dev/dagster-dev/chart"
)

// --- the documents against Dagster's real schema

const schemaFile = "testdata/dagster-schema.graphql"

func loadSchema(t *testing.T) *ast.Schema {
	t.Helper()
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	schema, gerr := gqlparser.LoadSchema(&ast.Source{Name: schemaFile, Input: string(data)})
	if gerr != nil {
		t.Fatalf("loading %s: %v", schemaFile, gerr)
	}
	return schema
}

func TestDocumentsValidateAgainstDagsterSchema(t *testing.T) {
	schema := loadSchema(t)
	docs := map[string]string{
		"location": queryLocationEntry, "workspace": queryWorkspaceLocations, "launch": mutationLaunchRun,
		"run": queryRun, "runs": queryRuns, "logs": queryLogs, "instance": queryInstance,
	}
	for name, doc := range docs {
		if _, errs := gqlparser.LoadQueryWithRules(schema, doc, nil); len(errs) > 0 {
			t.Errorf("%s: %v", name, errs)
		}
	}
	// The validator must be able to fail, or the test above proves nothing.
	if _, errs := gqlparser.LoadQueryWithRules(schema, `query { runOrError(runId: "x") { ... on Run { noSuchField } } }`, nil); len(errs) == 0 {
		t.Fatal("a query with an unknown field validated")
	}
}

// The schema file must be the one of the Dagster the chart installs.
func TestSchemaMatchesChartDagsterVersion(t *testing.T) {
	ch, err := chart.Load()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Dagster (\d+\.\d+\.\d+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s does not say which Dagster version it is from", schemaFile)
	}
	if got, want := string(m[1]), ch.Metadata.AppVersion; got != want {
		t.Errorf("%s is Dagster %s's schema but the chart installs Dagster %s: regenerate it", schemaFile, got, want)
	}
}

// --- a fake Dagit

type gqlRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
}

// fakeDagit answers POST /graphql by operation name with scripted
// responses; the last response of a script repeats.
type fakeDagit struct {
	t       *testing.T
	mu      sync.Mutex
	scripts map[string][]fakeResponse
	calls   map[string][]gqlRequest
}

type fakeResponse struct {
	status int
	body   string // raw JSON body
}

func data(v string) fakeResponse { return fakeResponse{status: 200, body: `{"data":` + v + `}`} }

var opName = regexp.MustCompile(`^(?:query|mutation) (\w+)`)

func newFakeDagit(t *testing.T) (*fakeDagit, *GraphQL) {
	f := &fakeDagit{t: t, scripts: map[string][]fakeResponse{}, calls: map[string][]gqlRequest{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, &GraphQL{Base: func(context.Context) (string, error) { return srv.URL, nil }, HTTP: srv.Client()}
}

func (f *fakeDagit) on(op string, rs ...fakeResponse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripts[op] = rs
}

func (f *fakeDagit) requests(op string) []gqlRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeDagit) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/graphql" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("Content-Type %q", ct)
	}
	body, _ := io.ReadAll(r.Body)
	var req gqlRequest
	if err := json.Unmarshal(body, &req); err != nil {
		f.t.Errorf("request is not JSON: %s", body)
		return
	}
	m := opName.FindStringSubmatch(req.Query)
	if m == nil {
		f.t.Errorf("no operation name in %q", req.Query)
		return
	}
	f.mu.Lock()
	f.calls[m[1]] = append(f.calls[m[1]], req)
	script := f.scripts[m[1]]
	var resp fakeResponse
	switch len(script) {
	case 0:
		f.mu.Unlock()
		f.t.Errorf("unexpected operation %s", m[1])
		w.WriteHeader(500)
		return
	case 1:
		resp = script[0]
	default:
		resp, f.scripts[m[1]] = script[0], script[1:]
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.status)
	io.WriteString(w, resp.body)
}

var fastPoll = Poll{Interval: time.Millisecond, Timeout: 2 * time.Second}

// --- launchRun

func TestLaunchRunSendsExecutionParams(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevLaunchRun", data(`{"launchRun":{"__typename":"LaunchRunSuccess","run":{"runId":"abc-123","status":"QUEUED"}}}`))
	id, err := g.LaunchRun(context.Background(), JobSelector{Location: "user-code", Repository: "__repository__", Job: "dagster_dev_probe"},
		probeRunConfig([]string{"A", "B"}), map[string]string{"z": "1", "a": "2"})
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

func TestRequestErrors(t *testing.T) {
	tests := []struct {
		name      string
		resp      fakeResponse
		temporary bool
		wantMsg   string
	}{
		{"graphql validation error", fakeResponse{400, `{"errors":[{"message":"Cannot query field \"x\" on type \"Run\"."}]}`}, false, `Cannot query field "x"`},
		{"errors with 200", fakeResponse{200, `{"data":null,"errors":[{"message":"boom"},{"message":"bang"}]}`}, false, "boom; bang"},
		{"bad gateway", fakeResponse{502, `<html>bad gateway</html>`}, true, "HTTP 502"},
		{"unavailable", fakeResponse{503, ``}, true, "(empty body)"},
		{"server error", fakeResponse{500, `Internal Server Error`}, false, "HTTP 500: Internal Server Error"},
		{"not json", fakeResponse{200, `<html>`}, false, "not JSON"},
		{"no data", fakeResponse{200, `{}`}, false, "no data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, g := newFakeDagit(t)
			f.on("DagsterDevRun", tc.resp)
			_, err := g.Run(context.Background(), "r1")
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *RequestError", err, err)
			}
			if re.Temporary != tc.temporary {
				t.Errorf("Temporary = %v, want %v", re.Temporary, tc.temporary)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
		})
	}
}

func TestConnectionRefusedIsTemporary(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	g := &GraphQL{Base: func(context.Context) (string, error) { return url, nil }, HTTP: http.DefaultClient}
	_, err := g.Run(context.Background(), "x")
	if !isTemporary(err) {
		t.Fatalf("err = %v, want a temporary RequestError", err)
	}
}

// --- code location

const (
	locLoading   = `{"workspaceLocationEntryOrError":{"__typename":"WorkspaceLocationEntry","name":"user-code","loadStatus":"LOADING","locationOrLoadError":null}}`
	locReloading = `{"workspaceLocationEntryOrError":{"__typename":"WorkspaceLocationEntry","name":"user-code","loadStatus":"LOADING","locationOrLoadError":{"__typename":"RepositoryLocation","name":"user-code","repositories":[]}}}`
	locLoaded    = `{"workspaceLocationEntryOrError":{"__typename":"WorkspaceLocationEntry","name":"user-code","loadStatus":"LOADED","locationOrLoadError":{"__typename":"RepositoryLocation","name":"user-code","repositories":[{"name":"__repository__","jobs":[{"name":"dagster_dev_probe"},{"name":"__ASSET_JOB"}]}]}}}`
	locError     = `{"workspaceLocationEntryOrError":{"__typename":"WorkspaceLocationEntry","name":"user-code","loadStatus":"LOADED","locationOrLoadError":{"__typename":"PythonError","message":"dagster._core.errors.DagsterImportError: Encountered ImportError: No module named 'pandas'\n","className":"DagsterImportError","stack":["  File \"repo.py\"\n"]}}}`
	// Seen on kind when Dagit and the user-code server roll together.
	locUnreachable = `{"workspaceLocationEntryOrError":{"__typename":"WorkspaceLocationEntry","name":"user-code","loadStatus":"LOADED","locationOrLoadError":{"__typename":"PythonError","message":"dagster._core.errors.DagsterUserCodeUnreachableError: Could not reach user code server. gRPC Error code: UNAVAILABLE\n","className":"DagsterUserCodeUnreachableError","stack":["  File \"grpc.py\"\n"]}}}`
	locMissing     = `{"workspaceLocationEntryOrError":null}`
)

func TestWaitLocationWaitsForLoadedRepositoryLocation(t *testing.T) {
	f, g := newFakeDagit(t)
	// LOADING with the previous RepositoryLocation (a reload in progress)
	// is not ready, even though the location object is there.
	f.on("DagsterDevLocation", data(locMissing), data(locLoading), data(locReloading), data(locLoaded))
	st, err := g.WaitLocation(context.Background(), "user-code", fastPoll)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests("DagsterDevLocation")); n != 4 {
		t.Errorf("%d polls, want 4", n)
	}
	if !st.Ready() || !st.HasJob("__repository__", "dagster_dev_probe") || st.HasJob("__repository__", "nope") {
		t.Errorf("state %+v", st)
	}
	if got := f.requests("DagsterDevLocation")[0].Variables["name"]; got != "user-code" {
		t.Errorf("name variable = %v", got)
	}
}

func TestWaitLocationLoadErrorFailsAtOnce(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevLocation", data(locLoading), data(locError))
	_, err := g.WaitLocation(context.Background(), "user-code", Poll{Interval: time.Millisecond, Timeout: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "failed to load") || !strings.Contains(err.Error(), "No module named 'pandas'") || !strings.Contains(err.Error(), `File "repo.py"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestWaitLocationWaitsOutUnreachableServer(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevLocation", data(locUnreachable), data(locUnreachable), data(locLoaded))
	st, err := g.WaitLocation(context.Background(), "user-code", fastPoll)
	if err != nil || !st.Ready() {
		t.Fatalf("WaitLocation = %+v, %v", st, err)
	}
	f.on("DagsterDevLocation", data(locUnreachable))
	_, err = g.WaitLocation(context.Background(), "user-code", Poll{Interval: time.Millisecond, Timeout: 30 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "not loaded after 30ms: LOADED with a load error: dagster._core.errors.DagsterUserCodeUnreachableError") {
		t.Fatalf("timeout: err = %v", err)
	}
}

func TestWaitLocationTimeoutNamesExistingLocations(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevLocation", data(locMissing))
	f.on("DagsterDevWorkspace", data(`{"workspaceOrError":{"__typename":"Workspace","locationEntries":[{"name":"other","loadStatus":"LOADED"},{"name":"team","loadStatus":"LOADING"}]}}`))
	_, err := g.WaitLocation(context.Background(), "user-code", Poll{Interval: time.Millisecond, Timeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), `code location "user-code" not loaded`) || !strings.Contains(err.Error(), "the workspace has: other, team") {
		t.Fatalf("err = %v", err)
	}
}

func TestWaitLocationTimeoutWhileLoading(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevLocation", data(locLoading))
	_, err := g.WaitLocation(context.Background(), "user-code", Poll{Interval: time.Millisecond, Timeout: 30 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "LOADING (no location yet)") {
		t.Fatalf("err = %v", err)
	}
}

func TestWaitLocationRetriesUnreachableDagit(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevLocation", fakeResponse{503, ""}, fakeResponse{502, ""}, data(locLoaded))
	if _, err := g.WaitLocation(context.Background(), "user-code", fastPoll); err != nil {
		t.Fatal(err)
	}
}

func TestWaitLocationStopsOnCancel(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevLocation", data(locLoading))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	_, err := g.WaitLocation(ctx, "user-code", Poll{Interval: time.Millisecond, Timeout: time.Hour})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
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
	if err != nil || len(runs) != 1 || !reflect.DeepEqual(runs[0], Run{ID: "r1", Status: RunSuccess, JobName: "j"}) {
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

// --- event logs

func TestLogsFollowsCursorAndFindsErrors(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevLogs",
		data(`{"logsForRun":{"__typename":"EventConnection","cursor":"c1","hasMore":true,"events":[
			{"__typename":"RunStartEvent","message":"Started execution of run for \"dagster_dev_probe\".","level":"DEBUG","stepKey":null,"eventType":"RUN_START"},
			{"__typename":"LogMessageEvent","message":"DAGSTER_DEV_PROBE A=secret-2-x","level":"INFO","stepKey":"probe","eventType":null}]}}`),
		data(`{"logsForRun":{"__typename":"EventConnection","cursor":"c2","hasMore":false,"events":[
			{"__typename":"ExecutionStepFailureEvent","message":"Execution of step \"probe\" failed.","level":"ERROR","stepKey":"probe","eventType":"STEP_FAILURE",
			 "error":{"message":"KeyError: 'A'\n","className":"KeyError","stack":["  File \"probe.py\", line 3\n"],"cause":{"message":"inner\n","stack":[]}}},
			{"__typename":"RunFailureEvent","message":"Execution of run for \"dagster_dev_probe\" failed.","level":"ERROR","stepKey":null,"eventType":"RUN_FAILURE","error":null}]}}`))
	events, err := g.Logs(context.Background(), "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 4 {
		t.Fatalf("%d events", len(events))
	}
	reqs := f.requests("DagsterDevLogs")
	if len(reqs) != 2 || reqs[0].Variables["cursor"] != nil || reqs[1].Variables["cursor"] != "c1" {
		t.Errorf("cursors %v", reqs)
	}
	errs := ErrorEvents(events)
	if len(errs) != 2 || errs[0].Typename != "ExecutionStepFailureEvent" {
		t.Fatalf("ErrorEvents = %+v", errs)
	}
	text := FormatEvents(errs)
	for _, want := range []string{`ExecutionStepFailureEvent [probe]: Execution of step "probe" failed.`, "KeyError: 'A'", `File "probe.py", line 3`, "caused by: inner", "RunFailureEvent: Execution of run"} {
		if !strings.Contains(text, want) {
			t.Errorf("FormatEvents missing %q:\n%s", want, text)
		}
	}
}

func TestLogsStopsOnStuckCursor(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevLogs", data(`{"logsForRun":{"__typename":"EventConnection","cursor":"c1","hasMore":true,"events":[]}}`))
	if _, err := g.Logs(context.Background(), "r1"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests("DagsterDevLogs")); n != 2 {
		t.Errorf("%d requests, want 2 (stop when the cursor does not move)", n)
	}
}

func TestLogsRunNotFound(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevLogs", data(`{"logsForRun":{"__typename":"RunNotFoundError","message":"Run r1 not found"}}`))
	if _, err := g.Logs(context.Background(), "r1"); err == nil || !strings.Contains(err.Error(), "Run r1 not found") {
		t.Fatalf("err = %v", err)
	}
}

func TestInstance(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevInstance", data(`{"instance":{"info":"run_storage:\n  class: PostgresRunStorage\n","runLauncher":{"name":"CeleryK8sRunLauncher"}}}`))
	inst, err := g.Instance(context.Background())
	if err != nil || inst.RunLauncher != "CeleryK8sRunLauncher" || !strings.Contains(inst.Info, "PostgresRunStorage") {
		t.Fatalf("Instance = %+v, %v", inst, err)
	}
	f.on("DagsterDevInstance", data(`{"instance":{"info":null,"runLauncher":null}}`))
	if inst, err := g.Instance(context.Background()); err != nil || inst != (Instance{}) {
		t.Fatalf("hidden instance = %+v, %v", inst, err)
	}
}

func TestParseProbe(t *testing.T) {
	text := "2026-01-01 - dagster - INFO - DAGSTER_DEV_PROBE A=secret-2-x\r\n" +
		"DAGSTER_DEV_PROBE B=<unset>\n" +
		"DAGSTER_DEV_PROBE C=has=equals and spaces\n" +
		"not a probe line A=wrong\n" +
		"DAGSTER_DEV_PROBE A=later\n"
	got := ParseProbe(text)
	want := map[string]string{"A": "later", "B": "<unset>", "C": "has=equals and spaces"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseProbe = %v, want %v", got, want)
	}
}

func TestRetryableLaunch(t *testing.T) {
	tests := map[string]struct {
		err  error
		want bool
	}{
		"dagit restarting":    {&RequestError{Op: "launchRun", Temporary: true, Err: errors.New("connection refused")}, true},
		"bad query":           {&RequestError{Op: "launchRun", Err: errors.New("cannot query field")}, false},
		"job not found":       {&LaunchError{Typename: "PipelineNotFoundError", Message: "Could not find Pipeline"}, true},
		"user code reloading": {&LaunchError{Typename: "PythonError", Python: &PythonError{Message: "dagster._core.errors.DagsterUserCodeUnreachableError: Could not reach user code server. gRPC Error code: UNAVAILABLE"}}, true},
		"other python error":  {&LaunchError{Typename: "PythonError", Python: &PythonError{Message: "DagsterInvariantViolationError: no job_image"}}, false},
		"invalid config":      {&LaunchError{Typename: "RunConfigValidationInvalid", ConfigErrors: []string{"x"}}, false},
		"other":               {errors.New("boom"), false},
	}
	for name, tc := range tests {
		if got := retryableLaunch(tc.err); got != tc.want {
			t.Errorf("%s: retryableLaunch = %v, want %v", name, got, tc.want)
		}
	}
}
