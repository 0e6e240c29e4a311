package dagit

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/util/wait"
)

// PollUntil is the wait loop of every Wait method: it calls try at once and
// then every p.Every() until try says it is done, for up to p.Timeout.
//
// try gets the answer it returned last (the zero T before the first) and
// returns the one to keep, whether the wait is over, and an error:
//
//	v, true, nil    done: PollUntil returns v, nil
//	v, true, err    a failure no retry fixes: PollUntil returns v, err
//	v, false, nil   not yet: v is kept and no failure is pending
//	v, false, err   a failure a retry may fix (Dagit restarting): v is kept
//	                and err is remembered as the last failure
//
// A try that ends because the wait's context ended (the caller's or the
// timeout) is no answer: what it returned is dropped, since an error the
// deadline itself caused says nothing new.
//
// When the caller's ctx is cancelled, PollUntil returns the last answer and
// ctx.Err(). When p.Timeout passes it returns the last answer and
// timedOut(last, lastErr), lastErr being nil when the last try that
// answered did not fail; timedOut is where a caller words "not ready after
// p.Timeout" with what it saw last.
func PollUntil[T any](ctx context.Context, p Poll, try func(ctx context.Context, last T) (T, bool, error), timedOut func(last T, lastErr error) error) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	var last T
	var lastErr, final error
	err := wait.PollUntilContextCancel(ctx, p.Every(), true, func(ctx context.Context) (bool, error) {
		v, done, err := try(ctx, last)
		if ctx.Err() != nil {
			// The deadline or the caller cut the try short: the loop
			// ends on the next check, reported below.
			return false, nil
		}
		last = v
		if done {
			final = err
			return true, nil
		}
		lastErr = err
		return false, nil
	})
	if err == nil {
		return last, final
	}
	if ParentDone(ctx) {
		return last, ctx.Err()
	}
	return last, timedOut(last, lastErr)
}

// ParentDone tells, for a context that ended, "the caller gave up" (Ctrl-C,
// a cancelled parent) from "our own timeout fired": only the latter is
// worth a message of its own. ctx is the context with the timeout.
func ParentDone(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), context.Canceled)
}
