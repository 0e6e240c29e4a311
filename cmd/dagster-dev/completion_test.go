package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestCompletionAfterDoubleDashNeverRunsTheCommand(t *testing.T) {
	if !unsafeCompletion([]string{"dagster-dev", "down", "--", "", completionFlag}) {
		t.Error(`"down -- <TAB>" must be answered with nothing: urfave/cli would run down`)
	}
	if unsafeCompletion([]string{"dagster-dev", "status", "--", completionFlag}) {
		t.Error(`"status --<TAB>" completes a flag`)
	}
	if unsafeCompletion([]string{"dagster-dev", "down", "--"}) {
		t.Error("not a completion request")
	}
	got := completionArgs([]string{"dagster-dev", "status", "--", completionFlag})
	if !reflect.DeepEqual(got, []string{"dagster-dev", "status", "-", completionFlag}) {
		t.Errorf("completionArgs = %q", got)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		var out, errOut bytes.Buffer
		if code := run([]string{"dagster-dev", "completion", sh}, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", sh, code, errOut.String())
		}
		if !strings.Contains(out.String(), completionFlag) {
			t.Errorf("%s script does not ask dagster-dev for candidates:\n%s", sh, out.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"dagster-dev", "completion", "tcsh"}, &out, &errOut); code != exitUsage {
		t.Errorf("an unknown shell: exit %d, want %d", code, exitUsage)
	}
}

func TestFlagsMayFollowArguments(t *testing.T) {
	app := newApp(&bytes.Buffer{}, &bytes.Buffer{})
	cases := map[string]string{
		"dagster-dev logs dagit -f --since 5m daemon": "dagster-dev logs -f --since 5m -- dagit daemon",
		"dagster-dev logs --tail=3 dagit":             "dagster-dev logs --tail=3 -- dagit",
		"dagster-dev logs -c x.yaml dagit --run abc":  "dagster-dev logs -c x.yaml --run abc -- dagit",
		"dagster-dev logs -f -- -weird":               "dagster-dev logs -f -- -weird",
		"dagster-dev status --json":                   "dagster-dev status --json",
		"dagster-dev completion bash":                 "dagster-dev completion -- bash",
		"dagster-dev nosuch a -b":                     "dagster-dev nosuch a -b",
	}
	for in, want := range cases {
		if got := strings.Join(flagsFirst(app, strings.Fields(in)), " "); got != want {
			t.Errorf("%s\n got %s\nwant %s", in, got, want)
		}
	}
}
