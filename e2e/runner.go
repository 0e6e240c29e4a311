package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/dagster-dev/dagster-dev/internal/readiness"
	"github.com/dagster-dev/dagster-dev/internal/text"
)

// testCase is one entry of the suite.
type testCase struct {
	name string
	doc  string
	// needs names earlier cases whose failure makes this one meaningless
	// (no Dagit, no run to look for): the case is then skipped instead of
	// failing again after a long timeout. A needed case that was filtered
	// out by --run does not count: the case runs and finds out itself.
	needs []string
	run   func(ctx context.Context, t *T) error
}

// T is what a running case reports through besides its error.
type T struct {
	name    string
	out     io.Writer // progress notes; io.Discard unless verbose
	mu      sync.Mutex
	details []string
}

// Logf prints a progress note (only with Verbose).
func (t *T) Logf(format string, args ...any) {
	fmt.Fprintf(t.out, "      %s\n", fmt.Sprintf(format, args...))
}

// Diagnose attaches evidence that explains a failure (the run's error
// events, a pod's log). It is reported only if the case fails.
func (t *T) Diagnose(title, body string) {
	body = strings.TrimRight(body, "\n")
	if strings.TrimSpace(body) == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.details = append(t.details, title+":\n"+text.Indent(body, "  "))
}

// skipError makes a case SKIP instead of FAIL.
type skipError struct{ reason string }

func (e *skipError) Error() string { return "skipped: " + e.reason }

// skipf returns an error that marks the case as skipped.
func skipf(format string, args ...any) error {
	return &skipError{reason: fmt.Sprintf(format, args...)}
}

// PatternError is an unusable --run pattern: not a valid regular
// expression, or matching no case. The CLI reports it as a usage error.
type PatternError struct {
	Pattern string
	Err     error
}

func (e *PatternError) Error() string {
	return fmt.Sprintf("--run %q: %v", e.Pattern, e.Err)
}
func (e *PatternError) Unwrap() error { return e.Err }

// selectCases keeps the cases whose name matches pattern (a Go regexp,
// unanchored like `go test -run`); an empty pattern keeps all.
func selectCases(cases []testCase, pattern string) ([]testCase, error) {
	if pattern == "" {
		return cases, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, &PatternError{Pattern: pattern, Err: err}
	}
	var out []testCase
	for _, c := range cases {
		if re.MatchString(c.name) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		names := make([]string, len(cases))
		for i, c := range cases {
			names[i] = c.name
		}
		return nil, &PatternError{Pattern: pattern, Err: fmt.Errorf("matches no case (cases: %s)", strings.Join(names, ", "))}
	}
	return out, nil
}

// runner executes cases in order and prints one line per case.
type runner struct {
	out     io.Writer
	verbose bool
	now     func() time.Time
	// diagnose gathers cluster-wide evidence for a failed case (events,
	// pods that are not ready and their logs). It may be nil.
	diagnose func(ctx context.Context) string
}

func (r *runner) run(ctx context.Context, cases []testCase) *Report {
	if r.now == nil {
		r.now = time.Now
	}
	width := 0
	for _, c := range cases {
		width = max(width, len(c.name))
	}
	rep := &Report{Started: r.now()}
	status := map[string]Status{}
	for _, c := range cases {
		if ctx.Err() != nil {
			// Interrupted: the remaining cases are not reported at all
			// rather than as failures they did not have.
			break
		}
		res := r.runOne(ctx, c, status)
		status[c.name] = res.Status
		rep.Results = append(rep.Results, res)
		fmt.Fprintln(r.out, resultLine(res, width))
		if res.Status == Fail {
			if body := failureBody(res); body != "" {
				fmt.Fprintln(r.out, body)
			}
		}
	}
	rep.Duration = r.now().Sub(rep.Started)
	fmt.Fprintln(r.out, rep.Summary())
	return rep
}

func (r *runner) runOne(ctx context.Context, c testCase, status map[string]Status) (res Result) {
	res = Result{Name: c.name, Doc: c.doc}
	for _, n := range c.needs {
		if st, ran := status[n]; ran && st != Pass {
			res.Status = Skip
			res.Message = fmt.Sprintf("needs %s, which did not pass", n)
			return res
		}
	}
	progress := io.Discard
	if r.verbose {
		progress = r.out
		fmt.Fprintf(r.out, "=== RUN   %s: %s\n", c.name, c.doc)
	}
	t := &T{name: c.name, out: progress}
	start := r.now()
	err := runProtected(ctx, c, t)
	res.Duration = r.now().Sub(start)
	var skip *skipError
	switch {
	case err == nil:
		res.Status = Pass
	case errors.As(err, &skip):
		res.Status = Skip
		res.Message = skip.reason
	default:
		res.Status = Fail
		res.Message = err.Error()
		var fixable interface{ Fix() string }
		if errors.As(err, &fixable) && fixable.Fix() != "" {
			res.Message += "\nfix: " + fixable.Fix()
		}
		if ctx.Err() != nil {
			res.Message = "interrupted: " + res.Message
		}
		details := t.details
		// A rollout failure carries its own evidence (events, the failing
		// container's log); show it first.
		var fe *readiness.FailureError
		if errors.As(err, &fe) {
			if d := fe.Details(); d != "" {
				details = append([]string{d}, details...)
			}
		}
		if r.diagnose != nil && ctx.Err() == nil {
			// The case's own context may be spent; evidence is gathered on
			// a fresh, bounded one.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if d := r.diagnose(dctx); d != "" {
				details = append(details, d)
			}
			cancel()
		}
		res.Details = strings.Join(details, "\n")
	}
	return res
}

// runProtected turns a panic in a case into its failure, so one bug does
// not take the whole suite and its cleanup down with it.
func runProtected(ctx context.Context, c testCase, t *T) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in case %s: %v", c.name, p)
		}
	}()
	return c.run(ctx, t)
}
