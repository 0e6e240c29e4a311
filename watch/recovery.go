package watch

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/text"
)

// restartGrace is how long after the API server was last unreachable a
// refusal is taken for its start-up rather than for the user's rights.
const restartGrace = 2 * time.Minute

// Doctor looks at the cluster from outside its API server while the
// server does not answer: on kind, a full disk, which crashes etcd.
type Doctor interface {
	// Diagnose returns the cause of the outage with its fix (e.g. a full
	// disk); nil when it sees nothing wrong.
	Diagnose(ctx context.Context) error
}

// Outage diagnosis: not for a blip (the first doctorAfter of an outage),
// and not more often than doctorEvery, since each look runs commands in
// the nodes.
const (
	doctorAfter   = 10 * time.Second
	doctorEvery   = 15 * time.Second
	doctorTimeout = 30 * time.Second
	// outageGap: an unreachable API server seen again after this long is a
	// new outage.
	outageGap = 30 * time.Second
)

// apiRecovery classifies errors worth retrying. Besides what is transient
// by nature (unreachable, timeouts, 5xx, 429), an API server that has just
// come back refuses requests with Forbidden or Unauthorized until its
// authorizer and authenticator have synced (seen: the watch lease renewal
// refused for "kubernetes-admin" seconds after a restart, which ended
// watch). So for restartGrace after the server was last unreachable, those
// are retried too; otherwise they mean what they say.
//
// With a Doctor, an outage that lasts is also explained: its cause is
// reported once (and again when it changes), and so is its end.
type apiRecovery struct {
	mu          sync.Mutex
	unreachable time.Time
	now         func() time.Time

	doctor    Doctor
	rep       Reporter
	outage    time.Time // start of the current outage
	looked    time.Time // last diagnosis started
	looking   bool
	lastCause string // cause last reported; "" when none
}

func newAPIRecovery() *apiRecovery { return &apiRecovery{now: time.Now} }

// transient reports whether err should be retried.
func (r *apiRecovery) transient(err error) bool {
	if err == nil {
		return false
	}
	if dagit.IsTemporary(err) {
		// Dagit restarting says nothing about the API server.
		return true
	}
	if kube.Transient(err) {
		r.mu.Lock()
		now := r.now()
		if r.outage.IsZero() || now.Sub(r.unreachable) > outageGap {
			r.outage = now
		}
		if timedOut(err) {
			// The request already waited (the API server gives up on
			// etcd after 60 s): the outage is not a blip.
			if early := now.Add(-doctorAfter); r.outage.After(early) {
				r.outage = early
			}
		}
		r.unreachable = now
		r.maybeDiagnose(now)
		r.mu.Unlock()
		return true
	}
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return !r.unreachable.IsZero() && r.now().Sub(r.unreachable) < restartGrace
	}
	return false
}

// maybeDiagnose starts a diagnosis in the background when the outage has
// lasted and none ran lately. r.mu is held.
func (r *apiRecovery) maybeDiagnose(now time.Time) {
	if r.doctor == nil || r.looking || now.Sub(r.outage) < doctorAfter || now.Sub(r.looked) < doctorEvery {
		return
	}
	r.looking, r.looked = true, now
	go r.diagnose()
}

func (r *apiRecovery) diagnose() {
	ctx, cancel := context.WithTimeout(context.Background(), doctorTimeout)
	defer cancel()
	cause := r.doctor.Diagnose(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.looking = false
	switch {
	case cause != nil && cause.Error() != r.lastCause:
		r.lastCause = cause.Error()
		r.rep.Problem(cause)
	case cause == nil && r.lastCause != "":
		r.rep.Info("no longer seen: " + text.FirstLine(r.lastCause) + "; waiting for the API server to answer")
		r.lastCause = ""
	}
}

// timedOut: the server or the client gave up waiting, rather than the
// connection being refused at once.
func timedOut(err error) bool {
	var ne net.Error
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
