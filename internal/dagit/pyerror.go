package dagit

import (
	"regexp"
	"strconv"
	"strings"
)

// PythonError is Dagster's report of an exception on the server side.
type PythonError struct {
	Message   string `json:"message"`
	ClassName string `json:"className"`
	// Stack is the formatted traceback, outermost frame first: one entry
	// per frame, `  File "/path/x.py", line 12, in f\n    code\n`.
	Stack []string     `json:"stack"`
	Cause *PythonError `json:"cause"`
	// Chain is the exception's causes and contexts, outermost first (the
	// last one is the exception that started it all). Only the location
	// queries ask for it.
	Chain []ChainLink `json:"errorChain"`
}

// ChainLink is one entry of PythonError.Chain.
type ChainLink struct {
	// Explicit is true for `raise ... from err` (__cause__), false for an
	// exception raised while handling another (__context__).
	Explicit bool        `json:"isExplicitLink"`
	Error    PythonError `json:"error"`
}

func (e *PythonError) Error() string {
	if e == nil {
		return "<nil>"
	}
	msg := strings.TrimSpace(e.Message)
	if len(e.Stack) > 0 {
		msg += "\n" + strings.TrimRight(strings.Join(e.Stack, ""), "\n")
	}
	if e.Cause != nil {
		msg += "\ncaused by: " + e.Cause.Error()
	} else {
		for i := range e.Chain {
			msg += "\ncaused by: " + e.Chain[i].Error.errorNoChain()
		}
	}
	return msg
}

func (e *PythonError) errorNoChain() string {
	c := *e
	c.Chain = nil
	return c.Error()
}

// Frame is one location in a Python traceback.
type Frame struct {
	File string
	Line int
	// Func is the function name ("<module>" at import time); empty for the
	// location a SyntaxError reports, which is not a call frame.
	Func string
}

func (f Frame) String() string { return f.File + ":" + strconv.Itoa(f.Line) }

// frameLine matches a traceback frame (`File "x.py", line 12, in f`) and
// the location line of a SyntaxError (`File "x.py", line 12`).
var frameLine = regexp.MustCompile(`(?m)^\s*File "([^"]+)", line (\d+)(?:, in (.+?))?\s*$`)

func parseFrames(text string) []Frame {
	var out []Frame
	for _, m := range frameLine.FindAllStringSubmatch(text, -1) {
		n, err := strconv.Atoi(m[2])
		if err != nil {
			continue
		}
		out = append(out, Frame{File: m[1], Line: n, Func: m[3]})
	}
	return out
}

// Frames lists the error's frames in the order they happened: its own
// stack, then the locations its message names (a SyntaxError's, or a
// remote traceback a wrapper quotes), then the same for each error of its
// chain (and Cause), from the wrapper down to the original exception. The
// last frame is the innermost.
func (e *PythonError) Frames() []Frame {
	if e == nil {
		return nil
	}
	own := func(p *PythonError) []Frame {
		return append(parseFrames(strings.Join(p.Stack, "")), parseFrames(p.Message)...)
	}
	frames := own(e)
	if len(e.Chain) > 0 {
		for i := range e.Chain {
			frames = append(frames, own(&e.Chain[i].Error)...)
		}
	} else {
		for c := e.Cause; c != nil; c = c.Cause {
			frames = append(frames, own(c)...)
		}
	}
	return frames
}

// UserFrame is the innermost frame of the user's own code: the file:line
// to show for a code location that failed to load. Frames in installed
// packages (site-packages, dist-packages), the Python standard library,
// Dagster's internals and importlib's frozen modules are passed over; when
// there is no other frame, the innermost frame of any kind is returned.
// ok is false when the error names no location at all.
func (e *PythonError) UserFrame() (f Frame, ok bool) {
	frames := e.Frames()
	for i := len(frames) - 1; i >= 0; i-- {
		if !frames[i].Internal() {
			return frames[i], true
		}
	}
	if len(frames) == 0 {
		return Frame{}, false
	}
	return frames[len(frames)-1], true
}

// stdlib matches the standard library's directory: /usr/lib/python3.12/,
// /usr/local/lib/python3.12/, a virtualenv's lib/python3.12/.
var stdlib = regexp.MustCompile(`(^|/)lib/python\d+(\.\d+)?/`)

// Internal reports whether the frame is not in the user's code: an
// installed package, the standard library, Dagster itself or a frozen or
// generated module (`<frozen importlib._bootstrap>`, `<string>`).
func (f Frame) Internal() bool {
	p := strings.ReplaceAll(f.File, `\`, "/")
	switch {
	case strings.HasPrefix(p, "<"):
		return true
	case strings.Contains(p, "/site-packages/"), strings.Contains(p, "/dist-packages/"):
		return true
	case stdlib.MatchString(p):
		return true
	}
	// A Dagster checkout or editable install: dagster/_core/..., and the
	// integration libraries (dagster_k8s/, dagster_celery/, ...) under
	// python_modules/.
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if s == "python_modules" {
			return true
		}
		if s == "dagster" && i+1 < len(segs)-1 && strings.HasPrefix(segs[i+1], "_") {
			return true
		}
	}
	return false
}
