package dagit

import (
	"fmt"
	"strings"
)

// CodeLocationError is a code location that failed to load in Dagit: the
// user's Python raised on import. File is where the user edits it (on the
// host for a location mounted from a local directory), so an editor can
// open it.
type CodeLocationError struct {
	Location string
	File     string // "" when the traceback has no frame of the user's
	Line     int
	Message  string
	// Traceback is the Python error as Dagit reports it.
	Traceback string
	// Then is what to do once the code is fixed, for Fix; empty means run
	// `dagster-dev up` again.
	Then string
}

// NewCodeLocationError turns Dagit's load error into a CodeLocationError;
// hostFile maps a file of the code server's traceback to the user's file
// (nil keeps it as it is).
func NewCodeLocationError(e *LocationLoadError, hostFile func(podFile string) string) *CodeLocationError {
	out := &CodeLocationError{Location: e.Location, Message: e.Error(), Traceback: e.Err.Error()}
	// The headline without the "code location ... failed to load at ..."
	// prefix, which this error says itself.
	if i := strings.Index(out.Message, ": "); i >= 0 {
		out.Message = out.Message[i+2:]
	}
	if f, ok := e.Err.UserFrame(); ok {
		out.File, out.Line = f.File, f.Line
		if hostFile != nil {
			out.File = hostFile(f.File)
		}
	}
	return out
}

func (e *CodeLocationError) Error() string {
	return fmt.Sprintf("code location %q failed to load%s: %s", e.Location, e.At(), e.Message)
}

// At is " at file:line", or "" without a frame of the user's.
func (e *CodeLocationError) At() string {
	if e.File == "" {
		return ""
	}
	return fmt.Sprintf(" at %s:%d", e.File, e.Line)
}

// Fix says what to do about it.
func (e *CodeLocationError) Fix() string {
	then := e.Then
	if then == "" {
		then = "run `dagster-dev up` again (with `dagster-dev watch` running, saving the file reloads the location)"
	}
	if e.File != "" {
		return fmt.Sprintf("fix %s:%d, then %s", e.File, e.Line, then)
	}
	return "fix the import error in the location's code, then " + then
}

// Details is the Python traceback.
func (e *CodeLocationError) Details() string { return strings.TrimRight(e.Traceback, "\n") }
