package watch

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"time"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/userfile"
	"github.com/dagster-dev/dagster-dev/internal/values"
	"github.com/dagster-dev/dagster-dev/sources"
)

// valuesRoll is a chart upgrade whose rollouts are not found yet: the pod
// template hashes from before it, and the change to report.
type valuesRoll struct {
	before map[string]string // workload ID -> template hash
	change *Change
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
			changedFiles = append(changedFiles, userfile.DisplayPath(p))
		}
	}
	if e.valuesRoll != nil {
		// The last upgrade went through but its rollouts were not found yet.
		if err := e.finishValues(ctx, b.first); err != nil {
			return err
		}
	}
	built, buildFiles, ok := e.buildImages(ctx, b)
	if !ok {
		return nil
	}
	changedFiles = append(changedFiles, buildFiles...)
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
	// What up learnt from the side-loaded images is not in the files.
	values.CarrySideLoaded(vals, e.deployed)
	for loc, id := range built {
		values.SetLocationImageID(vals, loc, id)
	}
	want, err := canonical(vals)
	if err != nil {
		e.problem(fmt.Errorf("chart values: %w", err))
		return nil
	}
	if reflect.DeepEqual(want, e.deployed) {
		return nil
	}

	before, err := sources.ListWorkloads(ctx, e.client, e.ns)
	if err != nil {
		return err
	}
	if err := e.opts.Release.Upgrade(ctx, vals); err != nil {
		if e.api.transient(err) {
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

// buildImages builds and side-loads the images of the locations with
// build: whose dependency files the batch changed (every one on a full
// sync: files may have changed while watch was not running). It returns
// the image IDs by location and the changed files; ok is false when a
// build failed, which was reported: the release keeps its values.
func (e *engine) buildImages(ctx context.Context, b batch) (ids map[string]string, files []string, ok bool) {
	if e.opts.Images == nil {
		return nil, nil, true
	}
	ids = map[string]string{}
	for _, cb := range e.codeChanges(b) {
		if cb.root == nil || cb.root.loc.Build == nil || (len(cb.deps) == 0 && !cb.fullReload) {
			continue
		}
		loc := cb.root.loc
		if len(cb.deps) > 0 {
			e.rep.Info(fmt.Sprintf("code location %s: %s changed: building its image", loc.Name, fileList(cb.deps)))
		}
		ref, id, err := e.opts.Images.BuildAndLoad(ctx, loc)
		if err != nil {
			e.problem(fmt.Errorf("%w; release %s keeps the location's current image", err, e.opts.Release.Name()))
			return nil, nil, false
		}
		ids[loc.Name] = id
		if len(cb.deps) > 0 {
			e.rep.Info(fmt.Sprintf("code location %s: image %s ready in the nodes %s after save", loc.Name, ref, roundDuration(time.Since(b.first))))
			for _, d := range cb.deps {
				files = append(files, filepath.Join(userfile.DisplayPath(cb.root.dir), d))
			}
		}
	}
	return ids, files, true
}

// finishValues finds the workloads the upgrade changed and waits for them.
func (e *engine) finishValues(ctx context.Context, first time.Time) error {
	after, err := sources.ListWorkloads(ctx, e.client, e.ns)
	if err != nil {
		return err
	}
	var rolled []sources.Workload
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
