// Package buildinfo says which dagster-dev a binary is: the release it was built as (set with
// -ldflags "-X ...buildinfo.Release=v1.2.3") and the commit it was built from, which the Go
// toolchain stamps into binaries built in a git checkout (runtime/debug.BuildInfo, vcs.*).
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Release is set at build time for released binaries; "dev" otherwise.
var Release = "dev"

// Info is what a binary knows about its build.
type Info struct {
	Release   string // Release, or the module version `go install module@version` recorded
	Commit    string // full commit hash; empty when the build had no VCS stamp
	Time      string // commit time (RFC 3339); empty without a stamp
	Modified  bool   // the working tree had uncommitted changes
	GoVersion string
}

// Read returns the running binary's Info.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(Release, bi)
}

func fromBuildInfo(release string, bi *debug.BuildInfo) Info {
	info := Info{Release: release}
	if bi == nil {
		return info
	}
	info.GoVersion = bi.GoVersion
	if info.Release == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Release = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is one line: "v1.2.3 (commit 0123abcd4567, 2026-12-03T15:00:00Z, modified, go1.26.8)".
func (i Info) String() string {
	var parts []string
	switch {
	case i.Commit != "":
		c := i.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		parts = append(parts, "commit "+c)
		if i.Time != "" {
			parts = append(parts, i.Time)
		}
		if i.Modified {
			parts = append(parts, "modified")
		}
	default:
		parts = append(parts, "commit unknown: built without VCS information (go build -buildvcs=false or outside a git checkout)")
	}
	if i.GoVersion != "" {
		parts = append(parts, i.GoVersion)
	}
	return fmt.Sprintf("%s (%s)", i.Release, strings.Join(parts, ", "))
}
