package progress

import (
	"fmt"
	"strings"
	"time"
)

// Timing is one finished step: when it started (from the first step of
// the list) and how long it took.
type Timing struct {
	Name     string
	Start    time.Duration
	Duration time.Duration
}

// Timings are the finished steps, in the order they finished.
func (s *Steps) Timings() []Timing {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Timing(nil), s.timings...)
}

// Waterfall draws the steps on one time axis, width characters wide, so
// what ran one after the other and what overlapped is visible at once:
//
//	cluster dagster-dev      0.0s +  22s  ██████████
//	images                    22s +  22s            ██████████
func Waterfall(ts []Timing, width int) string {
	var end time.Duration
	name := 0
	for _, t := range ts {
		end = max(end, t.Start+t.Duration)
		name = max(name, len(t.Name))
	}
	if end <= 0 || width <= 0 {
		return ""
	}
	col := func(d time.Duration) int { return int(float64(d) / float64(end) * float64(width)) }
	var b strings.Builder
	for _, t := range ts {
		from, to := col(t.Start), col(t.Start+t.Duration)
		bar := strings.Repeat("█", max(to-from, 0))
		if bar == "" {
			bar = "▏" // too short to draw: marks where it ran
		}
		fmt.Fprintf(&b, "%-*s %6s + %6s  %s%s\n", name, t.Name, round(t.Start), round(t.Duration), strings.Repeat(" ", min(from, width)), bar)
	}
	return b.String()
}
