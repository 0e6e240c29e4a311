package e2e

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/dagster-dev/dagster-dev/internal/dagit"
)

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
		"dagit restarting":    {&dagit.RequestError{Op: "launchRun", Temporary: true, Err: errors.New("connection refused")}, true},
		"bad query":           {&dagit.RequestError{Op: "launchRun", Err: errors.New("cannot query field")}, false},
		"job not found":       {&dagit.LaunchError{Typename: "PipelineNotFoundError", Message: "Could not find Pipeline"}, true},
		"user code reloading": {&dagit.LaunchError{Typename: "PythonError", Python: &dagit.PythonError{Message: "dagster._core.errors.DagsterUserCodeUnreachableError: Could not reach user code server. gRPC Error code: UNAVAILABLE"}}, true},
		"other python error":  {&dagit.LaunchError{Typename: "PythonError", Python: &dagit.PythonError{Message: "DagsterInvariantViolationError: no job_image"}}, false},
		"invalid config":      {&dagit.LaunchError{Typename: "RunConfigValidationInvalid", ConfigErrors: []string{"x"}}, false},
		"other":               {errors.New("boom"), false},
	}
	for name, tc := range tests {
		if got := retryableLaunch(tc.err); got != tc.want {
			t.Errorf("%s: retryableLaunch = %v, want %v", name, got, tc.want)
		}
	}
}

// The run config must match the probe op's config schema in the chart's
// example (chart/dagster/files/dagster_dev_example.py).
func TestProbeRunConfig(t *testing.T) {
	got, err := json.Marshal(probeRunConfig([]string{"A", "B"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"ops":{"probe":{"config":{"keys":["A","B"]}}}}`; string(got) != want {
		t.Errorf("probeRunConfig = %s, want %s", got, want)
	}
}
