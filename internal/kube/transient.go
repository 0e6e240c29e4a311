package kube

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Transient reports whether err means the API server could not be reached
// or asked to come back later, as opposed to refusing the request. Only
// these are worth a retry: a refusal (invalid object, forbidden, not found)
// stays a refusal. The caller giving up (context.Canceled) is not transient.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || apierrors.IsUnexpectedServerError(err) {
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Code >= 500
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	// Errors that crossed a library boundary as text (Helm wraps some).
	msg := err.Error()
	for _, s := range transientText {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// transientText are the fragments of a transient error's text.
var transientText = []string{"connection refused", "connection reset", "i/o timeout", "no route to host", "TLS handshake timeout", "http2: client connection lost"}
