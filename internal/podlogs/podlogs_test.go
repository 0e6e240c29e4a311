package podlogs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// The fake clientset serves pods (list, watch, informers); its GetLogs
// always answers "fake logs", so the log streams come from a scripted
// Opener that records every request.

type call struct {
	pod  string
	opts corev1.PodLogOptions
}

type scripted struct {
	mu     sync.Mutex
	calls  []call
	answer func(ctx context.Context, pod string, opts *corev1.PodLogOptions, n int) (io.ReadCloser, error)
}

func (s *scripted) Open(ctx context.Context, _, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	s.mu.Lock()
	n := 0
	for _, c := range s.calls {
		if c.pod == pod && c.opts.Container == opts.Container {
			n++
		}
	}
	s.calls = append(s.calls, call{pod: pod, opts: *opts})
	s.mu.Unlock()
	return s.answer(ctx, pod, opts, n)
}

func (s *scripted) callsFor(pod string) []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []call
	for _, c := range s.calls {
		if c.pod == pod {
			out = append(out, c)
		}
	}
	return out
}

// following is a stream that stays open until ctx ends, as a followed
// log does (client-go ends the HTTP stream with the context).
func following(ctx context.Context) (*io.PipeReader, *io.PipeWriter) {
	pr, pw := io.Pipe()
	go func() { <-ctx.Done(); pw.CloseWithError(ctx.Err()) }()
	return pr, pw
}

// broken is a stream that delivers its lines and then fails, as a stream
// cut by an API server restart does.
func broken(lines string) io.ReadCloser {
	return io.NopCloser(io.MultiReader(strings.NewReader(lines), errReader{}))
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("http2: stream closed") }

func ts(sec int, nano int) string {
	return time.Date(2026, 12, 3, 10, 0, sec, nano, time.UTC).Format(time.RFC3339Nano)
}

// sink records what a Printer would print.
type sink struct {
	mu      sync.Mutex
	lines   []Line
	notices []string
}

func (s *sink) Line(l Line) { s.mu.Lock(); s.lines = append(s.lines, l); s.mu.Unlock() }
func (s *sink) Notice(label, text string) {
	s.mu.Lock()
	s.notices = append(s.notices, label+": "+text)
	s.mu.Unlock()
}
func (s *sink) texts(label string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.lines {
		if l.Label == label {
			out = append(out, l.Text)
		}
	}
	return out
}

func runningPod(name string, started time.Time, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "x"}}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c, ContainerID: "containerd://" + name + "-" + c,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}},
		})
	}
	return p
}

func TestCursorSkipsWhatAReopenedStreamRepeats(t *testing.T) {
	// Three lines share one timestamp; the stream breaks after the second
	// of them. The reopened stream starts at the whole second, so it
	// repeats everything from 10:00:05 on.
	first := ts(5, 100) + " a\n" + ts(5, 200) + " b\n" + ts(5, 200) + " c\n"
	again := ts(5, 100) + " a\n" + ts(5, 200) + " b\n" + ts(5, 200) + " c\n" + ts(5, 200) + " d\n" + ts(6, 0) + " e\n"
	cur := &cursor{}
	var got []string
	emit := func(l Line) { got = append(got, l.Text) }
	if err := readStream(broken(first), cur, "x", emit); err == nil {
		t.Fatal("a broken stream must report its error")
	}
	since := cur.reopenFrom()
	if since == nil || !since.Time.Equal(time.Date(2026, 12, 3, 10, 0, 5, 0, time.UTC)) {
		t.Fatalf("reopen from %v, want the whole second 10:00:05", since)
	}
	if err := readStream(strings.NewReader(again), cur, "x", emit); err != nil {
		t.Fatal(err)
	}
	if want := "a b c d e"; strings.Join(got, " ") != want {
		t.Fatalf("lines %q, want each once: %q", got, want)
	}
}

