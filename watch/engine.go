package watch

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/readiness"
	"github.com/dagster-dev/dagster-dev/internal/text"
	"github.com/dagster-dev/dagster-dev/internal/userfile"
	"github.com/dagster-dev/dagster-dev/sources"
)

// engine is the state of one watch. sync and everything it calls run on
// one goroutine; rollout waits run on their own and only report.
type engine struct {
	opts   Options
	cfg    *config.Config
	client kubernetes.Interface
	ns     string
	rep    Reporter
	wait   RolloutWaiter
	// api tells a retryable API error from a final one, for the lease too.
	api *apiRecovery

	// sources applies the ConfigMap/Secret sources and restarts their
	// readers; it remembers what the cluster holds.
	sources *sources.Syncer
	// srcErr is the last reported error per source, so a file that stays
	// broken is reported when touched, not on every unrelated sync.
	srcErr map[string]string
	// pending are changes applied but not yet handed to a rollout wait
	// (the API failed before their readers were patched); the next sync
	// finishes the job.
	pending []*Change

	// Chart values state.
	valuesErr      string
	deployed       map[string]any // canonical (JSON) form; nil until read
	releaseMissing bool
	valuesRoll     *valuesRoll

	// Code locations: the watched trees and what Dagit last showed.
	tree     *codeTree
	code     codeState
	codeRead bool

	// problems counts reported problems, for Sync's verdict.
	problems atomic.Int64
	rollouts sync.WaitGroup
	// waitRecovered and follow: a failed rollout is followed until it
	// recovers on its own (follow.go).
	waitRecovered RecoveryWaiter
	follow        followers
}

func newEngine(opts Options) (*engine, error) {
	if opts.Config == nil {
		return nil, errors.New("watch: Options.Config is required")
	}
	if opts.Client == nil {
		return nil, errors.New("watch: Options.Client is required")
	}
	var rep Reporter = discard{}
	if opts.Reporter != nil {
		rep = opts.Reporter
	}
	wait := opts.WaitRollout
	if wait == nil {
		wait = readiness.WaitRollout
	}
	waitRecovered := opts.WaitRecovered
	if waitRecovered == nil {
		waitRecovered = readiness.WaitRecovered
	}
	if opts.RolloutTimeout <= 0 {
		opts.RolloutTimeout = opts.Config.Timeout.Duration
	}
	e := &engine{
		opts:          opts,
		cfg:           opts.Config,
		client:        opts.Client,
		ns:            opts.Config.Namespace,
		rep:           &lockedReporter{r: rep},
		wait:          wait,
		waitRecovered: waitRecovered,
		sources:       sources.NewSyncer(opts.Client, opts.Config.Namespace),
		srcErr:        map[string]string{},
		api:           newAPIRecovery(),
	}
	e.api.doctor, e.api.rep = opts.Doctor, e.rep
	e.sources.Problem = e.problem
	e.sources.Info = e.rep.Info
	e.sources.Retryable = e.api.transient
	if opts.Code != nil {
		e.tree = newCodeTree(opts.Config)
	}
	return e, nil
}

func (e *engine) problem(err error) {
	e.problems.Add(1)
	e.rep.Problem(err)
}

