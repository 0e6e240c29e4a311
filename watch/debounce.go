package watch

import "time"

// batch is a set of changed paths to sync together.
type batch struct {
	paths map[string]bool
	// all asks for a full sync: the first one, and after the event queue
	// overflowed (events were lost, so any file may have changed).
	all bool
	// first is when the first change of the batch was seen: the "save"
	// time that latencies are measured from.
	first time.Time
}

func (b *batch) empty() bool { return !b.all && len(b.paths) == 0 }

// merge adds o to b, keeping the earliest save time.
func (b *batch) merge(o batch) {
	if o.empty() {
		return
	}
	if b.paths == nil {
		b.paths = map[string]bool{}
	}
	for p := range o.paths {
		b.paths[p] = true
	}
	b.all = b.all || o.all
	if b.first.IsZero() || (!o.first.IsZero() && o.first.Before(b.first)) {
		b.first = o.first
	}
}

// debouncer coalesces a burst of file events into one batch: it is due once
// no event came for quiet, or max after the first event of the burst, so a
// file rewritten continuously still syncs at a steady pace. It is pure
// logic over passed-in times so the timing rules are tested exactly; the
// loop drives it with a timer.
type debouncer struct {
	quiet, max  time.Duration
	first, last time.Time
	pending     batch
}

// newDebouncer caps a burst at 10 quiet periods (2 s for the default 200
// ms): short enough that a save during a long-running generator is seen
// soon, long enough to cover an editor's write-rename-chmod sequence.
func newDebouncer(quiet time.Duration) *debouncer {
	if quiet <= 0 {
		quiet = time.Millisecond
	}
	return &debouncer{quiet: quiet, max: 10 * quiet}
}

func (d *debouncer) add(path string, now time.Time) {
	d.note(now)
	if d.pending.paths == nil {
		d.pending.paths = map[string]bool{}
	}
	d.pending.paths[path] = true
}

func (d *debouncer) addAll(now time.Time) {
	d.note(now)
	d.pending.all = true
}

func (d *debouncer) note(now time.Time) {
	if d.pending.empty() {
		d.first = now
		d.pending.first = now
	}
	d.last = now
}

// due is when the pending batch should be synced; zero when none is pending.
func (d *debouncer) due() time.Time {
	if d.pending.empty() {
		return time.Time{}
	}
	t := d.last.Add(d.quiet)
	if capAt := d.first.Add(d.max); capAt.Before(t) {
		t = capAt
	}
	return t
}

// take returns the pending batch if it is due at now.
func (d *debouncer) take(now time.Time) (batch, bool) {
	due := d.due()
	if due.IsZero() || now.Before(due) {
		return batch{}, false
	}
	b := d.pending
	d.pending = batch{}
	return b, true
}
