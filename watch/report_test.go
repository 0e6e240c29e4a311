package watch

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestChangeSummary(t *testing.T) {
	c := Change{Files: []string{"team.env"}, Object: "ConfigMap/team", Added: []string{"NEW"}, Changed: []string{"A"}, Removed: []string{"OLD"},
		Restarted: []string{"Deployment/dagit"}, Applied: 85 * time.Millisecond, Ready: 4213 * time.Millisecond, JobPods: true}
	want := "team.env → ConfigMap/team: +NEW ~A -OLD; restarted Deployment/dagit, Ready 4.21s after save (applied 85ms after save); job pods read the new values on their next run"
	if got := c.Summary(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	c = Change{Files: []string{"s.env"}, Object: "Secret/s", Created: true, Added: []string{"A"}, Applied: time.Millisecond}
	if got := c.Summary(); got != "s.env → Secret/s: created with +A; no running workload reads it (applied 1ms after save)" {
		t.Errorf("got %s", got)
	}
	c = Change{Files: []string{"s.env"}, Object: "Secret/s", Restarted: []string{"Deployment/x"}, RolloutErr: errors.New("CrashLoop")}
	if got := c.Summary(); !strings.HasSuffix(got, "ROLLOUT FAILED: CrashLoop") || strings.Contains(got, "Ready") {
		t.Errorf("got %s", got)
	}
	var many []string
	for i := 0; i < 20; i++ {
		many = append(many, fmt.Sprintf("K%02d", i))
	}
	if got := keyList(many, nil, nil); !strings.HasSuffix(got, "+K11 (+8 more)") {
		t.Errorf("got %s", got)
	}
}

func TestTextReporter(t *testing.T) {
	var b strings.Builder
	r := NewTextReporter(&b).(*textReporter)
	r.now = func() time.Time { return time.Date(2026, 1, 1, 9, 5, 7, 0, time.UTC) }
	r.Info("watching")
	r.Problem(errors.New("a.env:2: bad"))
	want := "09:05:07 watching\n09:05:07 error: a.env:2: bad\n"
	if b.String() != want {
		t.Errorf("%q", b.String())
	}
}

// unreachable makes the first n writes of ConfigMaps fail like a dead API
// server, then lets them through.
