package sources

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Transient is kube.Transient (whose test has the cases) under its old name.
func TestTransient(t *testing.T) {
	if !Transient(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}) || !Transient(apierrors.NewServiceUnavailable("down")) {
		t.Error("a refused connection and a 503 should be transient")
	}
	if Transient(nil) || Transient(context.Canceled) || Transient(apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "x", errors.New("rbac"))) {
		t.Error("nil, a cancel and a 403 should not be transient")
	}
}
