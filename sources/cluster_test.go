package sources

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestTransient(t *testing.T) {
	transient := []error{
		&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED},
		fmt.Errorf("wrapped: %w", syscall.ECONNRESET),
		apierrors.NewServiceUnavailable("down"),
		apierrors.NewTooManyRequests("slow down", 1),
		apierrors.NewInternalError(errors.New("etcd")),
		apierrors.NewTimeoutError("slow", 1),
		errors.New(`Get "https://127.0.0.1:6443/api": dial tcp 127.0.0.1:6443: connect: connection refused`),
	}
	for _, err := range transient {
		if !Transient(err) {
			t.Errorf("%v should be transient", err)
		}
	}
	permanent := []error{
		nil,
		context.Canceled,
		apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "x", errors.New("rbac")),
		apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "x", nil),
		apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "x"),
		errors.New("template: dagster/templates/x.yaml:3: unexpected EOF"),
	}
	for _, err := range permanent {
		if Transient(err) {
			t.Errorf("%v should not be transient", err)
		}
	}
}
