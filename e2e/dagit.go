package e2e

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/internal/text"
)

// Poll controls a wait loop: how often to ask and for how long.
type Poll = dagit.Poll

// ServerInfo is Dagit's /server_info answer.
type ServerInfo struct {
	WebserverVersion string `json:"dagster_webserver_version"`
	DagsterVersion   string `json:"dagster_version"`
	GraphQLVersion   string `json:"dagster_graphql_version"`
}

// serverInfo asks Dagit's health endpoint, the one the chart's readiness
// probe uses. A 200 with a JSON body naming the Dagster version is the
// answer of a working webserver, not of some other process on the port.
func serverInfo(ctx context.Context, c *dagit.Client) (ServerInfo, error) {
	body, err := c.ServerInfo(ctx)
	if err != nil {
		return ServerInfo{}, err
	}
	var info ServerInfo
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		return ServerInfo{}, fmt.Errorf("not JSON (%v): %s", err, text.Snippet([]byte(body)))
	}
	if info.DagsterVersion == "" {
		return ServerInfo{}, fmt.Errorf("no dagster_version in %s", text.Snippet([]byte(body)))
	}
	return info, nil
}

// waitServerInfo retries serverInfo until it succeeds or p.Timeout.
func waitServerInfo(ctx context.Context, c *dagit.Client, p Poll) (ServerInfo, error) {
	try := func(ctx context.Context, last ServerInfo) (ServerInfo, bool, error) {
		info, err := serverInfo(ctx, c)
		if err != nil {
			return last, false, err
		}
		return info, true, nil
	}
	return dagit.PollUntil(ctx, p, try, func(_ ServerInfo, lastErr error) error {
		if lastErr == nil {
			return fmt.Errorf("no answer from Dagit within %s", p.Timeout)
		}
		return fmt.Errorf("no answer from Dagit within %s: %w", p.Timeout, lastErr)
	})
}
