package kube

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
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

// RetryBackoff is the one retry schedule for an unreachable API server or
// a broken stream: first, doubling, capped at 5 s (first 0: 0.5 s). A
// save made during an outage is applied at most 5 s after the server is
// back, and one request every 5 s costs nothing. Step it with Step; start
// over with a new one.
func RetryBackoff(first time.Duration) wait.Backoff {
	if first <= 0 {
		first = 500 * time.Millisecond
	}
	return wait.Backoff{Duration: first, Factor: 2, Cap: retryCap, Steps: math.MaxInt32}
}

const retryCap = 5 * time.Second
