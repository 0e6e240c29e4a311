package watch

import (
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/sources"
)

// restartGrace is how long after the API server was last unreachable a
// refusal is taken for its start-up rather than for the user's rights.
const restartGrace = 2 * time.Minute

// apiRecovery classifies errors worth retrying. Besides what is transient
// by nature (unreachable, timeouts, 5xx, 429), an API server that has just
// come back refuses requests with Forbidden or Unauthorized until its
// authorizer and authenticator have synced (seen: the watch lease renewal
// refused for "kubernetes-admin" seconds after a restart, which ended
// watch). So for restartGrace after the server was last unreachable, those
// are retried too; otherwise they mean what they say.
type apiRecovery struct {
	mu          sync.Mutex
	unreachable time.Time
	now         func() time.Time
}

func newAPIRecovery() *apiRecovery { return &apiRecovery{now: time.Now} }

// transient reports whether err should be retried.
func (r *apiRecovery) transient(err error) bool {
	if err == nil {
		return false
	}
	if sources.Transient(err) || dagit.IsTemporary(err) {
		r.mu.Lock()
		r.unreachable = r.now()
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
