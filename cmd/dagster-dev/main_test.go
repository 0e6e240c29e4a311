package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dagster-dev/dagster-dev/config"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"dagster-dev"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpForEveryCommand(t *testing.T) {
	for _, cmd := range []string{"init", "up", "down", "status", "values", "watch", "test", "version"} {
		code, out, _ := runCLI(t, cmd, "--help")
		if code != exitOK || !strings.Contains(out, "dagster-dev "+cmd) {
			t.Errorf("%s --help: code %d, output %q", cmd, code, out)
		}
	}
}

func TestVersionNamesTheChart(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	// The release and the commit (or why it is unknown) come first.
	if code != exitOK || !strings.Contains(out, "chart dagster") || !strings.Contains(out, "Dagster 1.") || !strings.Contains(out, "commit ") {
		t.Errorf("code %d, output %q", code, out)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	code, _, errOut := runCLI(t, "up", "--no-such-flag")
	if code != exitUsage {
		t.Errorf("unknown flag: code %d (%s)", code, errOut)
	}
}

func TestInvalidConfigExits2WithFileAndLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "dd.yaml")
	if err := os.WriteFile(p, []byte("cluster:\n  nodez: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"up", "down", "status", "watch", "test"} {
		code, _, errOut := runCLI(t, cmd, "--config", p)
		if code != exitUsage || !strings.Contains(errOut, "dd.yaml:2: cluster.nodez: unknown key") {
			t.Errorf("%s: code %d, stderr %q", cmd, code, errOut)
		}
	}
}

func TestMissingExplicitConfigExits2(t *testing.T) {
	code, _, errOut := runCLI(t, "status", "--config", filepath.Join(t.TempDir(), "absent.yaml"))
	if code != exitUsage || !strings.Contains(errOut, "dagster-dev init") {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}

func TestBadTimeoutFlag(t *testing.T) {
	t.Chdir(t.TempDir())
	code, _, errOut := runCLI(t, "up", "--timeout", "-1s")
	if code != exitUsage || !strings.Contains(errOut, "--timeout") {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}

func TestInitWritesALoadableStarterOnce(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	code, out, errOut := runCLI(t, "init")
	if code != exitOK || !strings.Contains(out, "wrote dagster-dev.yaml") {
		t.Fatalf("init: code %d, out %q, err %q", code, out, errOut)
	}
	if _, err := config.Load(""); err != nil {
		t.Fatalf("starter file does not load: %v", err)
	}
	code, _, errOut = runCLI(t, "init")
	if code != exitUsage || !strings.Contains(errOut, "--force") {
		t.Errorf("second init: code %d, stderr %q", code, errOut)
	}
	if code, _, _ = runCLI(t, "init", "--force"); code != exitOK {
		t.Errorf("init --force: code %d", code)
	}
}

func TestValuesPrintsWhatUpInstalls(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "dd.yaml")
	body := "values:\n  dagit:\n    env:\n      TEAM: data\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "values", "--config", p)
	if code != exitOK {
		t.Fatalf("code %d: %s", code, errOut)
	}
	for _, want := range []string{"TEAM: data", "nodePort: 30080", "type: NodePort"} {
		if !strings.Contains(out, want) {
			t.Errorf("values output lacks %q:\n%s", want, out)
		}
	}
}

func TestValuesRejectedBySchemaExit2(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "dd.yaml")
	if err := os.WriteFile(p, []byte("values:\n  imagePullPolicy: Sometimes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "values", "--config", p)
	if code != exitUsage || !strings.Contains(errOut, "imagePullPolicy") {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}

func TestUpRejectsBadValuesBeforeTouchingAnything(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "dd.yaml")
	// A cluster name no Docker has: if up got past input checks it would
	// fail differently (Docker or cluster errors).
	body := "cluster:\n  name: never-created\nvalues:\n  imagePullPolicy: Sometimes\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "up", "--config", p)
	if code != exitUsage || !strings.Contains(errOut, "imagePullPolicy") {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
	if strings.Contains(out, "preflight") {
		t.Errorf("up went on to preflight after bad input:\n%s", out)
	}
}

func TestBadTestPatternExits2(t *testing.T) {
	t.Chdir(t.TempDir())
	code, _, errOut := runCLI(t, "test", "--run", "no-such-case-anywhere")
	if code != exitUsage {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}
