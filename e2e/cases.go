package e2e

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Helpers shared by the cases (one file each: case_<name>.go).

// lookup follows path through nested maps.
func lookup(m map[string]any, path ...string) (any, bool) {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// valueOr reads a chart value the user may have set, with the chart's default.
func valueOr[T any](m map[string]any, def T, path ...string) T {
	if v, ok := lookup(m, path...); ok {
		if t, ok := v.(T); ok {
			return t
		}
	}
	return def
}

func workloadIDs(ws []workload) string {
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.ID()
	}
	return strings.Join(ids, ", ")
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// cleanup undoes a case that changed the release: it restores the values
// and then removes the fixtures. Fixtures are removed only after a
// successful restore, because the release's pods reference them until then
// and would fail to start without them.
func (s *suite) cleanup(ctx context.Context, t *T, changed bool, created []fixtureObject) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout()+2*time.Minute)
	defer cancel()
	if changed {
		t.Logf("restoring release %s to its values", s.cfg.Release)
		if err := s.restore(cctx); err != nil {
			names := make([]string, len(created))
			for i, o := range created {
				names[i] = o.Kind + "/" + o.Name
			}
			return fmt.Errorf("%w\nthe fixtures %s were kept because the release may still use them; run `dagster-dev up` to restore the release, then delete them (label %s=%s)",
				err, strings.Join(names, ", "), fixtureLabel, fixtureLabelValue)
		}
	}
	return s.kube.deleteFixtures(cctx, created)
}
