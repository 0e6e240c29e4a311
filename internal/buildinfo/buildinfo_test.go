package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-03T15:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	if got := fromBuildInfo("dev", stamped).String(); got != "dev (commit 0123456789ab, 2026-12-03T15:00:00Z, modified, go1.26.8)" {
		t.Errorf("stamped dev build: %s", got)
	}
	if got := fromBuildInfo("v0.3.0", stamped).Release; got != "v0.3.0" {
		t.Errorf("release from ldflags: %s", got)
	}
	installed := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.2.1"}}
	if got := fromBuildInfo("dev", installed).String(); !strings.HasPrefix(got, "v0.2.1 (commit unknown") {
		t.Errorf("go install module@version: %s", got)
	}
	if got := fromBuildInfo("dev", nil).String(); !strings.HasPrefix(got, "dev (commit unknown") {
		t.Errorf("no build info: %s", got)
	}
	// The test binary itself: whatever it is, it names a release and a Go version.
	if got := Read(); got.Release == "" || (got.GoVersion == "" && got.Commit != "") {
		t.Errorf("Read() = %+v", got)
	}
}
