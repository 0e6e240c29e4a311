package dagit

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const serverInfoBody = `{"dagster_webserver_version":"1.13.27","dagster_version":"1.13.27","dagster_graphql_version":"1.13.27"}`

func TestServerInfo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/server_info":
			if r.Method != http.MethodGet {
				t.Errorf("method %s", r.Method)
			}
			w.Write([]byte("  " + serverInfoBody + "\n"))
		case "/big/server_info":
			w.Write([]byte(strings.Repeat("x", 2000)))
		case "/down/server_info":
			http.Error(w, "upstream connect error", http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	c := &Client{BaseURL: srv.URL + "/"}
	got, err := c.ServerInfo(context.Background())
	if err != nil || got != serverInfoBody {
		t.Fatalf("ServerInfo = %q, %v", got, err)
	}

	c = &Client{BaseURL: srv.URL + "/big", HTTP: srv.Client()}
	if got, err := c.ServerInfo(context.Background()); err != nil || len(got) != 512 {
		t.Errorf("a long body: %d bytes, %v; want 512", len(got), err)
	}

	c = &Client{BaseURL: srv.URL + "/down"}
	if _, err := c.ServerInfo(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP 503") || !strings.Contains(err.Error(), "upstream connect error") {
		t.Errorf("HTTP 503: err = %v", err)
	}

	// The base URL is asked for every request.
	c = &Client{URL: func(context.Context) (string, error) { return "", errors.New("no Dagit pod is Ready") }}
	if _, err := c.ServerInfo(context.Background()); err == nil || !strings.Contains(err.Error(), "no Dagit pod is Ready") {
		t.Errorf("URL failing: err = %v", err)
	}
}

// A Dagit that accepts the connection and never answers: without a Timeout
// on the HTTP client, one request is cut after serverInfoRequestTimeout.
func TestServerInfoCutsAHungRequest(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	defer func(d time.Duration) { serverInfoRequestTimeout = d }(serverInfoRequestTimeout)
	serverInfoRequestTimeout = 200 * time.Millisecond
	start := time.Now()
	_, err = (&Client{BaseURL: "http://" + l.Addr().String()}).ServerInfo(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline", err)
	}
	if d := time.Since(start); d < serverInfoRequestTimeout || d > 10*time.Second {
		t.Errorf("took %s, want about %s", d, serverInfoRequestTimeout)
	}
}

func TestWaitServerInfo(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.Write([]byte(serverInfoBody))
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, HTTP: srv.Client()}
	if err := c.WaitServerInfo(context.Background(), Poll{Interval: time.Millisecond, Timeout: 5 * time.Second}); err != nil || calls.Load() != 3 {
		t.Fatalf("WaitServerInfo = %v after %d calls", err, calls.Load())
	}

	// Timeout: the error carries the last failure.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	c = &Client{BaseURL: down.URL, HTTP: down.Client()}
	err := c.WaitServerInfo(context.Background(), Poll{Interval: time.Millisecond, Timeout: 30 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "within 30ms") || !strings.Contains(err.Error(), "HTTP 503: no healthy upstream") {
		t.Errorf("timeout: err = %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v is not context.DeadlineExceeded", err)
	}

	// The caller giving up is not a timeout: cancelled once the second 503
	// is answered, so while it polls.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c = &Client{BaseURL: down.URL, HTTP: &http.Client{Transport: &afterRequests{rt: down.Client().Transport, n: 2, fn: cancel}}}
	if err := c.WaitServerInfo(ctx, Poll{Interval: time.Millisecond, Timeout: time.Hour}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}

func TestWaitServerInfoDefaultInterval(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, HTTP: srv.Client()}
	c.WaitServerInfo(context.Background(), Poll{Timeout: 1200 * time.Millisecond})
	// At 0 s, 0.5 s and 1 s, not only at 0 s (Poll's default of 2 s).
	if n := calls.Load(); n < 2 || n > 3 {
		t.Errorf("%d requests in 1.2 s, want 3", n)
	}
}
