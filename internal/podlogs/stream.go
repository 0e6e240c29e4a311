package podlogs

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// maxLine bounds one log line; a longer one is cut, not fatal.
const maxLine = 1 << 20

// splitTimestamp takes the RFC3339Nano timestamp the API puts before each
// line when asked for timestamps.
func splitTimestamp(s string) (time.Time, string) {
	head, rest, ok := strings.Cut(s, " ")
	if !ok {
		head, rest = s, ""
	}
	t, err := time.Parse(time.RFC3339Nano, head)
	if err != nil {
		return time.Time{}, s
	}
	return t, rest
}

// cursor remembers where a container's log has been read to, so a reopened
// stream skips what was already shown.
type cursor struct {
	last time.Time
	// atLast counts the lines shown with timestamp last; replay counts
	// down those of them a reopened stream repeats.
	atLast, replay int
}

// fresh reports whether a line is past the cursor, and moves it.
func (c *cursor) fresh(t time.Time) bool {
	if t.IsZero() {
		return true
	}
	switch {
	case t.Before(c.last):
		return false
	case t.Equal(c.last):
		if c.replay > 0 {
			c.replay--
			return false
		}
		c.atLast++
		return true
	}
	c.last, c.atLast, c.replay = t, 1, 0
	return true
}

// reopenFrom is the sinceTime of a reopened stream: the API truncates it
// to the second, so the lines of that second come again and are skipped.
func (c *cursor) reopenFrom() *metav1.Time {
	c.replay = c.atLast
	if c.last.IsZero() {
		return nil
	}
	t := metav1.NewTime(c.last.Truncate(time.Second))
	return &t
}

// readStream sends the stream's fresh lines to emit until it ends. The
// error is nil at the end of the stream.
func readStream(rc io.Reader, cur *cursor, label string, emit func(Line)) error {
	br := bufio.NewReaderSize(rc, 64<<10)
	for {
		raw, err := readLine(br)
		if len(raw) > 0 || err == nil {
			t, text := splitTimestamp(raw)
			if cur.fresh(t) {
				emit(Line{Time: t, Label: label, Text: text})
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readLine reads one line without its newline, cutting it at maxLine.
func readLine(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		chunk, isPrefix, err := br.ReadLine()
		if b.Len() < maxLine {
			b.Write(chunk[:min(len(chunk), maxLine-b.Len())])
		}
		if err != nil {
			return b.String(), err
		}
		if !isPrefix {
			return b.String(), nil
		}
	}
}

// logOptions are the options of one open of a container's log.
func logOptions(container string, follow bool, o Options, first bool, cur *cursor) *corev1.PodLogOptions {
	opts := &corev1.PodLogOptions{Container: container, Follow: follow, Timestamps: true, Previous: o.Previous}
	if !first {
		opts.SinceTime = cur.reopenFrom()
		return opts
	}
	if o.Tail >= 0 {
		opts.TailLines = &o.Tail
	}
	if o.Since > 0 {
		s := int64((o.Since + time.Second - 1) / time.Second)
		opts.SinceSeconds = &s
	}
	return opts
}

// readOnce reads a container's log to its end, once, from where cur
// stands; fresh means it was never opened, so o's tail and since apply. A
// stream that fails or breaks is reopened (three tries in all) from the
// cursor, without repeating lines.
func (r *Reader) readOnce(ctx context.Context, ns string, t target, o Options, cur *cursor, fresh bool, emit func(Line)) error {
	var err error
	for try := 0; try < 3; try++ {
		var rc io.ReadCloser
		rc, err = r.opener().Open(ctx, ns, t.pod.Name, logOptions(t.container, false, o, fresh, cur))
		if err == nil {
			fresh = false
			err = readStream(rc, cur, t.label, emit)
			rc.Close()
			if err == nil {
				return nil
			}
		}
		if ctx.Err() != nil || permanent(err) {
			return err
		}
		if err := sleep(ctx, r.retry(try)); err != nil {
			return err
		}
	}
	return err
}

// retry is the wait before reconnect number try+1: kube.RetryBackoff
// from r.Retry.
func (r *Reader) retry(try int) time.Duration {
	b := kube.RetryBackoff(r.Retry)
	d := b.Step()
	for i := 0; i < try; i++ {
		d = b.Step()
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