// retry runs fn until it succeeds, fails for a reason other than an
// unreachable API server, or ctx ends; each retry is reported.
func (e *engine) retry(ctx context.Context, what string, fn func() error) error {
	b := kube.RetryBackoff(0)
	for {
		err := fn()
		if err == nil || !e.api.transient(err) {
			return err
		}
		d := b.Step()
		e.rep.Info(fmt.Sprintf("%s: API server unreachable (%v); retrying in %s", what, err, d))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// paths lists what the file watch must cover: files, and directories whose
// files count.
func (e *engine) paths() (files, dirs []string) {
	for _, f := range e.cfg.ValuesFiles {
		files = append(files, e.cfg.Resolve(f))
	}
	for _, f := range []string{e.cfg.Watch.Env.Dagit, e.cfg.Watch.Env.JobRunner} {
		if f != "" {
			files = append(files, e.cfg.Resolve(f))
		}
	}
	if e.cfg.Path != "" {
		files = append(files, e.cfg.Path)
	}
	for _, s := range e.cfg.Watch.Sources {
		p := e.cfg.Resolve(s.Path)
		if s.Format == config.FormatDir || s.Format == config.FormatAuto || s.Format == "" {
			dirs = append(dirs, p)
		} else {
			files = append(files, p)
		}
	}
	return files, dirs
}

func (e *engine) valuesInputs() []string {
	var out []string
	for _, f := range e.cfg.ValuesFiles {
		out = append(out, e.cfg.Resolve(f))
	}
	for _, f := range []string{e.cfg.Watch.Env.Dagit, e.cfg.Watch.Env.JobRunner} {
		if f != "" {
			out = append(out, e.cfg.Resolve(f))
		}
	}
	return out
}

// watch is the long-running loop: one goroutine turns file events into
// debounced batches, this one syncs them one after another. Batches that
// arrive while a sync runs are merged, so a burst never queues up stale
// applies; after a transient API error the batch is retried with backoff,
// re-reading the files, so the retry applies the latest content.
func (e *engine) watch(ctx context.Context) error {
	files, dirs := e.paths()
	fw, err := newFileWatch(files, dirs, e.tree)
	if err != nil {
		return err
	}
	defer fw.Close()

	var mu sync.Mutex
	var pending batch
	kick := make(chan struct{}, 1)
	deliver := func(b batch) {
		mu.Lock()
		pending.merge(b)
		mu.Unlock()
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	fsErr := make(chan error, 1)
	go e.collect(ctx, fw, deliver, fsErr)

	n := len(files) + len(dirs)
	var codeNames []string
	if e.tree != nil {
		for _, r := range e.tree.roots {
			codeNames = append(codeNames, r.loc.Name)
		}
	}
	if len(e.cfg.Watch.Sources) == 0 && len(e.valuesInputs()) == 0 && len(codeNames) == 0 {
		e.rep.Info("nothing to watch: declare watch.sources, watch.env, valuesFiles or codeLocations with a path in " + config.DefaultFile)
	}
	what := fmt.Sprintf("%d %s", n, text.Plural(n, "path", "paths"))
	if len(codeNames) > 0 {
		what += fmt.Sprintf(" and the code of %s %s", text.Plural(len(codeNames), "location", "locations"), strings.Join(codeNames, ", "))
	}
	e.rep.Info(fmt.Sprintf("watching %s for namespace %s (Ctrl-C to stop)", what, e.ns))
	deliver(batch{all: true, first: time.Now()})

	var retry batch
	b := kube.RetryBackoff(0)
	var retryC <-chan time.Time
	settled := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-fsErr:
			return err
		case <-kick:
		case <-retryC:
		}
		mu.Lock()
		cur := pending
		pending = batch{}
		mu.Unlock()
		cur.merge(retry)
		if cur.empty() {
			continue
		}
		err := e.sync(ctx, cur)
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			retry, retryC = batch{}, nil
			b = kube.RetryBackoff(0)
			if !settled {
				// Start-up (Helm and API scheme registration, the first
				// lists) leaves garbage the scavenger would return to the
				// OS only over minutes; watch then idles for hours, so hand
				// it back once now.
				debug.FreeOSMemory()
				settled = true
			}
		case e.api.transient(err):
			retry = cur
			d := b.Step()
			e.rep.Info(fmt.Sprintf("API server unreachable (%v); retrying in %s", err, d))
			retryC = time.After(d)
		default:
			// Not transient and not about one input: report and carry on,
			// the next change tries again.
			retry, retryC = batch{}, nil
			e.problem(err)
		}
	}
}

