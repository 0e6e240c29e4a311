package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/e2e"
	"github.com/dagster-dev/dagster-dev/stack"
)

// Errors that know more than their message implement these. Error() is only
// the headline (the message chain); the remedy and the evidence travel
// separately so that one place, report, lays them out.
type (
	// fixer says what the user can do about the failure.
	fixer interface{ Fix() string }
	// detailer carries evidence: Kubernetes events, container logs.
	detailer interface{ Details() string }
)

// report is the CLI's one error renderer: every command's failure reaches
// the user through it (run calls it with whatever the command returned). It
// writes to w, in this order:
//
//	error: <err.Error()>            the headline, once; may span lines
//	fix: <Fix()>                    each distinct remedy in err's tree, once
//	<Details()>                     each distinct piece of evidence, once
//
// Errors joined with errors.Join (several missing images, say) each bring
// their own remedy; an error that answers Fix() or Details() speaks for the
// errors it wraps. An interrupt (context.Canceled in the chain) is the single
// line "interrupted". report returns exitCode(err); nil writes nothing and
// returns exitOK.
func report(w io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if code == exitInterrupted {
		fmt.Fprintln(w, "interrupted")
		return code
	}
	fmt.Fprintf(w, "error: %s\n", strings.TrimRight(err.Error(), "\n"))
	for _, fix := range collect(err, func(e error) string {
		if f, ok := e.(fixer); ok {
			return strings.TrimSpace(f.Fix())
		}
		return ""
	}) {
		fmt.Fprintf(w, "fix: %s\n", fix)
	}
	for _, d := range collect(err, func(e error) string {
		if d, ok := e.(detailer); ok && strings.TrimSpace(d.Details()) != "" {
			return strings.TrimRight(d.Details(), "\n")
		}
		return ""
	}) {
		fmt.Fprintln(w, d)
	}
	return code
}

// collect walks err's tree depth first (the order errors.As searches) and
// returns the distinct non-empty texts get finds, not descending below an
// error that gave one.
func collect(err error, get func(error) string) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if s := get(e); s != "" {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}

// exitCode maps a failure to the exit codes documented in the README.
func exitCode(err error) int {
	var ee *exitError
	var ce config.Errors
	var ie *stack.InputError
	var pe *e2e.PatternError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ce), errors.As(err, &ie), errors.As(err, &pe):
		return exitUsage
	case isUsageError(err):
		return exitUsage
	}
	return exitFailure
}

// isUsageError recognises urfave/cli's own complaints about flags and
// commands, which it returns as plain errors.
func isUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"flag provided but not defined", "Required flag", "invalid value", "No help topic", "flag needs an argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
