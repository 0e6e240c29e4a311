package watch

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestDebounceQuietPeriod(t *testing.T) {
	d := newDebouncer(ms(200))
	if !d.due().IsZero() {
		t.Fatal("due with nothing pending")
	}
	if _, ok := d.take(t0); ok {
		t.Fatal("took an empty batch")
	}
	d.add("/a", t0)
	d.add("/b", t0.Add(ms(150)))
	// Each event pushes the deadline: 150 + 200.
	if got := d.due(); !got.Equal(t0.Add(ms(350))) {
		t.Fatalf("due %v", got.Sub(t0))
	}
	if _, ok := d.take(t0.Add(ms(349))); ok {
		t.Fatal("took before quiet")
	}
	b, ok := d.take(t0.Add(ms(350)))
	if !ok || len(b.paths) != 2 || !b.paths["/a"] || !b.paths["/b"] || b.all {
		t.Fatalf("batch %+v", b)
	}
	if !b.first.Equal(t0) {
		t.Errorf("first = %v, want the first event's time", b.first)
	}
	if !d.due().IsZero() {
		t.Error("still pending after take")
	}
}

// A file written continuously must still sync: the burst is cut at max
// (10 quiet periods), and the next burst starts fresh.
func TestDebounceMaxWait(t *testing.T) {
	d := newDebouncer(ms(200))
	var took []time.Duration
	for at := 0; at <= 5000; at += 50 { // an event every 50 ms for 5 s
		now := t0.Add(ms(at))
		if b, ok := d.take(now); ok {
			took = append(took, now.Sub(t0))
			if !b.paths["/f"] {
				t.Fatal("lost the path")
			}
		}
		d.add("/f", now)
	}
	want := []time.Duration{ms(2000), ms(4000)}
	if len(took) != len(want) || took[0] != want[0] || took[1] != want[1] {
		t.Fatalf("synced at %v, want %v", took, want)
	}
}

func TestDebounceAddAllAndMerge(t *testing.T) {
	d := newDebouncer(ms(100))
	d.addAll(t0)
	b, ok := d.take(t0.Add(ms(100)))
	if !ok || !b.all || b.empty() {
		t.Fatalf("%+v", b)
	}
	var acc batch
	acc.merge(batch{})
	if !acc.empty() {
		t.Fatal("merging an empty batch made it non-empty")
	}
	acc.merge(batch{paths: map[string]bool{"/x": true}, first: t0.Add(ms(5))})
	acc.merge(batch{paths: map[string]bool{"/y": true}, first: t0})
	acc.merge(batch{all: true, first: t0.Add(ms(9))})
	if !acc.all || !acc.paths["/x"] || !acc.paths["/y"] || !acc.first.Equal(t0) {
		t.Fatalf("%+v", acc)
	}
}

func TestDebounceZeroQuiet(t *testing.T) {
	d := newDebouncer(0)
	d.add("/a", t0)
	if _, ok := d.take(t0.Add(time.Millisecond)); !ok {
		t.Fatal("a zero debounce must still deliver")
	}
}
