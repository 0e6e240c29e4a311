package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/readiness"
	"github.com/dagster-dev/dagster-dev/internal/values"
)

// Release is the Helm release watch upgrades when chart values change.
// ChartRelease implements it with the chart package; tests use fakes.
type Release interface {
	// Name is the release name, for messages.
	Name() string
	// Values returns the user-supplied values the deployed release was
	// installed or last upgraded with; installed is false when there is no
	// release yet.
	Values(ctx context.Context) (vals map[string]any, installed bool, err error)
	// Upgrade upgrades the installed release to vals and returns without
	// waiting for the rollouts, which watch waits for itself.
	Upgrade(ctx context.Context, vals map[string]any) error
}

// RolloutWaiter waits until a workload has rolled out its latest pod
// template; readiness.WaitRollout is the default.
type RolloutWaiter func(ctx context.Context, client kubernetes.Interface, namespace, kind, name string, timeout time.Duration) error

// Options configure Run, Sync and ApplySources.
type Options struct {
	// Config is the loaded dagster-dev.yaml (required).
	Config *config.Config
	// Client talks to the environment's cluster (required).
	Client kubernetes.Interface
	// Release, when set, receives chart upgrades for env values and other
	// values-file changes. Without it only ConfigMap/Secret sources sync.
	Release Release
	// Reporter receives all output; nil discards it.
	Reporter Reporter
	// Once makes Run sync once, wait for the rollouts and return (--once).
	Once bool
	// RolloutTimeout bounds each rollout wait; default Config.Timeout.
	RolloutTimeout time.Duration
	// WaitRollout defaults to readiness.WaitRollout.
	WaitRollout RolloutWaiter
	// Identity is the lease holder name; default host/pid/random.
	Identity string
}

// ErrProblems is returned (wrapped) by Sync and Run with Once when some
// input was bad or a rollout failed; the details went to the Reporter.
var ErrProblems = errors.New("watch: some changes were not applied")

// Run is `dagster-dev watch`: it takes the environment's lease (refusing
// to run next to another watch), syncs everything once, then applies each
// change of the watched files until ctx is cancelled, which is a clean
// exit (nil). With Options.Once it is Sync.
func Run(ctx context.Context, opts Options) error {
	if opts.Once {
		return Sync(ctx, opts)
	}
	e, err := newEngine(opts)
	if err != nil {
		return err
	}
	l := &lease{client: e.client, namespace: e.ns, identity: opts.Identity, now: time.Now}
	if l.identity == "" {
		l.identity = defaultIdentity()
	}
	if err := e.retry(ctx, "taking the watch lease", func() error { return l.acquire(ctx) }); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer l.release()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		if err := l.keep(ctx, e.rep); err != nil {
			cancel(err)
		}
	}()
	err = e.watch(ctx)
	e.rollouts.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// Sync is `dagster-dev watch --once`: one full sync of every source and
// the chart values, then it waits for the rollouts it triggered. API errors
// that look transient are retried until Config.Timeout. It returns an
// error wrapping ErrProblems if any input was bad or a rollout failed.
func Sync(ctx context.Context, opts Options) error {
	e, err := newEngine(opts)
	if err != nil {
		return err
	}
	deadline := e.cfg.Timeout.Duration
	sctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	full := batch{all: true, first: time.Now()}
	var b backoff
	for {
		err := e.sync(sctx, full)
		if err == nil {
			break
		}
		if !Transient(err) || sctx.Err() != nil {
			e.rollouts.Wait()
			if sctx.Err() != nil && ctx.Err() == nil {
				return fmt.Errorf("API server unreachable for %s: %w", deadline, err)
			}
			return err
		}
		d := b.step()
		e.rep.Info(fmt.Sprintf("API server unreachable (%v); retrying in %s", err, d))
		select {
		case <-sctx.Done():
		case <-time.After(d):
		}
	}
	e.rollouts.Wait()
	if n := e.problems.Load(); n > 0 {
		return fmt.Errorf("%w (%d %s, see above)", ErrProblems, n, plural(int(n), "problem", "problems"))
	}
	return nil
}

