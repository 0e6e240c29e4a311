package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestStepsRecordTimingsForTheWaterfall(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	var out bytes.Buffer
	s := newSteps(&out, false, c.now)
	a := s.Start("cluster")
	c.t = c.t.Add(20 * time.Second)
	a.Done("")
	b := s.Start("images")
	c.t = c.t.Add(20 * time.Second)
	b.Done("")
	ts := s.Timings()
	if len(ts) != 2 || ts[1].Name != "images" || ts[1].Start != 20*time.Second || ts[1].Duration != 20*time.Second {
		t.Fatalf("timings %+v", ts)
	}
	w := strings.Split(strings.TrimRight(Waterfall(ts, 10), "\n"), "\n")
	if len(w) != 2 {
		t.Fatalf("waterfall:\n%s", Waterfall(ts, 10))
	}
	// One after the other: the second bar starts where the first ends.
	if !strings.HasSuffix(w[0], "  █████") || !strings.HasSuffix(w[1], "       █████") {
		t.Errorf("waterfall:\n%s", strings.Join(w, "\n"))
	}
	if !strings.Contains(w[1], "images") || !strings.Contains(w[1], "20s +    20s") {
		t.Errorf("row %q", w[1])
	}
	if Waterfall(nil, 10) != "" {
		t.Error("no steps, no waterfall")
	}
}
