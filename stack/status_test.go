package stack

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/watch"
)

// fakeDagitFor answers Dagit's GraphQL operations by name.
func fakeDagitFor(t *testing.T, answers map[string]string) *dagit.Client {
	d := newFakeDagitAnswers(t, "", answers)
	return &dagit.Client{BaseURL: d.srv.URL, HTTP: d.srv.Client()}
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

// A name longer than the others (longer than the old fixed widths, too)
// moves the columns after it, in every row of its table: each table's last
// column starts at one offset, across a failed location's error lines.
func TestReportTextAlignsLongNames(t *testing.T) {
	// One long name per table, each a key of its row.
	created := time.Date(2026, 12, 3, 18, 54, 33, 0, time.Local)
	node, workload, location, job := strings.Repeat("n", 50), strings.Repeat("w", 50), strings.Repeat("l", 50), strings.Repeat("j", 50)
	r := &Report{
		Cluster: ClusterReport{Name: "dagster-dev", Exists: true, Owned: true, Nodes: []NodeReport{
			{Name: "dagster-dev-control-plane", Role: "control-plane", State: "running", Image: "kind-node:v1"},
			{Name: node, Role: "worker", State: "running", Image: "kind-node:v1"}}},
		Workload: []WorkloadReport{{Kind: "Deployment", Name: "dagster-dagit", Ready: 1, Desired: 1}, {Kind: "StatefulSet", Name: workload, Ready: 0, Desired: 1}},
		Locations: []LocationReport{{Name: "user-code", Status: "loaded"}, {Name: "analytics", Status: "failed", Error: "SyntaxError\nline 17"},
			{Name: location, Status: "loading"}},
		Runs: []RunReport{{ID: "r1", Job: "etl", Status: dagit.RunFailure, Seconds: 12, Created: created},
			{ID: "r2", Job: job, Status: dagit.RunSuccess, Seconds: 3725, Created: created}},
	}
	lines := strings.Split(r.Text(), "\n")
	// column is where want starts in the line that contains key, in runes.
	column := func(key, want string) int {
		t.Helper()
		for _, l := range lines {
			if strings.Contains(l, key) {
				i := strings.Index(l, want)
				if i < 0 {
					t.Fatalf("line %q lacks %q", l, want)
				}
				return utf8.RuneCountInString(l[:i])
			}
		}
		t.Fatalf("no line has %q:\n%s", key, strings.Join(lines, "\n"))
		return 0
	}
	for _, c := range []struct{ short, long, shortAt, longAt string }{
		{"node dagster-dev-control-plane", node, "kind-node:v1", "kind-node:v1"},
		{"dagster-dagit", workload, "1/1", "0/1"},
		{"✓ user-code", location, "loaded", "loading"},
		{"✗ analytics", location, "failed", "loading"},
		{"etl", job, "FAILURE", "SUCCESS"},
		{"etl", job, "Dec 3 18:54:33", "Dec 3 18:54:33"},
	} {
		if a, b := column(c.short, c.shortAt), column(c.long, c.longAt); a != b || a <= 50 {
			t.Errorf("%q starts at %d, %q at %d (want one column after the long name):\n%s", c.shortAt, a, c.longAt, b, strings.Join(lines, "\n"))
		}
	}
	// Durations align on the right.
	if !strings.Contains(r.Text(), "FAILURE     12s  ") {
		t.Errorf("durations not right-aligned:\n%s", r.Text())
	}
}
