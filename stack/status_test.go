package stack

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/watch"
)

// fakeDagitFor answers Dagit's GraphQL operations by name.
func fakeDagitFor(t *testing.T, answers map[string]string) *dagit.Client {
	op := regexp.MustCompile(`^(?:query|mutation) (\w+)`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Query string `json:"query"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("bad request: %v", err)
		}
		m := op.FindStringSubmatch(strings.TrimSpace(req.Query))
		if m == nil || answers[m[1]] == "" {
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		io.WriteString(w, `{"data":`+answers[m[1]]+`}`)
	}))
	t.Cleanup(srv.Close)
	return &dagit.Client{BaseURL: srv.URL, HTTP: srv.Client()}
}

func TestStatusJudgesLocationsAndTheNewestRunOfEachJob(t *testing.T) {
	client := fakeDagitFor(t, map[string]string{
		"DagsterDevLocations": `{"workspaceOrError":{"__typename":"Workspace","locationEntries":[
			{"name":"dagster-user-code","loadStatus":"LOADED","locationOrLoadError":{"__typename":"RepositoryLocation","name":"dagster-user-code","repositories":[]}},
			{"name":"analytics","loadStatus":"LOADED","locationOrLoadError":{"__typename":"PythonError","message":"SyntaxError: invalid syntax (definitions.py, line 17)\n","stack":["  File \"/opt/dagster/code/analytics/definitions.py\", line 17\n"]}},
			{"name":"billing","loadStatus":"LOADING","locationOrLoadError":null}]}}`,
		"DagsterDevRuns": `{"runsOrError":{"__typename":"Runs","results":[
			{"runId":"r5","status":"FAILURE","jobName":"probe","creationTime":1764756500,"startTime":1764756501,"endTime":1764756502,"tags":[{"key":"dagster-dev/test-case","value":"run"}]},
			{"runId":"r4","status":"STARTED","jobName":"etl","creationTime":1764756400,"startTime":1764756401,"endTime":null,"tags":[]},
			{"runId":"r3","status":"SUCCESS","jobName":"etl","creationTime":1764756300,"startTime":1764756301,"endTime":1764756310,"tags":[]},
			{"runId":"r2","status":"FAILURE","jobName":"etl","creationTime":1764756200,"startTime":1764756201,"endTime":1764756205,"tags":[]},
			{"runId":"r1","status":"FAILURE","jobName":"report","creationTime":1764756100,"startTime":1764756101,"endTime":1764756103,"tags":[]}]}}`,
	})
	r := &Report{Dagit: DagitReport{URL: "http://127.0.0.1:3000", Answers: true}, Locations: []LocationReport{}, Runs: []RunReport{}}
	(&Status{Env: &Env{Config: testLogsConfig(t)}, Runs: 5}).dagster(context.Background(), r, client)
	r.finish()
	if r.Healthy {
		t.Fatal("a failed location must make the environment unhealthy")
	}
	got := strings.Join(r.Problems, "\n")
	for _, want := range []string{
		"code location analytics failed to load: /opt/dagster/code/analytics/definitions.py:17: SyntaxError: invalid syntax (definitions.py, line 17)",
		"code location billing is still loading",
		"the last run of job report failed: run r1 (`dagster-dev logs --run r1`)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems miss %q:\n%s", want, got)
		}
	}
	// etl's newest finished run succeeded; the suite's failed probe run is
	// listed, not judged.
	if strings.Contains(got, "etl") || strings.Contains(got, "probe") {
		t.Errorf("problems judge the wrong runs:\n%s", got)
	}
	if len(r.Runs) != 5 || !r.Runs[0].Suite || r.Runs[1].Ended != nil || r.Runs[2].Seconds != 9 {
		t.Errorf("runs %+v", r.Runs)
	}
	if r.Locations[1].Status != "failed" || !strings.Contains(r.Locations[1].Error, "definitions.py") {
		t.Errorf("locations %+v", r.Locations)
	}
	r.Watch = &watch.Holder{Identity: "laptop/pid-42/abc123", Since: time.Now().Add(-time.Hour), Renewed: time.Now()}
	text := r.Text()
	for _, want := range []string{"code locations:", "✓ dagster-user-code", "✗ analytics", "definitions.py, line 17", "runs (newest first):", "(dagster-dev test)", "watch:       running: laptop/pid-42/abc123"} {
		if !strings.Contains(text, want) {
			t.Errorf("text misses %q:\n%s", want, text)
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"codeLocations":[`, `"runs":[`, `"watch":{"holder":"laptop/pid-42/abc123"`, `"durationSeconds":9`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON misses %s: %s", key, b)
		}
	}
}
