package dagit

import (
	"context"
	"fmt"
	"github.com/dagster-dev/dagster-dev/internal/text"
	"strings"
)

// Event is one entry of a run's event log.
type Event struct {
	Typename  string
	Message   string
	Level     string
	StepKey   string
	EventType string
	Error     *PythonError
}

// Logs reads a run's whole event log, following the cursor.
func (c *Client) Logs(ctx context.Context, runID string) ([]Event, error) {
	var events []Event
	var cursor any
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
					Error     *PythonError `json:"error"`
				} `json:"events"`
				Message string   `json:"message"`
				Stack   []string `json:"stack"`
			} `json:"logsForRun"`
		}
		if err := c.do(ctx, "logsForRun", queryLogs, map[string]any{"runId": runID, "cursor": cursor}, &out); err != nil {
			return events, err
		}
		switch out.L.Typename {
		case "EventConnection":
		case typePythonError:
			return events, fmt.Errorf("logsForRun: %w", &PythonError{Message: out.L.Message, Stack: out.L.Stack})
		default:
			return events, fmt.Errorf("logsForRun: %s: %s", out.L.Typename, out.L.Message)
		}
		for _, e := range out.L.Events {
			events = append(events, Event{Typename: e.Typename, Message: e.Message, Level: e.Level, StepKey: e.StepKey, EventType: e.EventType, Error: e.Error})
		}
		// An unchanged cursor with hasMore would loop forever; stop there.
		if !out.L.HasMore || out.L.Cursor == "" || out.L.Cursor == cursor {
			return events, nil
		}
		cursor = out.L.Cursor
	}
	return events, fmt.Errorf("logsForRun: run %s has more than 1000 pages of events", runID)
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