// testHooks let a test step collect by hand instead of racing its timer.
// A loaded CI machine can stall for longer than any debounce period at any
// point, so a test that waits "long enough" and then asserts that nothing
// (more) happened checks nothing, and one that expects a burst to be one
// batch fails now and then. With these hooks a test knows which file
// events collect has handled, and it decides when a burst is over.
type testHooks struct {
	// event is called after collect has handled each file event.
	event func(fsnotify.Event)
	// flush replaces the debounce timer: for each request, collect takes
	// the pending batch as if its quiet period were over, delivers it and
	// answers with it (an empty batch when nothing was pending).
	flush chan chan batch
}

// collect reads file events into the debouncer and delivers due batches.
func (e *engine) collect(ctx context.Context, fw *fileWatch, deliver func(batch), fsErr chan<- error) {
	var hooks testHooks
	if e.opts.hooks != nil {
		hooks = *e.opts.hooks
	}
	d := newDebouncer(e.cfg.Watch.Debounce.Duration)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	arm := func() {
		if hooks.flush != nil {
			return // the test says when a batch is due
		}
		if due := d.due(); !due.IsZero() {
			timer.Reset(max(time.Until(due), 0))
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-fw.w.Events:
			if !ok {
				return
			}
			hits, rewatch := fw.match(ev)
			codeHits, isCode, err := fw.matchCode(ev)
			if err != nil {
				e.rep.Problem(err)
			}
			if isCode {
				hits = append(hits, codeHits...)
			}
			if rewatch {
				if err := fw.ensure(); err != nil {
					e.rep.Problem(err)
				}
			}
			now := time.Now()
			for _, h := range hits {
				d.add(h, now)
			}
			if len(hits) > 0 {
				arm()
			}
			if hooks.event != nil {
				hooks.event(ev)
			}
		case err, ok := <-fw.w.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were dropped: any file may have changed.
				e.rep.Info("file event queue overflowed; re-reading every watched file")
				d.addAll(time.Now())
				arm()
				continue
			}
			select {
			case fsErr <- fmt.Errorf("file watch: %w", err):
			default:
			}
			return
		case <-timer.C:
			if b, ok := d.take(time.Now()); ok {
				deliver(b)
			}
			arm()
		case reply := <-hooks.flush: // nil, so never, unless a test steps
			b, _ := d.take(d.due())
			if !b.empty() {
				deliver(b)
			}
			reply <- b
		}
	}
}

// sync applies one batch: sources first (so that a chart upgrade that
// starts referencing an object finds it), then chart values.
func (e *engine) sync(ctx context.Context, b batch) error {
	if e.cfg.Path != "" && b.paths[e.cfg.Path] {
		e.rep.Info(fmt.Sprintf("%s changed: restart watch to use the new settings (watching continues with the old ones)", userfile.DisplayPath(e.cfg.Path)))
	}
	if err := e.syncSources(ctx, b); err != nil {
		return err
	}
	if err := e.syncValues(ctx, b); err != nil {
		return err
	}
	return e.syncCode(ctx, b)
}

// transient reports whether err is worth retrying with the same batch:
// the API server or Dagit could not be reached.

// finish waits for a change's rollouts in the background and reports it.
func (e *engine) finish(ctx context.Context, c *Change, ws []sources.Workload, first time.Time) {
	for _, w := range ws {
		c.Restarted = append(c.Restarted, w.ID())
	}
	if len(ws) == 0 {
		e.rep.Changed(*c)
		return
	}
	seq := e.follow.claim(ws)
	e.rollouts.Add(1)
	go func() {
		defer e.rollouts.Done()
		errs := make([]error, len(ws))
		var wg sync.WaitGroup
		for i, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = e.wait(ctx, e.client, e.ns, w.Kind, w.Name, e.opts.RolloutTimeout)
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return // stopping: no verdict to give
		}
		c.Ready = time.Since(first)
		if err := errors.Join(errs...); err != nil {
			c.RolloutErr = err
			e.problems.Add(1)
		}
		e.rep.Changed(*c)
		var failed []sources.Workload
		for i, err := range errs {
			if err != nil {
				failed = append(failed, ws[i])
			}
		}
		e.followFailed(ctx, c, failed, seq, first)
	}()
}
