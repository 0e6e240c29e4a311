package e2e

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dagster-dev/dagster-dev/internal/readiness"
)

// fakeClock advances by step on every reading, so durations are exact.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time {
	c.t = c.t.Add(c.step)
	return c.t
}

func names(cs []testCase) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.name
	}
	return out
}

func TestSelectCases(t *testing.T) {
	all := (&suite{}).cases()
	tests := []struct {
		pattern string
		want    []string
	}{
		{"", []string{"health", "dagit", "code-location", "run", "env-precedence", "hot-reload", "persistence", "security", "broker", "code-reload", "code-error", "observe"}},
		{"run", []string{"run"}},
		{"^(health|broker)$", []string{"health", "broker"}},
		{"env|hot", []string{"env-precedence", "hot-reload"}},
		{"o", []string{"code-location", "hot-reload", "broker", "code-reload", "code-error", "observe"}},
		{"^code-", []string{"code-location", "code-reload", "code-error"}},
	}
	for _, tc := range tests {
		got, err := selectCases(all, tc.pattern)
		if err != nil {
			t.Errorf("%q: %v", tc.pattern, err)
			continue
		}
		if strings.Join(names(got), ",") != strings.Join(tc.want, ",") {
			t.Errorf("%q selected %v, want %v", tc.pattern, names(got), tc.want)
		}
	}
	for _, bad := range []string{"(", "nothing-matches"} {
		_, err := selectCases(all, bad)
		var pe *PatternError
		if !errors.As(err, &pe) {
			t.Errorf("%q: err = %v, want *PatternError", bad, err)
		}
	}
	if _, err := selectCases(all, "zzz"); err == nil || !strings.Contains(err.Error(), "cases: health, dagit,") {
		t.Errorf("no-match error should list the cases: %v", err)
	}
}

func TestCasesAreDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Cases() {
		if c.Doc == "" || seen[c.Name] {
			t.Errorf("case %q: empty doc or duplicate name", c.Name)
		}
		seen[c.Name] = true
	}
	// A needed case must run earlier, or skipping on its failure is moot.
	order := map[string]int{}
	for i, c := range (&suite{}).cases() {
		order[c.name] = i
		for _, n := range c.needs {
			if j, ok := order[n]; !ok || j >= i {
				t.Errorf("case %s needs %s, which does not run before it", c.name, n)
			}
		}
	}
}

func runCases(t *testing.T, cases []testCase, verbose bool) (*Report, string) {
	t.Helper()
	var out bytes.Buffer
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), step: 1500 * time.Millisecond}
	r := &runner{out: &out, verbose: verbose, now: clock.now, diagnose: func(context.Context) string { return "pod x: CrashLoopBackOff" }}
	rep := r.run(context.Background(), cases)
	return rep, out.String()
}

