package dagit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const loadedEntry = `{"__typename":"WorkspaceLocationEntry","name":"user-code","loadStatus":"LOADED","updatedTimestamp":1767225600.25,"versionKey":"v-2",
  "locationOrLoadError":{"__typename":"RepositoryLocation","name":"user-code","repositories":[{"name":"__repository__",
    "jobs":[{"name":"dagster_dev_probe"},{"name":"__ASSET_JOB"},{"name":"daily"}],
    "schedules":[{"name":"daily_schedule"}],
    "sensors":[],
    "assetNodes":[{"assetKey":{"path":["raw","orders"]}},{"assetKey":{"path":["customers"]}}]}]}}`

func TestLocations(t *testing.T) {
	f, c := newFakeDagit(t)
	f.on("DagsterDevLocations", data(`{"workspaceOrError":{"__typename":"Workspace","locationEntries":[`+loadedEntry+`,
		{"__typename":"WorkspaceLocationEntry","name":"team","loadStatus":"LOADED","updatedTimestamp":1767225601,"versionKey":"v-1","locationOrLoadError":{"__typename":"PythonError",`+
		strings.TrimPrefix(userCodeLoadError, "{")+`},
		{"__typename":"WorkspaceLocationEntry","name":"new","loadStatus":"LOADING","updatedTimestamp":1767225602,"versionKey":"v-0","locationOrLoadError":null}]}}`))
	locs, err := c.Locations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(locs) != 3 {
		t.Fatalf("%d locations", len(locs))
	}
	uc, team, nw := locs[0], locs[1], locs[2]
	if uc.Name != "user-code" || !uc.Loaded() || uc.Failed() || uc.VersionKey != "v-2" || uc.LoadError != nil {
		t.Errorf("user-code = %+v", uc)
	}
	if want := time.Unix(1767225600, 250_000_000); !uc.Updated.Equal(want) {
		t.Errorf("Updated = %v, want %v", uc.Updated, want)
	}
	wantDefs := Definitions{Repositories: []Repository{{
		Name: "__repository__", Jobs: []string{"__ASSET_JOB", "dagster_dev_probe", "daily"}, Assets: []string{"customers", "raw/orders"},
		Schedules: []string{"daily_schedule"}, Sensors: []string{},
	}}}
	if !reflect.DeepEqual(uc.Definitions, wantDefs) {
		t.Errorf("Definitions = %+v\nwant %+v", uc.Definitions, wantDefs)
	}
	if team.Loaded() || !team.Failed() || team.Typename != "PythonError" || team.LoadError == nil || team.LoadError.ClassName != "DagsterUserCodeLoadError" {
		t.Fatalf("team = %+v", team)
	}
	if fr, ok := team.LoadError.UserFrame(); !ok || fr.String() != "/opt/dagster/app/helpers.py:12" {
		t.Errorf("team's UserFrame = %v, %v", fr, ok)
	}
	if nw.Loaded() || nw.Failed() || nw.LoadStatus != LocationLoading || nw.Typename != "" {
		t.Errorf("new = %+v", nw)
	}

	f.on("DagsterDevLocations", data(`{"workspaceOrError":{"__typename":"PythonError","message":"OperationalError: no database","stack":[]}}`))
	if _, err := c.Locations(context.Background()); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Errorf("workspace error: err = %v", err)
	}
}

func TestUnreachableLocationIsNotFailed(t *testing.T) {
	e := LocationEntry{LoadStatus: LocationLoaded, Typename: "PythonError", LoadError: &PythonError{ClassName: "DagsterUserCodeUnreachableError"}}
	if e.Failed() || e.Loaded() {
		t.Errorf("unreachable server: Failed %v Loaded %v", e.Failed(), e.Loaded())
	}
}

