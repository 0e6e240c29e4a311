package watch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/text"
)

// Release is the Helm release watch upgrades when chart values change.
// stack.Watch implements it with the chart package; tests use fakes.
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

// Images builds a code location's image and side-loads it into the
// cluster; stack implements it with the cluster package.
type Images interface {
	// BuildAndLoad builds the location's content-tagged image unless the
	// Docker engine has it, side-loads it into the nodes that lack it and
	// returns its reference and image ID.
	BuildAndLoad(ctx context.Context, loc config.CodeLocation) (ref, id string, err error)
}

// RolloutWaiter waits until a workload has rolled out its latest pod
// template; readiness.WaitRollout is the default.
type RolloutWaiter func(ctx context.Context, client kubernetes.Interface, namespace, kind, name string, timeout time.Duration) error

// Options configure Run and Sync.
type Options struct {
	// Config is the loaded dagster-dev.yaml (required).
	Config *config.Config
	// Client talks to the environment's cluster (required).
	Client kubernetes.Interface
	// Release, when set, receives chart upgrades for env values and other
	// values-file changes. Without it only ConfigMap/Secret sources sync.
	Release Release
	// Code reloads `path` code locations when their files change (and
	// every location once with Once). Without it code is not watched.
	Code CodeLocations
	// Images builds and side-loads the images of code locations with
	// build: when their dependency files change. Without it watch says
	// which command to run instead.
	Images Images
	// Reporter receives all output; nil discards it.
	Reporter Reporter
	// Once makes Run sync once, wait for the rollouts and return (--once).
	Once bool
	// RolloutTimeout bounds each rollout wait; default Config.Timeout.
	RolloutTimeout time.Duration
	// WaitRollout defaults to readiness.WaitRollout.
	WaitRollout RolloutWaiter
	// WaitRecovered follows a failed rollout until it recovers; default
	// readiness.WaitRecovered.
	WaitRecovered RecoveryWaiter
	// Doctor explains an API server that stays unreachable. Without it
	// watch only says the server is unreachable.
	Doctor Doctor
	// Identity is the lease holder name; default host/pid/random.
	Identity string

	// hooks step the file watch by hand; tests only, nil otherwise.
	hooks *testHooks
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
	l := &lease{client: e.client, namespace: e.ns, identity: opts.Identity, now: time.Now, api: e.api}
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
	// Stop the followers of failed rollouts and wait for them: none may
	// report after Run returned.
	cancel(nil)
	e.follow.wg.Wait()
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
	b := kube.RetryBackoff(0)
	for {
		err := e.sync(sctx, full)
		if err == nil {
			break
		}
		if !e.api.transient(err) || sctx.Err() != nil {
			e.rollouts.Wait()
			if sctx.Err() != nil && ctx.Err() == nil {
				return fmt.Errorf("API server unreachable for %s: %w", deadline, err)
			}
			return err
		}
		d := b.Step()
		e.rep.Info(fmt.Sprintf("API server unreachable (%v); retrying in %s", err, d))
		select {
		case <-sctx.Done():
		case <-time.After(d):
		}
	}
	e.rollouts.Wait()
	if n := e.problems.Load(); n > 0 {
		return fmt.Errorf("%w (%d %s, see above)", ErrProblems, n, text.Plural(int(n), "problem", "problems"))
	}
	return nil
}