func TestRunnerOutputAndStatuses(t *testing.T) {
	var ran []string
	ok := func(name string) func(context.Context, *T) error {
		return func(context.Context, *T) error { ran = append(ran, name); return nil }
	}
	cases := []testCase{
		{name: "health", doc: "d", run: ok("health")},
		{name: "dagit", doc: "d", run: func(_ context.Context, t *T) error {
			ran = append(ran, "dagit")
			t.Diagnose("run r1 error events", "KeyError: 'A'")
			t.Diagnose("empty", "  \n")
			return errors.New("no answer from Dagit\nsecond line")
		}},
		{name: "code-location", doc: "d", needs: []string{"dagit"}, run: ok("code-location")},
		{name: "persistence", doc: "d", run: func(context.Context, *T) error {
			ran = append(ran, "persistence")
			return skipf("postgresql.enabled is false")
		}},
		{name: "broker", doc: "d", needs: []string{"not-selected"}, run: func(context.Context, *T) error { panic("boom") }},
	}
	rep, out := runCases(t, cases, false)
	if strings.Join(ran, ",") != "health,dagit,persistence" {
		t.Errorf("ran %v", ran)
	}
	p, f, s := rep.Counts()
	if p != 1 || f != 2 || s != 2 || !rep.Failed() {
		t.Errorf("counts %d/%d/%d", p, f, s)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	want := []string{
		"PASS  health           1.5s",
		"FAIL  dagit            1.5s  no answer from Dagit",
		"      second line",
		"      run r1 error events:",
		"        KeyError: 'A'",
		"      pod x: CrashLoopBackOff",
		"SKIP  code-location    0.0s  needs dagit, which did not pass",
		"SKIP  persistence      1.5s  postgresql.enabled is false",
		"FAIL  broker           1.5s  panic in case broker: boom",
		"      pod x: CrashLoopBackOff",
		"1 passed, 2 failed, 2 skipped",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("output:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
	// The summary is alone on the last line, in the exact fixed form.
	if !regexp.MustCompile(`^\d+ passed, \d+ failed(, \d+ skipped)?$`).MatchString(lines[len(lines)-1]) {
		t.Errorf("last line %q is not the summary", lines[len(lines)-1])
	}
	if rep.Results[1].Details == "" || !strings.Contains(rep.Results[1].Details, "KeyError") {
		t.Errorf("details not kept: %q", rep.Results[1].Details)
	}
	if rep.Results[0].Details != "" {
		t.Errorf("a passing case has details: %q", rep.Results[0].Details)
	}
}

func TestRunnerRolloutEvidenceFirst(t *testing.T) {
	fe := &readiness.FailureError{Kind: readiness.KindCrashLoop, WorkloadKind: "Deployment", Name: "dagster-dagit", Namespace: "dagster",
		Pod: "dagster-dagit-1", Container: "dagit", Reason: "CrashLoopBackOff", Logs: "Traceback: boom\n"}
	cases := []testCase{{name: "env-precedence", doc: "d", run: func(context.Context, *T) error { return errors.Join(errors.New("upgrading"), fe) }}}
	rep, _ := runCases(t, cases, false)
	d := rep.Results[0].Details
	if !strings.HasPrefix(d, "Last log lines of pod dagster-dagit-1") || !strings.Contains(d, "Traceback: boom") {
		t.Errorf("details %q", d)
	}
}

func TestRunnerSummaryWithoutSkips(t *testing.T) {
	rep, out := runCases(t, []testCase{{name: "a", doc: "d", run: func(context.Context, *T) error { return nil }}}, false)
	if !strings.HasSuffix(out, "\n1 passed, 0 failed\n") || rep.Failed() {
		t.Errorf("output %q", out)
	}
}

func TestRunnerVerbose(t *testing.T) {
	_, out := runCases(t, []testCase{{name: "run", doc: "a run succeeds", run: func(_ context.Context, t *T) error {
		t.Logf("launched run %s", "r1")
		return nil
	}}}, true)
	want := "=== RUN   run: a run succeeds\n      launched run r1\nPASS  run    1.5s\n1 passed, 0 failed\n"
	if out != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

func TestRunnerStopsWhenInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cases := []testCase{
		{name: "a", doc: "d", run: func(ctx context.Context, _ *T) error { cancel(); return ctx.Err() }},
		{name: "b", doc: "d", run: func(context.Context, *T) error { t.Error("b ran after the interrupt"); return nil }},
	}
	diagnosed := false
	var out bytes.Buffer
	rep := (&runner{out: &out, diagnose: func(context.Context) string { diagnosed = true; return "" }}).run(ctx, cases)
	if len(rep.Results) != 1 || rep.Results[0].Status != Fail || !strings.HasPrefix(rep.Results[0].Message, "interrupted: ") {
		t.Errorf("results %+v", rep.Results)
	}
	if diagnosed {
		t.Error("diagnostics gathered after an interrupt")
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0.0s", 440 * time.Millisecond: "0.4s", 12340 * time.Millisecond: "12.3s",
		119 * time.Second: "119.0s", 125 * time.Second: "2m05s", 61*time.Minute + 1500*time.Millisecond: "61m02s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

// --- JUnit

func sampleReport() *Report {
	return &Report{
		Started:   time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Duration:  95 * time.Second,
		Context:   "kind-dagster-dev",
		Namespace: "dagster",
		Results: []Result{
			{Name: "health", Doc: "workloads healthy", Status: Pass, Duration: 1200 * time.Millisecond},
			{Name: "run", Doc: "a run", Status: Fail, Duration: 61 * time.Second, Message: "run r1 finished FAILURE\nmore", Details: "events:\n  KeyError <'A'> & \x1b[31mred\x1b[0m"},
			{Name: "broker", Doc: "broker", Status: Skip, Message: "rabbitmq.enabled is false"},
		},
	}
}

type parsedJUnit struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Suites   []struct {
		Name       string `xml:"name,attr"`
		Tests      int    `xml:"tests,attr"`
		Failures   int    `xml:"failures,attr"`
		Skipped    int    `xml:"skipped,attr"`
		Time       string `xml:"time,attr"`
		Timestamp  string `xml:"timestamp,attr"`
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name    string `xml:"name,attr"`
			Class   string `xml:"classname,attr"`
			Time    string `xml:"time,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Body    string `xml:",chardata"`
			} `xml:"failure"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestJUnitParsesBack(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().WriteJUnit(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Errorf("no XML header: %q", buf.String()[:40])
	}
	var got parsedJUnit
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("unparseable JUnit: %v\n%s", err, buf.String())
	}
	if got.Tests != 3 || got.Failures != 1 || got.Skipped != 1 || len(got.Suites) != 1 {
		t.Fatalf("totals %+v", got)
	}
	s := got.Suites[0]
	if s.Name != "dagster-dev" || s.Tests != 3 || s.Failures != 1 || s.Skipped != 1 || s.Time != "95.000" || s.Timestamp != "2026-01-02T03:04:05" {
		t.Errorf("suite %+v", s)
	}
	if len(s.Properties) != 2 || s.Properties[0].Value != "kind-dagster-dev" || s.Properties[1].Value != "dagster" {
		t.Errorf("properties %+v", s.Properties)
	}
	if len(s.Cases) != 3 {
		t.Fatalf("%d cases", len(s.Cases))
	}
	if c := s.Cases[0]; c.Name != "health" || c.Class != "dagster-dev" || c.Time != "1.200" || c.Failure != nil || c.Skipped != nil {
		t.Errorf("pass case %+v", c)
	}
	c := s.Cases[1]
	if c.Failure == nil || c.Failure.Message != "run r1 finished FAILURE" {
		t.Fatalf("failure %+v", c.Failure)
	}
	// Escaped and control-character free, with the details after the message.
	if want := "run r1 finished FAILURE\nmore\n\nevents:\n  KeyError <'A'> & [31mred[0m"; c.Failure.Body != want {
		t.Errorf("failure body %q, want %q", c.Failure.Body, want)
	}
	if c := s.Cases[2]; c.Skipped == nil || c.Skipped.Message != "rabbitmq.enabled is false" || c.Failure != nil {
		t.Errorf("skip case %+v", c)
	}
}

func TestWriteJUnitFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reports", "e2e.xml")
	if err := sampleReport().WriteJUnitFile(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got parsedJUnit
	if err := xml.Unmarshal(data, &got); err != nil || got.Tests != 3 {
		t.Fatalf("%v %+v", err, got)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	// A path that cannot be written is an error, not a silent success.
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o644)
	if err := sampleReport().WriteJUnitFile(filepath.Join(blocker, "x.xml")); err == nil {
		t.Error("writing below a regular file succeeded")
	}
}

func TestSummary(t *testing.T) {
	r := &Report{Results: []Result{{Status: Pass}, {Status: Pass}, {Status: Fail}}}
	if got := r.Summary(); got != "2 passed, 1 failed" {
		t.Errorf("Summary = %q", got)
	}
	r.Results = append(r.Results, Result{Status: Skip})
	if got := r.Summary(); got != "2 passed, 1 failed, 1 skipped" {
		t.Errorf("Summary = %q", got)
	}
	if (&Report{}).Failed() || (&Report{}).Summary() != "0 passed, 0 failed" {
		t.Error("empty report")
	}
}
