package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Status says how a step reached its result; printed at the end of the step's line.
type Status string

const (
	Built    Status = "built"
	Cached   Status = "cached"
	Reloaded Status = "reloaded from cache"
	Done     Status = "done"
	Present  Status = "already in place"
)

// StepError is a failed step: which step, why, and what to do about it.
type StepError struct {
	Step string
	Err  error
	Hint string // what the user can do; may be empty
	Log  string // the step's log file; may be empty
}

func (e *StepError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %q failed: %v", e.Step, e.Err)
	if e.Log != "" {
		if tail := tailFile(e.Log, 25); tail != "" {
			fmt.Fprintf(&b, "\n--- last lines of %s ---\n%s", e.Log, tail)
		}
		fmt.Fprintf(&b, "\nfull log: %s", e.Log)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "\nwhat to do: %s", e.Hint)
	}
	return b.String()
}

func (e *StepError) Unwrap() error { return e.Err }

// hinted attaches advice to an error; the step runner copies it into the StepError.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

// withHint returns err annotated with what the user should do. nil stays nil.
func withHint(err error, hint string, args ...any) error {
	if err == nil {
		return nil
	}
	return &hinted{err: err, hint: fmt.Sprintf(hint, args...)}
}

// Runner runs named steps, prints one line per step (name, duration, status)
// and keeps each step's command output in its own log file.
type Runner struct {
	Out    io.Writer
	LogDir string
	now    func() time.Time
}

// Step is the context of one running step.
type Step struct {
	Name string
	Log  string // path of the step's log file
	log  *os.File
}

// Logf writes a line to the step's log.
func (s *Step) Logf(format string, args ...any) {
	fmt.Fprintf(s.log, format+"\n", args...)
}

// Writer is the step's log, for commands and copies.
func (s *Step) Writer() io.Writer { return s.log }

// Do runs fn as the step called name and prints its line. The returned error
// is a *StepError.
func (r *Runner) Do(name string, fn func(s *Step) (Status, error)) error {
	now := r.now
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(r.LogDir, 0o755); err != nil {
		return &StepError{Step: name, Err: err, Hint: "check that the cache directory is writable"}
	}
	logPath := filepath.Join(r.LogDir, logName(name)+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return &StepError{Step: name, Err: err, Hint: "check that the cache directory is writable"}
	}
	defer f.Close()
	s := &Step{Name: name, Log: logPath, log: f}
	start := now()
	fmt.Fprintf(f, "# %s started %s\n", name, start.Format(time.RFC3339))
	status, err := fn(s)
	d := now().Sub(start)
	if err != nil {
		fmt.Fprintf(r.Out, "FAIL %-48s %8s\n", name, FormatDuration(d))
		fmt.Fprintf(f, "# FAILED after %s: %v\n", FormatDuration(d), err)
		se := &StepError{Step: name, Err: err, Log: logPath}
		var h *hinted
		if errors.As(err, &h) {
			se.Hint = h.hint
		}
		return se
	}
	fmt.Fprintf(f, "# %s after %s\n", status, FormatDuration(d))
	fmt.Fprintf(r.Out, "ok   %-48s %8s  %s\n", name, FormatDuration(d), status)
	return nil
}

// FormatDuration prints d with 0.1 s resolution (e.g. "0.3s", "5m47.1s").
func FormatDuration(d time.Duration) string {
	d = d.Round(100 * time.Millisecond)
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	m := int(d / time.Minute)
	return fmt.Sprintf("%dm%04.1fs", m, (d - time.Duration(m)*time.Minute).Seconds())
}

func logName(step string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(step) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// Cmd is exec.CommandContext; the step's Run/Output add logging.
func Cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, name, args...)
}

// Run runs a command with stdout and stderr going to the step log. A failure
// names the command, its exit status, and the tail of its output.
func (s *Step) Run(cmd *exec.Cmd) error {
	_, err := s.run(cmd, false)
	return err
}

// Output runs a command and returns its stdout (stderr goes to the log).
func (s *Step) Output(cmd *exec.Cmd) (string, error) {
	return s.run(cmd, true)
}

func (s *Step) run(cmd *exec.Cmd, capture bool) (string, error) {
	line := strings.Join(cmd.Args, " ")
	fmt.Fprintf(s.log, "$ %s\n", line)
	var out bytes.Buffer
	var tail tailBuffer
	if capture {
		cmd.Stdout = &out
	} else {
		cmd.Stdout = io.MultiWriter(s.log, &tail)
	}
	cmd.Stderr = io.MultiWriter(s.log, &tail)
	start := time.Now()
	err := cmd.Run()
	fmt.Fprintf(s.log, "# (%s)\n", FormatDuration(time.Since(start)))
	if err != nil {
		msg := fmt.Sprintf("%s: %v", shorten(line, 300), err)
		if t := strings.TrimSpace(tail.String()); t != "" {
			msg += "\n" + t
		}
		return out.String(), errors.New(msg)
	}
	return out.String(), nil
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// tailBuffer keeps the last few lines written to it.
type tailBuffer struct{ buf []byte }

const tailBytes = 2048

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4*tailBytes {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-tailBytes:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	b := t.buf
	if len(b) > tailBytes {
		b = b[len(b)-tailBytes:]
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) > 12 {
		lines = lines[len(lines)-12:]
	}
	return strings.Join(lines, "\n")
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
