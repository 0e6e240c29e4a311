package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/dagster-dev/dagster-dev/internal/text"

	"github.com/dagster-dev/dagster-dev/internal/dagit"
)

// Poll controls a wait loop: how often to ask and for how long.
type Poll = dagit.Poll

// parentDone distinguishes "our own timeout fired" from "the caller gave
// up" (Ctrl-C): only the former is a test failure worth a message.
func parentDone(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), context.Canceled)
}

// ServerInfo is Dagit's /server_info answer.
type ServerInfo struct {
	WebserverVersion string `json:"dagster_webserver_version"`
	DagsterVersion   string `json:"dagster_version"`
	GraphQLVersion   string `json:"dagster_graphql_version"`
}

// getServerInfo asks Dagit's health endpoint, the one the chart's readiness
// probe uses. A 200 with a JSON body naming the Dagster version is the
// answer of a working webserver, not of some other process on the port.
func getServerInfo(ctx context.Context, client *http.Client, base string) (ServerInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/server_info", nil)
	if err != nil {
		return ServerInfo{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return ServerInfo{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return ServerInfo{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return ServerInfo{}, fmt.Errorf("GET /server_info: HTTP %d: %s", resp.StatusCode, text.Snippet(body))
	}
	var info ServerInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return ServerInfo{}, fmt.Errorf("GET /server_info: not JSON (%v): %s", err, text.Snippet(body))
	}
	if info.DagsterVersion == "" {
		return ServerInfo{}, fmt.Errorf("GET /server_info: no dagster_version in %s", text.Snippet(body))
	}
	return info, nil
}

// waitServerInfo retries getServerInfo until it succeeds or p.Timeout.
func waitServerInfo(ctx context.Context, client *http.Client, base func(context.Context) (string, error), p Poll) (ServerInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	var lastErr error
	for {
		url, err := base(ctx)
		if err == nil {
			var info ServerInfo
			if info, err = getServerInfo(ctx, client, url); err == nil {
				return info, nil
			}
		}
		if ctx.Err() == nil {
			// An error caused by the deadline itself says nothing new;
			// keep the one before it.
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if parentDone(ctx) {
				return ServerInfo{}, ctx.Err()
			}
			if lastErr == nil {
				return ServerInfo{}, fmt.Errorf("no answer from Dagit within %s", p.Timeout)
			}
			return ServerInfo{}, fmt.Errorf("no answer from Dagit within %s: %w", p.Timeout, lastErr)
		case <-time.After(p.Every()):
		}
	}
}
