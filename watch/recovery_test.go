package watch

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dagster-dev/dagster-dev/internal/dagit"
)

func TestAPIRecovery(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	r := &apiRecovery{now: func() time.Time { return now }}
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "dagster-dev-watch", errors.New("cannot get resource"))
	unauthorized := apierrors.NewUnauthorized("token not yet known")

	if r.transient(forbidden) || r.transient(unauthorized) {
		t.Error("Forbidden/Unauthorized with no outage before must be final")
	}
	if !r.transient(io.EOF) {
		t.Fatal("an EOF is transient")
	}
	now = now.Add(30 * time.Second)
	if !r.transient(forbidden) || !r.transient(unauthorized) {
		t.Error("Forbidden/Unauthorized right after an outage are the API server starting")
	}
	now = now.Add(restartGrace)
	if r.transient(forbidden) {
		t.Error("Forbidden long after the outage must be final")
	}
	if r.transient(errors.New("bad value")) || r.transient(nil) {
		t.Error("other errors are final")
	}
}

// scriptedDoctor answers each Diagnose with the next of its answers and
// counts the calls.
type scriptedDoctor struct {
	mu      sync.Mutex
	answers []doctorAnswer
	calls   int
	done    chan struct{} // receives after each call
}

type doctorAnswer struct{ cause error }

func (d *scriptedDoctor) Diagnose(context.Context) error {
	d.mu.Lock()
	a := d.answers[min(d.calls, len(d.answers)-1)]
	d.calls++
	d.mu.Unlock()
	defer func() { d.done <- struct{}{} }()
	return a.cause
}

func TestAPIRecoveryDiagnosesALastingOutage(t *testing.T) {
	now := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
	full := errors.New("the disk is full: the node's writes (etcd, containers) failed on node dd-control-plane")
	doc := &scriptedDoctor{done: make(chan struct{}, 1), answers: []doctorAnswer{
		{cause: full}, {cause: full}, {}, {},
	}}
	rep := &recorder{}
	r := &apiRecovery{now: func() time.Time { return now }, doctor: doc, rep: rep}
	step := func(d time.Duration) { now = now.Add(d); r.transient(io.EOF) }
	// called reports whether the last step started a diagnosis, and then
	// waits until it has reported. Whether to diagnose is decided within
	// transient, under the lock: a diagnosis started by that step has set
	// looked to its time. No wait decides it, so a slow machine cannot.
	called := func() bool {
		t.Helper()
		r.mu.Lock()
		started := r.looked.Equal(now)
		r.mu.Unlock()
		if !started {
			return false
		}
		select {
		case <-doc.done:
		case <-time.After(10 * time.Second):
			t.Fatal("a diagnosis started but never called the doctor")
		}
		// diagnose reports after Diagnose returns: let it finish.
		waitUntil(t, "the diagnosis to report", func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			return !r.looking
		})
		return true
	}

	step(0)
	step(5 * time.Second)
	if called() {
		t.Fatal("diagnosed a 5 s blip")
	}
	step(6 * time.Second) // 11 s into the outage
	if !called() {
		t.Fatal("a 11 s outage was not diagnosed")
	}
	step(5 * time.Second)
	if called() {
		t.Fatal("diagnosed again 5 s later; want at most every 15 s")
	}
	step(11 * time.Second) // the same cause again: not repeated
	if !called() {
		t.Fatal("no second diagnosis after 16 s")
	}
	step(15 * time.Second) // the cause is gone
	if !called() {
		t.Fatal("no third diagnosis")
	}
	step(15 * time.Second)
	if !called() {
		t.Fatal("no fourth diagnosis")
	}
	infos, problems, _ := rep.snapshot()
	if len(problems) != 1 || problems[0] != full.Error() {
		t.Errorf("problems = %q, want the full disk once", problems)
	}
	want := []string{"no longer seen: " + full.Error() + "; waiting for the API server to answer"}
	if !slices.Equal(infos, want) {
		t.Errorf("infos = %q, want %q", infos, want)
	}

	// A new outage, long after: a blip again at first.
	step(10 * time.Minute)
	if called() {
		t.Error("diagnosed the first moment of a new outage")
	}
	doc.mu.Lock()
	defer doc.mu.Unlock()
	if doc.calls != 4 {
		t.Errorf("the doctor was called %d times, want 4", doc.calls)
	}
}

func TestAPIRecoveryDagitRestartIsNotAnAPIOutage(t *testing.T) {
	now := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
	r := &apiRecovery{now: func() time.Time { return now }}
	restarting := &dagit.RequestError{Temporary: true, Err: errors.New("connection refused")}
	if !r.transient(restarting) {
		t.Fatal("Dagit restarting is retried")
	}
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "env", errors.New("no rights"))
	if r.transient(forbidden) {
		t.Error("a Forbidden right after a Dagit hiccup must be final: the API server never went away")
	}
}
