package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestTransient(t *testing.T) {
	transient := []error{
		&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED},
		fmt.Errorf("wrapped: %w", syscall.ECONNRESET),
		fmt.Errorf("reading the response: %w", io.ErrUnexpectedEOF),
		context.DeadlineExceeded,
		apierrors.NewServiceUnavailable("down"),
		apierrors.NewTooManyRequests("slow down", 1),
		apierrors.NewInternalError(errors.New("etcd")),
		apierrors.NewTimeoutError("slow", 1),
		apierrors.NewServerTimeout(schema.GroupResource{Resource: "pods"}, "list", 1),
		// Any 5xx status, even one without a helper of its own.
		&apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 502, Reason: metav1.StatusReasonUnknown}},
		errors.New(`Get "https://127.0.0.1:6443/api": dial tcp 127.0.0.1:6443: connect: connection refused`),
		errors.New("Kubernetes cluster unreachable: net/http: TLS handshake timeout"),
	}
	for _, err := range transient {
		if !Transient(err) {
			t.Errorf("%v should be transient", err)
		}
	}
	permanent := []error{
		nil,
		context.Canceled,
		fmt.Errorf("waiting: %w", context.Canceled),
		apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "x", errors.New("rbac")),
		apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "x", nil),
		apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "x"),
		apierrors.NewConflict(schema.GroupResource{Resource: "leases"}, "x", errors.New("changed")),
		errors.New("template: dagster/templates/x.yaml:3: unexpected EOF"),
	}
	for _, err := range permanent {
		if Transient(err) {
			t.Errorf("%v should not be transient", err)
		}
	}
}

func TestRetryBackoff(t *testing.T) {
	b := RetryBackoff(0)
	var got []time.Duration
	for i := 0; i < 8; i++ {
		got = append(got, b.Step())
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("schedule %v, want %v", got, want)
	}
	b = RetryBackoff(10 * time.Millisecond)
	if d := b.Step(); d != 10*time.Millisecond {
		t.Errorf("first step %v", d)
	}
}
