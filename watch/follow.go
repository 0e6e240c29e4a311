package watch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/sources"
)

// RecoveryWaiter waits, through failures, until a workload whose rollout
// failed has rolled out after all; readiness.WaitRecovered is the default.
type RecoveryWaiter func(ctx context.Context, client kubernetes.Interface, namespace, kind, name string) error

// followers keeps an eye on workloads whose rollout failed. The kubelet and
// the controllers keep retrying a failed rollout, and some causes go away
// without a new save (disk space freed, a ConfigMap created by hand, an
// image loaded later); the user, told the rollout failed, is then told it
// recovered. A later change that restarts the same workload takes over:
// its own report is the news, so the follower of the older one stops.
type followers struct {
	mu   sync.Mutex
	seq  uint64
	last map[string]uint64             // workload ID → newest change that restarted it
	stop map[string]context.CancelFunc // workload ID → its follower's cancel
	// wg counts the running followers; Run waits for them.
	wg sync.WaitGroup
}

// claim records that the change numbered by the returned sequence restarts
// ws, stopping the followers of older changes to them.
func (f *followers) claim(ws []sources.Workload) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		f.last, f.stop = map[string]uint64{}, map[string]context.CancelFunc{}
	}
	f.seq++
	for _, w := range ws {
		id := w.ID()
		f.last[id] = f.seq
		if cancel := f.stop[id]; cancel != nil {
			cancel()
			delete(f.stop, id)
		}
	}
	return f.seq
}

// start registers a follower of w for change seq, unless a newer change
// has restarted w since; ok is false then.
func (f *followers) start(ctx context.Context, w sources.Workload, seq uint64) (context.Context, func() bool, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := w.ID()
	if f.last[id] != seq {
		return nil, nil, false
	}
	fctx, cancel := context.WithCancel(ctx)
	f.stop[id] = cancel
	// done unregisters the follower and says whether it was still the
	// newest word on w (a newer change may have claimed it meanwhile).
	done := func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		current := f.last[id] == seq
		if current {
			delete(f.stop, id)
		}
		cancel()
		return current
	}
	return fctx, done, true
}

// followFailed follows each failed workload of change c (seq from claim)
// until it recovers, and reports when it does. Not in --once mode: that
// returns with its verdict.
func (e *engine) followFailed(ctx context.Context, c *Change, failed []sources.Workload, seq uint64, first time.Time) {
	if e.opts.Once {
		return
	}
	for _, w := range failed {
		fctx, done, ok := e.follow.start(ctx, w, seq)
		if !ok {
			continue
		}
		e.follow.wg.Add(1)
		go func() {
			defer e.follow.wg.Done()
			err := e.waitRecovered(fctx, e.client, e.ns, w.Kind, w.Name)
			if !done() || err != nil {
				// Superseded, stopped, or the workload is gone: nothing
				// the user needs to hear from this follower.
				return
			}
			e.rep.Info(fmt.Sprintf("%s recovered: Ready with %s → %s, %s after save (its rollout failed above; the cluster kept retrying)",
				w.ID(), strings.Join(c.Files, ", "), c.Object, roundDuration(time.Since(first))))
		}()
	}
}
