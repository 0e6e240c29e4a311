package watch

import (
	"errors"
	"io"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
