package dagit

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/dagster-dev/dagster-dev/internal/text"
)

// serverInfoRequestTimeout bounds one /server_info request of a Client whose HTTP
// client has no Timeout of its own.
var serverInfoRequestTimeout = 5 * time.Second

// serverInfoInterval is WaitServerInfo's interval when the Poll has none.
const serverInfoInterval = 500 * time.Millisecond

// ServerInfo asks Dagit's health endpoint, GET <base URL>/server_info (the
// one the chart's readiness probe uses), and returns its body, trimmed and
// cut to 512 bytes: a small JSON object naming the webserver's and
// Dagster's versions. An answer other than HTTP 200 is an error naming the
// status. Without a Timeout on c.HTTP one request is cut after 5 s.
func (c *Client) ServerInfo(ctx context.Context) (string, error) {
	base, err := c.base(ctx)
	if err != nil {
		return "", err
	}
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	if client.Timeout <= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, serverInfoRequestTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/server_info", nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 512))
	if err != nil {
		return "", fmt.Errorf("reading /server_info: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, text.Snippet(body))
	}
	return strings.TrimSpace(string(body)), nil
}

// WaitServerInfo asks ServerInfo every p.Interval (0.5 s when unset) until
// it answers, for up to p.Timeout. When the caller's ctx ends it returns
// ctx.Err(); on timeout an error that wraps the last failure (errors.Is and
// errors.As reach it) and context.DeadlineExceeded.
func (c *Client) WaitServerInfo(ctx context.Context, p Poll) error {
	if p.Interval <= 0 {
		p.Interval = serverInfoInterval
	}
	try := func(ctx context.Context, last struct{}) (struct{}, bool, error) {
		_, err := c.ServerInfo(ctx)
		return last, err == nil, err
	}
	_, err := PollUntil(ctx, p, try, func(_ struct{}, lastErr error) error {
		return &serverInfoTimeout{timeout: p.Timeout, last: lastErr}
	})
	return err
}

// serverInfoTimeout is WaitServerInfo's timeout.
type serverInfoTimeout struct {
	timeout time.Duration
	last    error
}

func (e *serverInfoTimeout) Error() string {
	if e.last == nil {
		return fmt.Sprintf("GET /server_info: no answer within %s", e.timeout)
	}
	return fmt.Sprintf("GET /server_info: no HTTP 200 within %s; last error: %v", e.timeout, e.last)
}

func (e *serverInfoTimeout) Unwrap() []error {
	if e.last == nil {
		return []error{context.DeadlineExceeded}
	}
	return []error{e.last, context.DeadlineExceeded}
}