func TestCursorKeepsLinesWithoutTimestampAndLongLines(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	cur := &cursor{}
	var got []Line
	in := "no timestamp here\n" + ts(1, 0) + " " + long + "\n" + ts(2, 0) + " last without newline"
	if err := readStream(strings.NewReader(in), cur, "x", func(l Line) { got = append(got, l) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Text != "no timestamp here" || !got[0].Time.IsZero() {
		t.Fatalf("got %+v", got)
	}
	if n := len(got[1].Text); n >= maxLine {
		t.Fatalf("a %d-byte line must be cut below %d, got %d", len(long), maxLine, n)
	}
	if got[2].Text != "last without newline" {
		t.Fatalf("last line %q", got[2].Text)
	}
}

func TestFollowReconnectsWithoutDuplicatesAndPicksUpNewPods(t *testing.T) {
	begin := time.Now()
	old := runningPod("dagit-abc", begin.Add(-time.Hour), "dagit")
	client := fake.NewSimpleClientset(old)
	second := make(chan struct{})
	op := &scripted{answer: func(ctx context.Context, pod string, opts *corev1.PodLogOptions, n int) (io.ReadCloser, error) {
		switch {
		case pod == "dagit-abc" && n == 0:
			return broken(ts(1, 0) + " one\n" + ts(2, 0) + " two\n"), nil
		case pod == "dagit-abc" && n == 1:
			return nil, errors.New("connection refused") // the API server is down
		case pod == "dagit-abc" && n == 2:
			pr, pw := following(ctx)
			go func() {
				fmt.Fprintf(pw, "%s one\n%s two\n%s three\n", ts(1, 0), ts(2, 0), ts(3, 0))
				close(second)
			}()
			return pr, nil
		case pod == "run-1":
			pr, pw := following(ctx)
			go fmt.Fprintf(pw, "%s run says hi\n", ts(9, 0))
			return pr, nil
		}
		pr, _ := following(ctx)
		return pr, nil
	}}
	s := &sink{}
	f := &Follower{Reader: &Reader{Client: client, Opener: op, Retry: time.Millisecond},
		Source: Source{Namespace: "ns", Selector: "app=x", Match: func(p *corev1.Pod) (string, bool) { return strings.SplitN(p.Name, "-", 2)[0], true }},
		Opts:   Options{Tail: 10}, Sink: s}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	synced := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, synced) }()
	<-synced
	<-second
	waitFor(t, func() bool { return len(s.texts("dagit")) == 3 })
	if got := strings.Join(s.texts("dagit"), " "); got != "one two three" {
		t.Fatalf("dagit lines %q, want each once", got)
	}
	calls := op.callsFor("dagit-abc")
	if c := calls[0].opts; c.TailLines == nil || *c.TailLines != 10 || !c.Follow || !c.Timestamps {
		t.Fatalf("first open %+v: want follow, timestamps, tail 10", c)
	}
	if c := calls[len(calls)-1].opts; c.TailLines != nil || c.SinceTime == nil || !c.SinceTime.Time.Equal(time.Date(2026, 12, 3, 10, 0, 2, 0, time.UTC)) {
		t.Fatalf("reopen %+v: want sinceTime 10:00:02 and no tail", c)
	}

	// A run's pod appears while following: read from its first line.
	if _, err := client.CoreV1().Pods("ns").Create(ctx, runningPod("run-1", time.Now().Add(time.Second), "dagster"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(s.texts("run")) == 1 })
	if c := op.callsFor("run-1")[0].opts; c.TailLines != nil || c.SinceSeconds != nil {
		t.Fatalf("a new pod must be read whole, opened with %+v", c)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !contains(s.notices, "run: started") {
		t.Fatalf("notices %q: want the new pod announced", s.notices)
	}
}

func TestFollowStopsWhenTheContainerEndsAndReadsWhatIsLeft(t *testing.T) {
	p := runningPod("step-1", time.Now().Add(-time.Minute), "dagster")
	client := fake.NewSimpleClientset(p)
	op := &scripted{answer: func(ctx context.Context, pod string, opts *corev1.PodLogOptions, n int) (io.ReadCloser, error) {
		if n == 0 {
			return broken(ts(1, 0) + " working\n"), nil
		}
		// The non-follow catch-up after the container ended.
		return io.NopCloser(strings.NewReader(ts(1, 0) + " working\n" + ts(2, 0) + " done\n")), nil
	}}
	s := &sink{}
	f := &Follower{Reader: &Reader{Client: client, Opener: op, Retry: 50 * time.Millisecond},
		Source: Source{Namespace: "ns"}, Opts: Options{Tail: -1}, Sink: s}
	// The container ends while the first stream is broken.
	term := p.DeepCopy()
	st := &term.Status.ContainerStatuses[0]
	st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, StartedAt: st.State.Running.StartedAt}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	synced := make(chan struct{})
	go f.Run(ctx, synced)
	<-synced
	if _, err := client.CoreV1().Pods("ns").UpdateStatus(ctx, term, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return f.Active() == 0 && len(s.texts("step-1")) == 2 })
	if got := strings.Join(s.texts("step-1"), " "); got != "working done" {
		t.Fatalf("lines %q", got)
	}
	calls := op.callsFor("step-1")
	if last := calls[len(calls)-1].opts; last.Follow {
		t.Fatalf("the catch-up read must not follow: %+v", last)
	}
}

