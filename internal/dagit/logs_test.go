package dagit

import (
	"context"
	"strings"
	"testing"
)

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

func TestLogsAfterResumesFromTheCursorWithTimestamps(t *testing.T) {
	f, g := newFakeDagit(t)
	f.on("DagsterDevLogs",
		data(`{"logsForRun":{"__typename":"EventConnection","cursor":"c1","hasMore":false,"events":[
			{"__typename":"RunStartEvent","message":"Started.","level":"DEBUG","stepKey":null,"eventType":"RUN_START","timestamp":"1764756000123"}]}}`),
		data(`{"logsForRun":{"__typename":"EventConnection","cursor":"c1","hasMore":false,"events":[]}}`))
	evs, cur, err := g.LogsAfter(context.Background(), "r1", "")
	if err != nil || cur != "c1" || len(evs) != 1 {
		t.Fatalf("first read: %d events, cursor %q, %v", len(evs), cur, err)
	}
	if got := evs[0].Time.UnixMilli(); got != 1764756000123 {
		t.Errorf("time %d, want the event's milliseconds", got)
	}
	evs, cur, err = g.LogsAfter(context.Background(), "r1", cur)
	if err != nil || cur != "c1" || len(evs) != 0 {
		t.Fatalf("second read: %d events, cursor %q, %v", len(evs), cur, err)
	}
	if reqs := f.requests("DagsterDevLogs"); reqs[1].Variables["cursor"] != "c1" {
		t.Errorf("second read asked from %v, want c1", reqs[1].Variables["cursor"])
	}
}
