package cluster

import (
	"errors"
	"strings"
	"testing"
)

// shown is what a user reads for err: the headline and every remedy found
// in its chain (the CLI prints Fix() below the headline).
func shown(err error) string {
	parts := []string{err.Error()}
	var walk func(error)
	walk = func(e error) {
		if f, ok := e.(FixableError); ok {
			parts = append(parts, "fix: "+f.Fix())
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if w := u.Unwrap(); w != nil {
				walk(w)
			}
		case interface{ Unwrap() []error }:
			for _, w := range u.Unwrap() {
				walk(w)
			}
		}
	}
	walk(err)
	return strings.Join(parts, "\n")
}

// Error() is the headline only: the remedy is Fix(), printed once by the CLI.
func TestErrorsKeepTheFixOutOfTheHeadline(t *testing.T) {
	for _, e := range []FixableError{
		&DockerUnreachableError{Err: errors.New("x")},
		&DockerCLIMissingError{Err: errors.New("x")},
		&PortInUseError{Port: 3000, Err: errors.New("x")},
		&InotifyLimitError{Low: []InotifySetting{{Name: "fs.inotify.max_user_watches", Have: 1, Want: 2}}},
		&MissingImageError{Image: "a:1", Err: errors.New("x")},
		&NotOwnedError{Cluster: "dd"},
		&NotReadyError{Cluster: "dd", Detail: "node", Err: errors.New("x")},
		&DriftError{Cluster: "dd", Owned: true, Differences: []Difference{{Field: "nodes", Want: "1", Have: "2"}}},
	} {
		if e.Fix() == "" {
			t.Errorf("%T: empty Fix()", e)
		}
		if strings.Contains(e.Error(), "fix:") || strings.Contains(e.Error(), e.Fix()) {
			t.Errorf("%T: Error() repeats the fix: %q", e, e.Error())
		}
	}
}
