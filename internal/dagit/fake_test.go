package dagit

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"
)

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

func newFakeDagit(t *testing.T) (*fakeDagit, *Client) {
	f := &fakeDagit{t: t, scripts: map[string][]fakeResponse{}, calls: map[string][]gqlRequest{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, &Client{BaseURL: srv.URL, HTTP: srv.Client()}
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
