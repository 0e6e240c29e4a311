// Package progress renders long work as a list of timed steps: a spinner
// line on a terminal, plain lines elsewhere (CI logs, pipes), so users always
// see what is being waited on and for how long.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// Steps is one command's step list.
type Steps struct {
	mu      sync.Mutex
	out     io.Writer
	tty     bool
	start   time.Time
	now     func() time.Time
	current *Step
	// quietFor is how long a plain-output step stays silent before it
	// repeats its latest detail, so CI logs show liveness without flooding.
	quietFor time.Duration
	// changedEvery is the least time between two plain lines for a changed
	// detail: details carry running seconds, so every update differs.
	changedEvery time.Duration
	// timings are the finished steps, in the order they finished.
	timings []Timing
}

// New writes to w; the spinner is used only when w is a terminal and CI is
// not set.
func New(w io.Writer) *Steps {
	return newSteps(w, IsTerminal(w), time.Now)
}

// IsTerminal reports whether output to w may redraw in place: a terminal,
// not under CI, not TERM=dumb.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) && os.Getenv("CI") == "" && os.Getenv("TERM") != "dumb"
}

func newSteps(w io.Writer, tty bool, now func() time.Time) *Steps {
	return &Steps{out: w, tty: tty, start: now(), now: now, quietFor: 30 * time.Second, changedEvery: 10 * time.Second}
}

// Elapsed is the time since the step list started.
func (s *Steps) Elapsed() time.Duration { return s.now().Sub(s.start) }

// Printf writes a plain line, clearing a spinner line first.
func (s *Steps) Printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clearLine()
	fmt.Fprintf(s.out, format+"\n", args...)
	s.redraw()
}

// Step is one unit of work on the list.
type Step struct {
	s        *Steps
	name     string
	detail   string
	start    time.Time
	lastLine time.Time
	printed  string
	done     bool
	stop     chan struct{}
}

// Start begins a step; the previous one, if still running, is left as is.
func (s *Steps) Start(name string) *Step {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &Step{s: s, name: name, start: s.now(), stop: make(chan struct{})}
	s.current = st
	if s.tty {
		s.redraw()
		go st.spin()
	} else {
		fmt.Fprintf(s.out, "… %s\n", name)
		st.lastLine = st.start
	}
	return st
}

// Update sets the step's live detail ("waiting for 3 workloads: ...").
func (st *Step) Update(format string, args ...any) {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.done {
		return
	}
	st.detail = fmt.Sprintf(format, args...)
	if s.tty {
		s.redraw()
		return
	}
	now := s.now()
	if (st.detail != st.printed && now.Sub(st.lastLine) >= s.changedEvery) || now.Sub(st.lastLine) >= s.quietFor {
		fmt.Fprintf(s.out, "  %s (%s)\n", st.detail, round(now.Sub(st.start)))
		st.lastLine = now
		st.printed = st.detail
	}
}

// Done ends the step successfully; note is optional ("reused", "3 images").
func (st *Step) Done(note string) time.Duration { return st.finish("✓", note) }

// Skip ends a step that had nothing to do.
func (st *Step) Skip(note string) time.Duration { return st.finish("-", note) }

// Fail ends the step as failed; the caller reports the error itself.
func (st *Step) Fail(note string) time.Duration { return st.finish("✗", note) }

func (st *Step) finish(mark, note string) time.Duration {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.now().Sub(st.start)
	if st.done {
		return d
	}
	st.done = true
	close(st.stop)
	s.timings = append(s.timings, Timing{Name: st.name, Start: st.start.Sub(s.start), Duration: d})
	s.clearLine()
	line := fmt.Sprintf("%s %-34s %7s", mark, st.name, round(d))
	if note != "" {
		line += "  " + note
	}
	fmt.Fprintln(s.out, strings.TrimRight(line, " "))
	if s.current == st {
		s.current = nil
	}
	return d
}

var frames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func (st *Step) spin() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-st.stop:
			return
		case <-t.C:
			st.s.mu.Lock()
			st.s.redraw()
			st.s.mu.Unlock()
		}
	}
}

// redraw paints the spinner line of the current step; callers hold mu.
func (s *Steps) redraw() {
	st := s.current
	if !s.tty || st == nil || st.done {
		return
	}
	frame := frames[int(s.now().Sub(st.start)/(100*time.Millisecond))%len(frames)]
	line := fmt.Sprintf("%s %s %s", frame, st.name, round(s.now().Sub(st.start)))
	if st.detail != "" {
		line += " — " + st.detail
	}
	const width = 120 // long details would wrap and break the \r redraw
	if r := []rune(line); len(r) > width {
		line = string(r[:width-1]) + "…"
	}
	fmt.Fprintf(s.out, "\r\033[K%s", line)
}

func (s *Steps) clearLine() {
	if s.tty && s.current != nil {
		fmt.Fprint(s.out, "\r\033[K")
	}
}

func round(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%.0fs", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}

// Round formats a duration the way step lines do.
func Round(d time.Duration) string { return round(d) }
