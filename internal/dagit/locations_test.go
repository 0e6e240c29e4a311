package dagit

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

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

// afterRequests calls fn once n requests have been answered.
type afterRequests struct {
	rt http.RoundTripper
	n  int32
	fn func()
	// seen counts the answered requests.
	seen atomic.Int32
}

func (a *afterRequests) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := a.rt.RoundTrip(r)
	if a.seen.Add(1) == a.n {
		a.fn()
	}
	return resp, err
}

// Cancelled while it polls a location that stays LOADING: the second answer
// shows it is polling, not done, when the cancel comes.
func TestWaitLocationStopsOnCancel(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevLocation", data(locLoading))
	ctx, cancel := context.WithCancel(context.Background())
	g.HTTP.Transport = &afterRequests{rt: g.HTTP.Transport, n: 2, fn: cancel}
	_, err := g.WaitLocation(ctx, "user-code", Poll{Interval: time.Millisecond, Timeout: time.Hour})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