func TestReloadLocation(t *testing.T) {
	f, c := newFakeDagit(t)
	f.on("DagsterDevReloadLocation", data(`{"reloadRepositoryLocation":`+loadedEntry+`}`))
	e, err := c.ReloadLocation(context.Background(), "user-code")
	if err != nil || !e.Loaded() || e.VersionKey != "v-2" || len(e.Definitions.Repositories) != 1 {
		t.Fatalf("ReloadLocation = %+v, %v", e, err)
	}
	got, _ := json.Marshal(f.requests("DagsterDevReloadLocation")[0].Variables)
	if string(got) != `{"name":"user-code"}` {
		t.Errorf("variables %s", got)
	}

	tests := []struct {
		resp     string
		typename string
		notFound bool
		want     string
	}{
		{`{"__typename":"RepositoryLocationNotFound","message":"Location user-code does not exist"}`, "RepositoryLocationNotFound", true, "does not exist"},
		{`{"__typename":"ReloadNotSupported","message":"Location user-code does not support reloading"}`, "ReloadNotSupported", false, "does not support reloading"},
		{`{"__typename":"UnauthorizedError","message":"not allowed"}`, "UnauthorizedError", false, "not allowed"},
		{`{"__typename":"PythonError","message":"grpc._channel._InactiveRpcError: unavailable\n","className":"_InactiveRpcError","stack":["  File \"/app/x.py\", line 1, in f\n"],"errorChain":[]}`, "PythonError", false, `File "/app/x.py", line 1`},
	}
	for _, tc := range tests {
		f.on("DagsterDevReloadLocation", data(`{"reloadRepositoryLocation":`+tc.resp+`}`))
		_, err := c.ReloadLocation(context.Background(), "user-code")
		var re *ReloadError
		if !errors.As(err, &re) || re.Typename != tc.typename || re.NotFound() != tc.notFound || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"user-code"`) {
			t.Errorf("%s: err = %v", tc.typename, err)
		}
	}
}

func TestDefinitionsDiff(t *testing.T) {
	old := Definitions{Repositories: []Repository{{Name: "__repository__", Jobs: []string{"__ASSET_JOB", "a"}, Assets: []string{"x"}, Sensors: []string{"s"}}}}
	cur := Definitions{Repositories: []Repository{
		{Name: "__repository__", Jobs: []string{"__ASSET_JOB_0", "a", "b"}, Assets: []string{"x", "y/z"}},
		{Name: "other", Schedules: []string{"nightly"}},
	}}
	added, removed := old.Diff(cur)
	var a, r []string
	for _, d := range added {
		a = append(a, d.String())
	}
	for _, d := range removed {
		r = append(r, d.String())
	}
	if want := []string{"asset y/z", "job b", "schedule nightly (repository other)"}; !reflect.DeepEqual(a, want) {
		t.Errorf("added %q, want %q", a, want)
	}
	if want := []string{"sensor s"}; !reflect.DeepEqual(r, want) {
		t.Errorf("removed %q, want %q", r, want)
	}
	if added, removed := cur.Diff(cur); added != nil || removed != nil {
		t.Errorf("no change: %v %v", added, removed)
	}
}

func TestWaitLocations(t *testing.T) {
	const loading = `{"__typename":"WorkspaceLocationEntry","name":"team","loadStatus":"LOADING","updatedTimestamp":1,"versionKey":"1","locationOrLoadError":null}`
	const unreachable = `{"__typename":"WorkspaceLocationEntry","name":"team","loadStatus":"LOADED","updatedTimestamp":1,"versionKey":"1","locationOrLoadError":{"__typename":"PythonError","message":"dagster._core.errors.DagsterUserCodeUnreachableError: Could not reach user code server\n","className":"DagsterUserCodeUnreachableError","stack":[],"errorChain":[]}}`
	const failed = `{"__typename":"WorkspaceLocationEntry","name":"team","loadStatus":"LOADED","updatedTimestamp":2,"versionKey":"2","locationOrLoadError":{"__typename":"PythonError",` + "%s" + `}`
	ws := func(entries ...string) fakeResponse {
		return data(`{"workspaceOrError":{"__typename":"Workspace","locationEntries":[` + strings.Join(entries, ",") + `]}}`)
	}
	teamLoaded := strings.Replace(loadedEntry, `"name":"user-code"`, `"name":"team"`, 1)

	f, c := newFakeDagit(t)
	f.on("DagsterDevLocations", fakeResponse{503, ""}, ws(loadedEntry, loading), ws(loadedEntry, unreachable), ws(loadedEntry, teamLoaded))
	locs, err := c.WaitLocations(context.Background(), fastPoll)
	if err != nil || len(locs) != 2 || !locs[1].Loaded() {
		t.Fatalf("WaitLocations = %+v, %v", locs, err)
	}
	if n := len(f.requests("DagsterDevLocations")); n != 4 {
		t.Errorf("%d polls, want 4", n)
	}

	f.on("DagsterDevLocations", ws(loadedEntry, loading), ws(loadedEntry, strings.Replace(failed, "%s", strings.TrimPrefix(syntaxLoadError, "{"), 1)))
	_, err = c.WaitLocations(context.Background(), Poll{Interval: time.Millisecond, Timeout: time.Hour})
	var le *LocationLoadError
	if !errors.As(err, &le) || le.Location != "team" {
		t.Fatalf("err = %v", err)
	}
	if want := `code location "team" failed to load at /opt/dagster/app/repo.py:7: SyntaxError: '(' was never closed`; err.Error() != want {
		t.Errorf("message\n got %s\nwant %s", err, want)
	}

	f.on("DagsterDevLocations", ws(loadedEntry, unreachable))
	_, err = c.WaitLocations(context.Background(), Poll{Interval: time.Millisecond, Timeout: 30 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "not loaded after 30ms: team (LOADED with a load error: dagster._core.errors.DagsterUserCodeUnreachableError") {
		t.Errorf("timeout: err = %v", err)
	}
}

// A code server that just rolled: Dagit answers the reload with the
// unreachable error, as an HTTP 500 and then as the entry's load error,
// before the server answers.
func TestReloadWhenReachable(t *testing.T) {
	f, c := newFakeDagit(t)
	unreachable500 := fakeResponse{status: 500, body: `{"errors":[{"message":"Failure loading ml: dagster._core.errors.DagsterUserCodeUnreachableError: Could not reach user code server. gRPC Error code: UNKNOWN"}]}`}
	unreachableEntry := data(`{"reloadRepositoryLocation":{"__typename":"WorkspaceLocationEntry","name":"user-code","loadStatus":"LOADED","updatedTimestamp":1,"versionKey":"v-1",
	  "locationOrLoadError":{"__typename":"PythonError","message":"dagster._core.errors.DagsterUserCodeUnreachableError: Could not reach user code server\n","className":"DagsterUserCodeUnreachableError","stack":[],"errorChain":[]}}}`)
	f.on("DagsterDevReloadLocation", unreachable500, unreachableEntry, data(`{"reloadRepositoryLocation":`+loadedEntry+`}`))
	// The mutation answers with the new timestamp but the definitions
	// from before the reload; the workspace has the reloaded ones.
	reloaded := strings.Replace(loadedEntry, `{"name":"daily"}`, `{"name":"daily"},{"name":"weekly"}`, 1)
	f.on("DagsterDevLocations", data(`{"workspaceOrError":{"__typename":"Workspace","locationEntries":[`+reloaded+`]}}`))
	e, err := c.ReloadWhenReachable(context.Background(), "user-code", fastPoll)
	if err != nil || !e.Loaded() {
		t.Fatalf("ReloadWhenReachable = %+v, %v", e, err)
	}
	if !slices.Contains(e.Definitions.Repositories[0].Jobs, "weekly") {
		t.Errorf("the stale answer of the mutation was returned: %+v", e.Definitions)
	}
	if n := len(f.requests("DagsterDevReloadLocation")); n != 3 {
		t.Errorf("%d reloads, want 3", n)
	}

	// An error in the user's code is not waited out.
	f, c = newFakeDagit(t)
	f.on("DagsterDevReloadLocation", data(`{"reloadRepositoryLocation":{"__typename":"RepositoryLocationNotFound","message":"Location user-code does not exist"}}`))
	if _, err := c.ReloadWhenReachable(context.Background(), "user-code", fastPoll); err == nil || len(f.requests("DagsterDevReloadLocation")) != 1 {
		t.Errorf("not found: err %v after %d reloads", err, len(f.requests("DagsterDevReloadLocation")))
	}

	// A load error that Dagit answers as an HTTP 500: the entry holds it.
	f, c = newFakeDagit(t)
	f.on("DagsterDevReloadLocation", fakeResponse{status: 500, body: `{"errors":[{"message":"Failure loading user-code: dagster._core.errors.DagsterUserCodeLoadError: Error occurred during the loading of Dagster definitions"}]}`})
	f.on("DagsterDevLocations", data(`{"workspaceOrError":{"__typename":"Workspace","locationEntries":[{"__typename":"WorkspaceLocationEntry","name":"user-code","loadStatus":"LOADED","updatedTimestamp":2,"versionKey":"2","locationOrLoadError":{"__typename":"PythonError",`+strings.TrimPrefix(syntaxLoadError, "{")+`}]}}`))
	e, err = c.ReloadWhenReachable(context.Background(), "user-code", fastPoll)
	if err != nil || e.LoadError == nil || e.Loaded() {
		t.Fatalf("load error as HTTP 500: %+v, %v", e, err)
	}
	if f, ok := e.LoadError.UserFrame(); !ok || f.Line == 0 {
		t.Errorf("no user frame in %+v", e.LoadError)
	}

	// Reloading a failed location: Dagit reloads it, then answers HTTP 500
	// with the old error; the entry, updated since, is the result.
	f, c = newFakeDagit(t)
	f.on("DagsterDevReloadLocation", fakeResponse{status: 500, body: `{"errors":[{"message":"Failure loading user-code: dagster._core.errors.DagsterUserCodeLoadError: old error"}]}`})
	fresh := strings.Replace(loadedEntry, `"updatedTimestamp":1767225600.25`, fmt.Sprintf(`"updatedTimestamp":%d`, time.Now().Unix()+1), 1)
	f.on("DagsterDevLocations", data(`{"workspaceOrError":{"__typename":"Workspace","locationEntries":[`+fresh+`]}}`))
	if e, err = c.ReloadWhenReachable(context.Background(), "user-code", fastPoll); err != nil || !e.Loaded() {
		t.Fatalf("recovery answered as HTTP 500: %+v, %v", e, err)
	}
	// ... but an entry older than the reload is not its result.
	f.on("DagsterDevLocations", data(`{"workspaceOrError":{"__typename":"Workspace","locationEntries":[`+loadedEntry+`]}}`))
	if _, err = c.ReloadWhenReachable(context.Background(), "user-code", fastPoll); err == nil {
		t.Fatal("a stale entry was taken for the reload's result")
	}

	// A server that never answers: the timeout, with the last error.
	f, c = newFakeDagit(t)
	f.on("DagsterDevReloadLocation", unreachable500)
	_, err = c.ReloadWhenReachable(context.Background(), "user-code", Poll{Interval: time.Millisecond, Timeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "did not answer within 50ms") || !strings.Contains(err.Error(), "Could not reach user code server") {
		t.Errorf("never reachable: %v", err)
	}
}
