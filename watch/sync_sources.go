package watch

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/sources"
)

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
		obj, err := sources.LoadSource(e.cfg, s)
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
		prev, applied, err := e.sources.Apply(ctx, obj, s.Path)
		if err != nil {
			return err
		}
		if !applied {
			continue // unchanged content, or refused (reported)
		}
		c := &Change{Files: []string{obj.File}, Object: key, Created: prev == nil, Applied: time.Since(b.first)}
		if prev != nil {
			c.Added, c.Removed, c.Changed = KeyDiff(prev.Data, obj.Data)
		} else {
			c.Added, _, _ = KeyDiff(nil, obj.Data)
		}
		c.JobPods = slices.Contains(s.Attach, config.TargetJobRunner)
		e.pending = append(e.pending, c)
	}
	restarts, err := e.sources.Restart(ctx)
	if err != nil {
		return err
	}
	for _, c := range e.pending {
		var ws []sources.Workload
		for _, r := range restarts {
			if slices.Contains(r.Because, c.Object) && !r.Workload.Paused {
				ws = append(ws, r.Workload)
			}
		}
		e.finish(ctx, c, ws, b.first)
	}
	e.pending = nil
	return nil
}
