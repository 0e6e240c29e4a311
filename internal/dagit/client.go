// Package dagit is a client for Dagit's (the Dagster webserver's) GraphQL
// API: code locations (load status, load errors, definitions, reload), runs
// (launch, status, history), run event logs and the instance.
//
// The documents it sends are in documents.go; documents_test.go validates
// every one of them against the schema of the Dagster version the chart
// installs (testdata/dagster-schema.graphql).
//
//	c := &dagit.Client{BaseURL: "http://127.0.0.1:3000", HTTP: &http.Client{Timeout: 30 * time.Second}}
//	st, err := c.WaitLocation(ctx, "user-code", dagit.Poll{Timeout: 5 * time.Minute})
package dagit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/dagster-dev/dagster-dev/internal/text"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client talks to Dagit's /graphql endpoint.
type Client struct {
	// BaseURL is Dagit's address, such as http://127.0.0.1:3000.
	BaseURL string
	// URL, when set, is asked for the base URL before every request instead
	// of BaseURL: a port-forward to a Dagit pod is re-established when the
	// pod it pointed at rolls, and its local port changes with it. An error
	// from URL is a temporary RequestError.
	URL func(ctx context.Context) (string, error)
	// HTTP sends the requests; nil means http.DefaultClient. Give it a
	// Timeout: a Dagit that accepts the connection and never answers would
	// otherwise hang the caller until ctx ends.
	HTTP *http.Client
}

// RequestError is a failure to get a usable GraphQL response: Dagit was
// unreachable, answered with a non-200 status, or rejected the request.
// Temporary is true for errors that a retry can fix (connection refused
// while Dagit restarts, 502/503/504 from a proxy).
type RequestError struct {
	Op        string
	Temporary bool
	Err       error
}

func (e *RequestError) Error() string { return fmt.Sprintf("GraphQL %s: %v", e.Op, e.Err) }
func (e *RequestError) Unwrap() error { return e.Err }

// IsTemporary reports whether err is a RequestError a retry can fix.
func IsTemporary(err error) bool {
	var re *RequestError
	return errors.As(err, &re) && re.Temporary
}

// gqlError is one entry of a GraphQL response's "errors" list: the request
// itself was rejected (bad query or variables, or a resolver crash).
type gqlError struct {
	Message string `json:"message"`
}

func (c *Client) base(ctx context.Context) (string, error) {
	if c.URL != nil {
		return c.URL(ctx)
	}
	if c.BaseURL == "" {
		return "", errors.New("dagit.Client has no BaseURL")
	}
	return c.BaseURL, nil
}

// do posts one GraphQL request and decodes "data" into out.
func (c *Client) do(ctx context.Context, op, query string, vars map[string]any, out any) error {
	base, err := c.base(ctx)
	if err != nil {
		return &RequestError{Op: op, Temporary: true, Err: err}
	}
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return &RequestError{Op: op, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/graphql", bytes.NewReader(body))
	if err != nil {
		return &RequestError{Op: op, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &RequestError{Op: op, Temporary: true, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return &RequestError{Op: op, Temporary: true, Err: err}
	}
	var envelope struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	jsonErr := json.Unmarshal(data, &envelope)
	// Dagster's webserver answers HTTP 500 when a mutation's result is a
	// PythonError (seen: launchRun while a code server restarted), with
	// the result itself in "data": decode it like a 200, so callers see the
	// typed error (a LaunchError) rather than a status line.
	hasData := jsonErr == nil && len(envelope.Errors) == 0 && len(envelope.Data) > 0 && string(envelope.Data) != "null"
	if resp.StatusCode != http.StatusOK && !(resp.StatusCode == http.StatusInternalServerError && hasData) {
		// Dagster answers invalid queries with 400 and a JSON errors list;
		// show those messages rather than only the status line.
		if jsonErr == nil && len(envelope.Errors) > 0 {
			return &RequestError{Op: op, Err: fmt.Errorf("HTTP %d: %s", resp.StatusCode, joinGQLErrors(envelope.Errors))}
		}
		temporary := resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout
		return &RequestError{Op: op, Temporary: temporary, Err: fmt.Errorf("HTTP %d: %s", resp.StatusCode, text.Snippet(data))}
	}
	if jsonErr != nil {
		return &RequestError{Op: op, Err: fmt.Errorf("response is not JSON (%v): %s", jsonErr, text.Snippet(data))}
	}
	if len(envelope.Errors) > 0 {
		return &RequestError{Op: op, Err: errors.New(joinGQLErrors(envelope.Errors))}
	}
	if len(envelope.Data) == 0 || string(envelope.Data) == "null" {
		return &RequestError{Op: op, Err: errors.New("response has no data")}
	}
	if err := json.Unmarshal(envelope.Data, out); err != nil {
		return &RequestError{Op: op, Err: fmt.Errorf("decoding response: %w", err)}
	}
	return nil
}

func joinGQLErrors(errs []gqlError) string {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Message
	}
	return strings.Join(msgs, "; ")
}

// Poll controls a wait loop: how often to ask and for how long.
type Poll struct {
	// Interval between two requests; 0 means 2s.
	Interval time.Duration
	// Timeout bounds the whole wait.
	Timeout time.Duration
}

// Every is the interval to wait between two requests.
func (p Poll) Every() time.Duration {
	if p.Interval <= 0 {
		return 2 * time.Second
	}
	return p.Interval
}