func TestCollectMergesByTimeAndNamesContainers(t *testing.T) {
	a := runningPod("dagit-1", time.Now(), "dagit")
	b := runningPod("worker-1", time.Now(), "worker", "sidecar")
	b.Status.ContainerStatuses[1].RestartCount = 2
	waiting := runningPod("code-1", time.Now(), "server")
	waiting.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	waiting.Status.ContainerStatuses[0].ContainerID = ""
	client := fake.NewSimpleClientset(a, b, waiting)
	op := &scripted{answer: func(ctx context.Context, pod string, opts *corev1.PodLogOptions, n int) (io.ReadCloser, error) {
		switch pod + "/" + opts.Container {
		case "dagit-1/dagit":
			return io.NopCloser(strings.NewReader(ts(1, 0) + " d1\n" + ts(3, 0) + " d3\n")), nil
		case "worker-1/worker":
			return io.NopCloser(strings.NewReader(ts(2, 0) + " w2\n" + ts(4, 0) + " w4\n")), nil
		case "worker-1/sidecar":
			return io.NopCloser(strings.NewReader(ts(0, 0) + " s0\n")), nil
		}
		return nil, fmt.Errorf("unexpected open of %s/%s", pod, opts.Container)
	}}
	r := &Reader{Client: client, Opener: op}
	var notices []string
	lines, err := r.Collect(context.Background(), Source{Namespace: "ns"}, Options{Tail: -1}, func(l, t string) { notices = append(notices, l+": "+t) })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lines {
		got = append(got, l.Label+"="+l.Text)
	}
	want := "worker-1:sidecar=s0 dagit-1=d1 worker-1:worker=w2 dagit-1=d3 worker-1:worker=w4"
	if strings.Join(got, " ") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	if len(notices) != 0 {
		t.Fatalf("notices %q", notices)
	}

	// --previous reads only the container that restarted.
	op.calls = nil
	if _, err := r.Collect(context.Background(), Source{Namespace: "ns"}, Options{Tail: -1, Previous: true}, nil); err != nil {
		t.Fatal(err)
	}
	if len(op.calls) != 1 || op.calls[0].opts.Container != "sidecar" || !op.calls[0].opts.Previous {
		t.Fatalf("previous opened %+v, want only worker-1/sidecar with previous", op.calls)
	}
}

func TestPrinterPrefixesPadsAndColours(t *testing.T) {
	var out, notes bytes.Buffer
	p := &Printer{Out: &out, Notices: &notes}
	p.Line(Line{Label: "dagit", Text: "hello"})
	p.Line(Line{Label: "daemon/x7k2p", Text: "tick"})
	p.Line(Line{Label: "dagit", Text: "\x1b[32m2026-12-03 18:37:03\x1b[0m - \x1b[34mINFO\x1b[0m - again"})
	p.Notice("run 1a2b", "started")
	want := "dagit | hello\ndaemon/x7k2p | tick\ndagit        | 2026-12-03 18:37:03 - INFO - again\n"
	if out.String() != want {
		t.Fatalf("plain output\n%q\nwant\n%q", out.String(), want)
	}
	if notes.String() != "-- run 1a2b: started\n" {
		t.Fatalf("notices %q", notes.String())
	}

	out.Reset()
	c := &Printer{Out: &out, Colour: true}
	c.Line(Line{Label: "dagit", Text: "x"})
	c.Line(Line{Label: "dagit", Text: "y"})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasPrefix(lines[0], "\x1b["+colourOf("dagit")+"mdagit\x1b[0m | x") || lines[0][:8] != lines[1][:8] {
		t.Fatalf("coloured output %q: want the same colour for the same label", out.String())
	}
}

func TestColourRules(t *testing.T) {
	var buf bytes.Buffer
	if ColourFor(&buf) {
		t.Fatal("a buffer is not a terminal")
	}
	t.Setenv("NO_COLOR", "1")
	if ColourFor(nil) {
		t.Fatal("NO_COLOR must turn colours off")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30s (a hang guard; the condition is what is tested)")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestTailAsksTheAPIForTheLastLines(t *testing.T) {
	client := fake.NewClientset(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dagit-1", Namespace: "dagster"}})
	var opts *corev1.PodLogOptions
	client.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if g, ok := a.(k8stesting.GenericAction); ok && a.GetSubresource() == "log" {
			opts, _ = g.GetValue().(*corev1.PodLogOptions)
		}
		return false, nil, nil
	})
	logs, err := Tail(context.Background(), client, "dagster", "dagit-1", "dagit", 20, true)
	if err != nil || logs != "fake logs\n" { // the fake clientset's answer
		t.Fatalf("logs %q, %v", logs, err)
	}
	if opts == nil || opts.Container != "dagit" || !opts.Previous || opts.TailLines == nil || *opts.TailLines != 20 || !opts.Timestamps {
		t.Errorf("log options %+v", opts)
	}
}

func TestCollectKeepsTheTailWhenTheFirstOpenFails(t *testing.T) {
	client := fake.NewSimpleClientset(runningPod("dagit-1", time.Now(), "dagit"))
	op := &scripted{answer: func(_ context.Context, _ string, _ *corev1.PodLogOptions, n int) (io.ReadCloser, error) {
		if n == 0 {
			return nil, errors.New("connection refused")
		}
		return io.NopCloser(strings.NewReader(ts(1, 0) + " last\n")), nil
	}}
	r := &Reader{Client: client, Opener: op, Retry: time.Millisecond}
	lines, err := r.Collect(context.Background(), Source{Namespace: "ns"}, Options{Tail: 5}, nil)
	if err != nil || len(lines) != 1 {
		t.Fatalf("lines %+v, %v", lines, err)
	}
	if c := op.calls[1].opts; c.TailLines == nil || *c.TailLines != 5 || c.SinceTime != nil {
		t.Errorf("the retry after a failed open asked %+v: want --tail 5 still, not the whole log", c)
	}
}
