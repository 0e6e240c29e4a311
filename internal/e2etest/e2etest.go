// Package e2etest gates the end-to-end and integration tests: they create
// kind clusters, need Docker (most also root) and the images that
// e2e/offline/prepare builds, and take minutes, so they run only when
// DAGSTER_DEV_E2E=1 (always in CI). Only tests import this package.
package e2etest

import (
	"os"
	"testing"
)

// Env is the environment variable that enables the tests; "1" does.
const Env = "DAGSTER_DEV_E2E"

// Enabled reports whether DAGSTER_DEV_E2E=1.
func Enabled() bool { return os.Getenv(Env) == "1" }

// Require skips tb unless DAGSTER_DEV_E2E=1, saying how to run it.
func Require(tb testing.TB) {
	tb.Helper()
	if !Enabled() {
		tb.Skip("end-to-end test: set " + Env + "=1 to run it (needs Docker and the images of e2e/offline/prepare; most also need root)")
	}
}
