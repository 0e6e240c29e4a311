package dagit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// script is a try that answers with its steps in order, the last repeating,
// and records the last answer it was given each time.
type script struct {
	steps []step
	calls int
	seen  []int
}

type step struct {
	v    int
	done bool
	err  error
	keep bool // return the last answer instead of v
}

func (s *script) try(ctx context.Context, last int) (int, bool, error) {
	s.seen = append(s.seen, last)
	st := s.steps[min(s.calls, len(s.steps)-1)]
	s.calls++
	if st.keep {
		return last, st.done, st.err
	}
	return st.v, st.done, st.err
}

var errRetry = errors.New("connection refused")

func noTimeout(t *testing.T) func(int, error) error {
	return func(last int, lastErr error) error {
		t.Errorf("timedOut(%d, %v) called", last, lastErr)
		return nil
	}
}

func TestPollUntilDone(t *testing.T) {
	s := &script{steps: []step{{v: 1}, {keep: true, err: errRetry}, {v: 2}, {v: 3, done: true}}}
	v, err := PollUntil(context.Background(), fastPoll, s.try, noTimeout(t))
	if v != 3 || err != nil || s.calls != 4 {
		t.Fatalf("PollUntil = %d, %v after %d tries", v, err, s.calls)
	}
	// Each try is given what the one before it kept.
	if fmt.Sprint(s.seen) != "[0 1 1 2]" {
		t.Errorf("last answers given to try: %v", s.seen)
	}
}

func TestPollUntilFinalError(t *testing.T) {
	final := errors.New("run not found")
	s := &script{steps: []step{{v: 1}, {keep: true, done: true, err: final}}}
	v, err := PollUntil(context.Background(), fastPoll, s.try, noTimeout(t))
	if v != 1 || !errors.Is(err, final) || s.calls != 2 {
		t.Fatalf("PollUntil = %d, %v after %d tries", v, err, s.calls)
	}
}

func TestPollUntilTimeoutCarriesTheLastFailure(t *testing.T) {
	p := Poll{Interval: time.Millisecond, Timeout: 30 * time.Millisecond}
	type call struct {
		last    int
		lastErr error
	}
	var got []call
	timedOut := func(last int, lastErr error) error {
		got = append(got, call{last, lastErr})
		return errors.New("timed out")
	}

	// A failure after an answer: the answer is kept, the failure reported.
	s := &script{steps: []step{{v: 7}, {keep: true, err: errRetry}}}
	v, err := PollUntil(context.Background(), p, s.try, timedOut)
	if v != 7 || err == nil || err.Error() != "timed out" {
		t.Fatalf("PollUntil = %d, %v", v, err)
	}
	// An answer after a failure clears it.
	s = &script{steps: []step{{keep: true, err: errRetry}, {v: 8}}}
	PollUntil(context.Background(), p, s.try, timedOut)
	if len(got) != 2 || got[0] != (call{7, errRetry}) || got[1] != (call{8, nil}) {
		t.Errorf("timedOut calls %+v", got)
	}
}

// A try cut short by the deadline is no answer: its error (caused by the
// deadline) does not replace the one before.
func TestPollUntilDropsATryTheDeadlineCut(t *testing.T) {
	calls := 0
	try := func(ctx context.Context, last int) (int, bool, error) {
		calls++
		if calls == 1 {
			return 1, false, errRetry
		}
		<-ctx.Done()
		return 99, false, ctx.Err()
	}
	var lastSeen int
	var lastErr error
	v, _ := PollUntil(context.Background(), Poll{Interval: time.Millisecond, Timeout: 30 * time.Millisecond}, try, func(last int, err error) error {
		lastSeen, lastErr = last, err
		return errors.New("timed out")
	})
	if v != 1 || lastSeen != 1 || lastErr != errRetry {
		t.Errorf("PollUntil = %d; timedOut(%d, %v)", v, lastSeen, lastErr)
	}
}

// Cancelled once two tries have answered (an answer, then a failure): the
// third try, cut short by the cancel, is dropped, and polling stops with the
// answer kept and context.Canceled, not a timeout.
func TestPollUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &script{steps: []step{{v: 5}, {keep: true, err: errRetry}, {v: 6}}}
	try := func(ctx context.Context, last int) (int, bool, error) {
		if s.calls == 2 {
			cancel()
		}
		return s.try(ctx, last)
	}
	v, err := PollUntil(ctx, Poll{Interval: time.Millisecond, Timeout: time.Hour}, try, noTimeout(t))
	if v != 5 || !errors.Is(err, context.Canceled) || s.calls != 3 {
		t.Fatalf("PollUntil = %d, %v after %d tries; want 5, context.Canceled after 3", v, err, s.calls)
	}
}

func TestParentDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	tctx, tcancel := context.WithTimeout(ctx, time.Hour)
	defer tcancel()
	cancel()
	if !ParentDone(tctx) {
		t.Error("a cancelled parent: ParentDone = false")
	}
	tctx, tcancel = context.WithTimeout(context.Background(), time.Nanosecond)
	defer tcancel()
	<-tctx.Done()
	if ParentDone(tctx) {
		t.Error("the own timeout: ParentDone = true")
	}
}
