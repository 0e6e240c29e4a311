package dagit

import (
	"context"
	"fmt"
	"github.com/dagster-dev/dagster-dev/internal/text"
	"strconv"
	"strings"
	"time"
)

// Event is one entry of a run's event log.
type Event struct {
	Typename  string
	Message   string
	Level     string
	StepKey   string
	EventType string
	// Time is when Dagster recorded the event.
	Time  time.Time
	Error *PythonError
}

// Logs reads a run's whole event log, following the cursor.
func (c *Client) Logs(ctx context.Context, runID string) ([]Event, error) {
	events, _, err := c.LogsAfter(ctx, runID, "")
	return events, err
}

// LogsAfter reads a run's events after cursor ("" = from the start) and
// returns the cursor to ask from next time: how `logs -f --run` follows a
// run's event log.
func (c *Client) LogsAfter(ctx context.Context, runID, after string) ([]Event, string, error) {
	var events []Event
	var cursor any
	if after != "" {
		cursor = after
	}
	last := func() string { s, _ := cursor.(string); return s }
	for page := 0; page < 1000; page++ {
		var out struct {
			L struct {
				Typename string `json:"__typename"`
				Cursor   string `json:"cursor"`
				HasMore  bool   `json:"hasMore"`
				Events   []struct {
					Typename  string       `json:"__typename"`
					Message   string       `json:"message"`
					Level     string       `json:"level"`
					StepKey   string       `json:"stepKey"`
					EventType string       `json:"eventType"`
					Timestamp string       `json:"timestamp"`
					Error     *PythonError `json:"error"`
				} `json:"events"`
				Message string   `json:"message"`
				Stack   []string `json:"stack"`
			} `json:"logsForRun"`
		}
		if err := c.do(ctx, "logsForRun", queryLogs, map[string]any{"runId": runID, "cursor": cursor}, &out); err != nil {
			return events, last(), err
		}
		switch out.L.Typename {
		case "EventConnection":
		case typePythonError:
			return events, last(), fmt.Errorf("logsForRun: %w", &PythonError{Message: out.L.Message, Stack: out.L.Stack})
		default:
			return events, last(), fmt.Errorf("logsForRun: %s: %s", out.L.Typename, out.L.Message)
		}
		for _, e := range out.L.Events {
			events = append(events, Event{Typename: e.Typename, Message: e.Message, Level: e.Level, StepKey: e.StepKey,
				EventType: e.EventType, Time: millis(e.Timestamp), Error: e.Error})
		}
		// An unchanged cursor with hasMore would loop forever; stop there.
		if out.L.Cursor != "" {
			if out.L.Cursor == last() {
				return events, last(), nil
			}
			cursor = out.L.Cursor
		}
		if !out.L.HasMore || out.L.Cursor == "" {
			return events, last(), nil
		}
	}
	return events, last(), fmt.Errorf("logsForRun: run %s has more than 1000 pages of events", runID)
}

// millis reads Dagster's event timestamps: milliseconds since the epoch,
// as a string.
func millis(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// ErrorEvents keeps the events that carry an error or are ERROR-level: what
// explains a failed run.
func ErrorEvents(events []Event) []Event {
	var out []Event
	for _, e := range events {
		if e.Error != nil || e.Level == "ERROR" || e.Level == "CRITICAL" {
			out = append(out, e)
		}
	}
	return out
}

// FormatEvents renders events for a failure message, one block per event.
func FormatEvents(events []Event) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "%s", e.Typename)
		if e.StepKey != "" {
			fmt.Fprintf(&b, " [%s]", e.StepKey)
		}
		fmt.Fprintf(&b, ": %s\n", strings.TrimSpace(e.Message))
		if e.Error != nil {
			b.WriteString(text.Indent(e.Error.Error(), "    "))
			b.WriteByte('\n')
		}
	}
	return strings.TrimRight(b.String(), "\n")
}