// ApplySources applies every ConfigMap/Secret source that differs from the
// cluster and restarts the workloads that read a changed one, without
// waiting. `up` calls it before installing the chart, so that the objects
// the chart references exist. It validates every source first and applies
// nothing if any is bad, returning all their errors. Chart values are not
// touched; Options.Release is ignored.
func ApplySources(ctx context.Context, opts Options) ([]Change, error) {
	opts.Release = nil
	e, err := newEngine(opts)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, s := range e.cfg.Watch.Sources {
		if _, err := LoadSource(e.cfg, s); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var out []Change
	e.emit = func(c Change) { out = append(out, c) }
	if err := e.syncSources(ctx, batch{all: true, first: time.Now()}); err != nil {
		return out, err
	}
	return out, nil
}

// engine is the state of one watch. sync and everything it calls run on
// one goroutine; rollout waits run on their own and only report.
type engine struct {
	opts   Options
	cfg    *config.Config
	client kubernetes.Interface
	ns     string
	rep    Reporter
	wait   RolloutWaiter
	// emit, when set, receives changes instead of waiting for their
	// rollouts (ApplySources).
	emit func(Change)

	// objects is the content of each watched object in the cluster, as
	// last applied or read: the base for "unchanged" and for key diffs.
	objects map[string]*Object
	// known marks objects whose cluster state was read at least once;
	// absent ones are known with a nil entry in objects.
	known map[string]bool
	// srcErr is the last reported error per source, so a file that stays
	// broken is reported when touched, not on every unrelated sync.
	srcErr map[string]string
	// unrolled are objects applied whose workloads are not patched yet
	// (the API failed in between); the next sync finishes the job.
	unrolled map[string]bool
	// pending are changes applied but not yet handed to a rollout wait.
	pending []*Change

	// Chart values state.
	valuesErr      string
	deployed       map[string]any // canonical (JSON) form; nil until read
	releaseMissing bool
	valuesRoll     *valuesRoll

	// problems counts reported problems, for Sync's verdict.
	problems atomic.Int64
	rollouts sync.WaitGroup
}

type valuesRoll struct {
	before map[string]string // workload ID -> template hash
	change *Change
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
	if opts.RolloutTimeout <= 0 {
		opts.RolloutTimeout = opts.Config.Timeout.Duration
	}
	return &engine{
		opts:     opts,
		cfg:      opts.Config,
		client:   opts.Client,
		ns:       opts.Config.Namespace,
		rep:      &lockedReporter{r: rep},
		wait:     wait,
		objects:  map[string]*Object{},
		known:    map[string]bool{},
		srcErr:   map[string]string{},
		unrolled: map[string]bool{},
	}, nil
}

func (e *engine) problem(err error) {
	e.problems.Add(1)
	e.rep.Problem(err)
}

// retry runs fn until it succeeds, fails for a reason other than an
// unreachable API server, or ctx ends; each retry is reported.
func (e *engine) retry(ctx context.Context, what string, fn func() error) error {
	var b backoff
	for {
		err := fn()
		if err == nil || !Transient(err) {
			return err
		}
		d := b.step()
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
	fw, err := newFileWatch(files, dirs)
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
	if len(e.cfg.Watch.Sources) == 0 && len(e.valuesInputs()) == 0 {
		e.rep.Info("nothing to watch: declare watch.sources, watch.env or valuesFiles in " + config.DefaultFile)
	}
	e.rep.Info(fmt.Sprintf("watching %d %s for namespace %s (Ctrl-C to stop)", n, plural(n, "path", "paths"), e.ns))
	deliver(batch{all: true, first: time.Now()})

	var retry batch
	var b backoff
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
			b.reset()
			if !settled {
				// Start-up (Helm and API scheme registration, the first
				// lists) leaves garbage the scavenger would return to the
				// OS only over minutes; watch then idles for hours, so hand
				// it back once now.
				debug.FreeOSMemory()
				settled = true
			}
		case Transient(err):
			retry = cur
			d := b.step()
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

// collect reads file events into the debouncer and delivers due batches.
func (e *engine) collect(ctx context.Context, fw *fileWatch, deliver func(batch), fsErr chan<- error) {
	d := newDebouncer(e.cfg.Watch.Debounce.Duration)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	arm := func() {
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
		}
	}
}

// sync applies one batch: sources first (so that a chart upgrade that
// starts referencing an object finds it), then chart values.
func (e *engine) sync(ctx context.Context, b batch) error {
	if e.cfg.Path != "" && b.paths[e.cfg.Path] {
		e.rep.Info(fmt.Sprintf("%s changed: restart watch to use the new settings (watching continues with the old ones)", values.DisplayPath(e.cfg.Path)))
	}
	if err := e.syncSources(ctx, b); err != nil {
		return err
	}
	return e.syncValues(ctx, b)
}

func touches(b batch, path string) bool { return b.all || b.paths[path] }

// syncSources loads the sources the batch touches, applies those whose
// content differs from the cluster, and restarts their readers.
func (e *engine) syncSources(ctx context.Context, b batch) error {
	for _, s := range e.cfg.Watch.Sources {
		path := e.cfg.Resolve(s.Path)
		if !touches(b, path) {
			continue
		}
		key := s.Kind + "/" + s.Name
		obj, err := LoadSource(e.cfg, s)
		if err != nil {
			if msg := err.Error(); msg != e.srcErr[key] || b.paths[path] || b.all {
				e.srcErr[key] = msg
				e.problem(fmt.Errorf("%w; nothing applied, %s keeps its last good content", err, key))
			}
			continue
		}
		if _, wasBad := e.srcErr[key]; wasBad {
			delete(e.srcErr, key)
			e.rep.Info(fmt.Sprintf("%s: fixed", obj.File))
		}
		if !e.known[key] {
			live, err := getLive(ctx, e.client, e.ns, s.Kind, s.Name)
			if err != nil {
				return fmt.Errorf("reading %s: %w", key, err)
			}
			e.objects[key], e.known[key] = live, true
		}
		prev := e.objects[key]
		if prev != nil && prev.Hash() == obj.Hash() {
			continue // unchanged content: no apply, no restart
		}
		if err := applyObject(ctx, e.client, e.ns, obj, s.Path); err != nil {
			if Transient(err) {
				return fmt.Errorf("applying %s: %w", key, err)
			}
			e.problem(fmt.Errorf("%s: applying %s: %w", obj.File, key, err))
			continue
		}
		c := &Change{Files: []string{obj.File}, Object: key, Created: prev == nil, Applied: time.Since(b.first)}
		if prev != nil {
			c.Added, c.Removed, c.Changed = KeyDiff(prev.Data, obj.Data)
		} else {
			c.Added, _, _ = KeyDiff(nil, obj.Data)
		}
		c.JobPods = slices.Contains(s.Attach, config.TargetJobRunner)
		e.objects[key] = obj
		e.unrolled[key] = true
		e.pending = append(e.pending, c)
	}
	if len(e.unrolled) == 0 {
		return nil
	}

	workloads, err := ListWorkloads(ctx, e.client, e.ns)
	if err != nil {
		return err
	}
	restarts := PlanRestarts(workloads, e.unrolled, e.objects)
	for _, r := range restarts {
		if r.Workload.Paused {
			e.rep.Info(fmt.Sprintf("%s is paused: its pod template was updated but it will not roll until resumed", r.Workload.ID()))
		}
		if err := patchTemplate(ctx, e.client, e.ns, r.Workload, r.Hash); err != nil {
			if Transient(err) {
				return fmt.Errorf("restarting %s: %w", r.Workload.ID(), err)
			}
			e.problem(fmt.Errorf("restarting %s: %w", r.Workload.ID(), err))
		}
	}
	for _, c := range e.pending {
		var ws []Workload
		for _, r := range restarts {
			if slices.Contains(r.Because, c.Object) && !r.Workload.Paused {
				ws = append(ws, r.Workload)
			}
		}
		e.finish(ctx, c, ws, b.first)
	}
	e.pending = nil
	e.unrolled = map[string]bool{}
	return nil
}

// finish waits for a change's rollouts in the background and reports it.
func (e *engine) finish(ctx context.Context, c *Change, ws []Workload, first time.Time) {
	for _, w := range ws {
		c.Restarted = append(c.Restarted, w.ID())
	}
	if e.emit != nil {
		e.emit(*c)
		return
	}
	if len(ws) == 0 {
		e.rep.Changed(*c)
		return
	}
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
	}()
}

// syncValues upgrades the chart release when the values for the config
// differ from the deployed release's.
func (e *engine) syncValues(ctx context.Context, b batch) error {
	if e.opts.Release == nil {
		return nil
	}
	var changedFiles []string
	for _, p := range e.valuesInputs() {
		if b.paths[p] {
			changedFiles = append(changedFiles, values.DisplayPath(p))
		}
	}
	if e.valuesRoll != nil {
		// The last upgrade went through but its rollouts were not found yet.
		if err := e.finishValues(ctx, b.first); err != nil {
			return err
		}
	}
	if !b.all && len(changedFiles) == 0 {
		return nil
	}
	vals, err := values.For(e.cfg)
	if err != nil {
		if msg := err.Error(); msg != e.valuesErr || len(changedFiles) > 0 {
			e.valuesErr = msg
			e.problem(fmt.Errorf("%w; nothing applied, release %s keeps its values", err, e.opts.Release.Name()))
		}
		return nil
	}
	if e.valuesErr != "" {
		e.valuesErr = ""
		e.rep.Info("chart values: fixed")
	}
	want, err := canonical(vals)
	if err != nil {
		e.problem(fmt.Errorf("chart values: %w", err))
		return nil
	}
	if e.deployed == nil {
		cur, installed, err := e.opts.Release.Values(ctx)
		if err != nil {
			return fmt.Errorf("reading release %s: %w", e.opts.Release.Name(), err)
		}
		if !installed {
			if !e.releaseMissing {
				e.rep.Info(fmt.Sprintf("release %s is not installed in namespace %s: env and values changes apply once `dagster-dev up` has installed it", e.opts.Release.Name(), e.ns))
			}
			e.releaseMissing = true
			return nil
		}
		e.releaseMissing = false
		if e.deployed, err = canonical(cur); err != nil {
			return fmt.Errorf("reading release %s: %w", e.opts.Release.Name(), err)
		}
	}
	if reflect.DeepEqual(want, e.deployed) {
		return nil
	}

	before, err := ListWorkloads(ctx, e.client, e.ns)
	if err != nil {
		return err
	}
	if err := e.opts.Release.Upgrade(ctx, vals); err != nil {
		if Transient(err) {
			return fmt.Errorf("upgrading release %s: %w", e.opts.Release.Name(), err)
		}
		// The release may be half-upgraded; read it again next time.
		e.deployed = nil
		e.problem(fmt.Errorf("upgrading release %s: %w", e.opts.Release.Name(), err))
		return nil
	}
	if len(changedFiles) == 0 {
		changedFiles = []string{"chart values"}
	}
	c := &Change{Files: changedFiles, Object: "release " + e.opts.Release.Name(), Applied: time.Since(b.first)}
	c.Added, c.Removed, c.Changed = valuesDiff(e.deployed, want)
	if m, ok := want[config.TargetJobRunner].(map[string]any); ok {
		old, _ := e.deployed[config.TargetJobRunner].(map[string]any)
		c.JobPods = !reflect.DeepEqual(m["env"], old["env"]) ||
			!reflect.DeepEqual(m[values.KeyEnvConfigMaps], old[values.KeyEnvConfigMaps]) ||
			!reflect.DeepEqual(m[values.KeyEnvSecrets], old[values.KeyEnvSecrets])
	}
	e.deployed = want
	roll := &valuesRoll{before: map[string]string{}, change: c}
	for _, w := range before {
		roll.before[w.ID()] = w.Template
	}
	e.valuesRoll = roll
	return e.finishValues(ctx, b.first)
}

// finishValues finds the workloads the upgrade changed and waits for them.
func (e *engine) finishValues(ctx context.Context, first time.Time) error {
	after, err := ListWorkloads(ctx, e.client, e.ns)
	if err != nil {
		return err
	}
	var rolled []Workload
	for _, w := range after {
		if prev, ok := e.valuesRoll.before[w.ID()]; !ok || prev != w.Template {
			rolled = append(rolled, w)
		}
	}
	c := e.valuesRoll.change
	e.valuesRoll = nil
	e.finish(ctx, c, rolled, first)
	return nil
}

// canonical is the JSON form of values: what Helm stores and gives back,
// so int 8080 from a YAML file and float64 8080 from a release compare equal.
func canonical(v map[string]any) (map[string]any, error) {
	if v == nil {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("values are not serialisable: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

// valuesDiff describes a values change without showing values: env keys of
// dagit.env and job_runner.env as "dagit.env.KEY", any other changed leaf
// as its dotted path.
func valuesDiff(old, cur map[string]any) (added, removed, changed []string) {
	var walk func(prefix string, a, b any)
	walk = func(prefix string, a, b any) {
		am, aok := a.(map[string]any)
		bm, bok := b.(map[string]any)
		if aok && bok {
			for k, bv := range bm {
				p := join(prefix, k)
				av, ok := am[k]
				if !ok {
					added = append(added, p)
					continue
				}
				walk(p, av, bv)
			}
			for k := range am {
				if _, ok := bm[k]; !ok {
					removed = append(removed, join(prefix, k))
				}
			}
			return
		}
		if !reflect.DeepEqual(a, b) {
			changed = append(changed, prefix)
		}
	}
	walk("", old, cur)
	sort.Strings(added)
	sort.Strings(removed)
	sort.Strings(changed)
	return added, removed, changed
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
