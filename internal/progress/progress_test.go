package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestPlainOutputTimesEachStep(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	s := newSteps(&buf, false, c.now)
	st := s.Start("create cluster")
	c.t = c.t.Add(12 * time.Second)
	st.Update("node 1/1 Ready")
	c.t = c.t.Add(400 * time.Millisecond)
	if d := st.Done("created"); d != 12400*time.Millisecond {
		t.Errorf("duration %v", d)
	}
	s.Start("install chart").Skip("unchanged")
	out := buf.String()
	for _, want := range []string{"… create cluster\n", "  node 1/1 Ready (12s)\n", "✓ create cluster", "12s  created", "- install chart", "0.0s  unchanged"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") || strings.Contains(out, "\033") {
		t.Errorf("plain output must not contain terminal control codes: %q", out)
	}
	if s.Elapsed() != 12400*time.Millisecond {
		t.Errorf("elapsed %v", s.Elapsed())
	}
}

func TestPlainOutputRateLimitsDetails(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	s := newSteps(&buf, false, c.now)
	st := s.Start("wait")
	for i := 0; i < 50; i++ {
		c.t = c.t.Add(100 * time.Millisecond)
		st.Update("same detail")
	}
	// 5 s of identical updates every 100 ms: none (a changed detail waits
	// 10 s, an unchanged one the 30 s quiet period)...
	if n := strings.Count(buf.String(), "same detail"); n != 0 {
		t.Errorf("detail printed %d times within 5 s, want 0:\n%s", n, buf.String())
	}
	// ...then it shows once the 10 s have passed.
	c.t = c.t.Add(6 * time.Second)
	st.Update("same detail")
	if n := strings.Count(buf.String(), "same detail"); n != 1 {
		t.Errorf("detail printed %d times, want 1:\n%s", n, buf.String())
	}
	st.Done("")
}

func TestTTYRedrawsOneLine(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	s := newSteps(&buf, true, c.now)
	st := s.Start("load images")
	st.Update("dagster 3/4 nodes")
	c.t = c.t.Add(2 * time.Second)
	st.Done("4 images")
	out := buf.String()
	if !strings.Contains(out, "\r\033[K") || !strings.Contains(out, "load images 0.0s — dagster 3/4 nodes") {
		t.Errorf("spinner line missing: %q", out)
	}
	if !strings.Contains(out, "\r\033[K✓ load images ") || !strings.HasSuffix(out, " 2.0s  4 images\n") {
		t.Errorf("final line wrong: %q", out)
	}
}

func TestFinishTwiceIsHarmless(t *testing.T) {
	var buf bytes.Buffer
	s := newSteps(&buf, false, time.Now)
	st := s.Start("x")
	st.Done("")
	st.Fail("again")
	if strings.Count(buf.String(), "x") != 2 { // the start line and one end line
		t.Errorf("output %q", buf.String())
	}
}

func TestRound(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1500 * time.Millisecond: "1.5s",
		42 * time.Second:        "42s",
		83 * time.Second:        "1m23s",
	} {
		if got := Round(d); got != want {
			t.Errorf("Round(%v) = %q, want %q", d, got, want)
		}
	}
}
