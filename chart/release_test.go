package chart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// These tests exercise Helm's release bookkeeping (revisions, statuses, labels), not Kubernetes:
// releases live in Helm's in-memory storage driver and the kube client is Helm's fake, which
// accepts every object without a cluster. What happens to the objects is the kind test's job.
func fakeConfig(t *testing.T, kc kube.Interface) *action.Configuration {
	t.Helper()
	mem := driver.NewMemory()
	mem.SetNamespace("dagster")
	if kc == nil {
		kc = &kubefake.PrintingKubeClient{Out: io.Discard}
	}
	return &action.Configuration{
		Releases:     storage.Init(mem),
		KubeClient:   kc,
		Capabilities: chartutil.DefaultCapabilities,
		Log:          t.Logf,
	}
}

func apply(t *testing.T, cfg *action.Configuration, vals map[string]any) *Result {
	t.Helper()
	res, err := (&Apply{Config: cfg, Namespace: "dagster", ReleaseName: "dagster", Values: vals}).Run(context.Background())
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

func history(t *testing.T, cfg *action.Configuration) map[int]release.Status {
	t.Helper()
	h, err := cfg.Releases.History("dagster")
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		t.Fatal(err)
	}
	out := map[int]release.Status{}
	for _, r := range h {
		out[r.Version] = r.Info.Status
	}
	return out
}

func TestApplyInstallUpgradeUnchanged(t *testing.T) {
	cfg := fakeConfig(t, nil)
	v1 := values(t, "dagit: {env: {A: one}}")

	res := apply(t, cfg, v1)
	if res.Action != Installed || res.Revision != 1 || res.Recovered != "" {
		t.Fatalf("first apply = %+v", res)
	}
	if !strings.Contains(res.Notes, "Reach Dagit") {
		t.Errorf("no NOTES in the result: %q", res.Notes)
	}
	rel, err := cfg.Releases.Last("dagster")
	if err != nil {
		t.Fatal(err)
	}
	if rel.Labels[DigestLabel] != res.Digest || len(res.Digest) != 40 {
		t.Errorf("stored digest %q, result digest %q", rel.Labels[DigestLabel], res.Digest)
	}

	// Same chart, same values (a fresh but equal map): nothing to do, no new revision.
	res = apply(t, cfg, values(t, "dagit: {env: {A: one}}"))
	if res.Action != Unchanged || res.Revision != 1 {
		t.Errorf("repeated apply = %+v", res)
	}
	if h := history(t, cfg); len(h) != 1 {
		t.Errorf("history after an unchanged apply = %v", h)
	}

	res = apply(t, cfg, values(t, "dagit: {env: {A: two}}"))
	if res.Action != Upgraded || res.Revision != 2 {
		t.Errorf("apply with new values = %+v", res)
	}
	if h := history(t, cfg); h[1] != release.StatusSuperseded || h[2] != release.StatusDeployed {
		t.Errorf("history = %v", h)
	}
	// The upgrade used exactly the given values.
	rel, _ = cfg.Releases.Last("dagster")
	if got := rel.Config["dagit"].(map[string]any)["env"].(map[string]any)["A"]; got != "two" {
		t.Errorf("stored values A = %v", got)
	}

	// Back to no values at all: Helm would reuse the last values; Apply resets them.
	res = apply(t, cfg, nil)
	if res.Action != Upgraded || res.Revision != 3 {
		t.Errorf("apply without values = %+v", res)
	}
	rel, _ = cfg.Releases.Last("dagster")
	if len(rel.Config) != 0 {
		t.Errorf("stored values after applying none = %v", rel.Config)
	}
	if res = apply(t, cfg, map[string]any{}); res.Action != Unchanged {
		t.Errorf("nil and empty values differ: %+v", res)
	}
}

// A changed chart file (even one that renders the same) is a change.
func TestApplyUpgradesWhenChartChanges(t *testing.T) {
	cfg := fakeConfig(t, nil)
	apply(t, cfg, nil)
	ch, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ch.Raw {
		if f.Name == "values.yaml" {
			f.Data = append(append([]byte(nil), f.Data...), []byte("\n# edited\n")...)
		}
	}
	res, err := (&Apply{Config: cfg, Namespace: "dagster", ReleaseName: "dagster", Chart: ch}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != Upgraded || res.Revision != 2 {
		t.Errorf("apply of an edited chart = %+v", res)
	}
}

// After a failed upgrade the deployed revision's digest must not count: the cluster may hold the
// failed revision's objects.
func TestApplyAfterFailedRevisionUpgrades(t *testing.T) {
	cfg := fakeConfig(t, nil)
	apply(t, cfg, nil)
	apply(t, cfg, values(t, "dagit: {replicaCount: 2}"))
	last, _ := cfg.Releases.Last("dagster")
	last.SetStatus(release.StatusFailed, "simulated failure")
	if err := cfg.Releases.Update(last); err != nil {
		t.Fatal(err)
	}
	res := apply(t, cfg, values(t, "dagit: {replicaCount: 2}"))
	if res.Action != Upgraded || res.Revision != 3 {
		t.Errorf("apply after a failed revision = %+v", res)
	}
}

// An install that was interrupted leaves only failed revisions: the next apply upgrades without
// the pre-upgrade migrate hook, which would wait for a database that was never created. Once a
// revision was deployed the hook runs again.
func TestApplyAfterInterruptedInstallSkipsMigrateHook(t *testing.T) {
	cfg := fakeConfig(t, nil)
	first := apply(t, cfg, nil)
	last, _ := cfg.Releases.Last("dagster")
	last.SetStatus(release.StatusFailed, "interrupted")
	if err := cfg.Releases.Update(last); err != nil {
		t.Fatal(err)
	}
	res := apply(t, cfg, nil)
	if res.Action != Upgraded || res.Revision != first.Revision+1 {
		t.Fatalf("apply after an interrupted install = %+v", res)
	}
	if ran := migrateHookRan(t, cfg); ran {
		t.Error("the migrate hook ran on a release that was never deployed")
	}
	apply(t, cfg, values(t, "dagit: {replicaCount: 2}"))
	if ran := migrateHookRan(t, cfg); !ran {
		t.Error("the migrate hook did not run on an upgrade of a deployed release")
	}
}

// migrateHookRan reports whether the latest revision ran its pre-upgrade hooks.
func migrateHookRan(t *testing.T, cfg *action.Configuration) bool {
	t.Helper()
	last, err := cfg.Releases.Last("dagster")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, h := range last.Hooks {
		for _, ev := range h.Events {
			if ev == release.HookPreUpgrade {
				found = true
				if h.LastRun.Phase == release.HookPhaseSucceeded {
					return true
				}
			}
		}
	}
	if !found {
		t.Fatal("the chart has no pre-upgrade hook")
	}
	return false
}

func TestApplyRejectsBadValues(t *testing.T) {
	cfg := fakeConfig(t, nil)
	_, err := (&Apply{Config: cfg, Namespace: "dagster", ReleaseName: "dagster",
		Values: values(t, "dagit: {service: {type: Nope}}")}).Run(context.Background())
	var ve *ValuesError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "dagit.service.type") {
		t.Errorf("err = %v, want a ValuesError naming dagit.service.type", err)
	}
	if h := history(t, cfg); len(h) != 0 {
		t.Errorf("a rejected install left history %v", h)
	}
}

// storePending adds a revision in a pending state, as an interrupted helm run leaves it.
func storePending(t *testing.T, cfg *action.Configuration, version int, status release.Status, vals map[string]any) {
	t.Helper()
	ch, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	rel := &release.Release{
		Name:      "dagster",
		Namespace: "dagster",
		Version:   version,
		Chart:     ch,
		Config:    vals,
		Info:      &release.Info{Status: status, Description: "interrupted"},
		Labels:    map[string]string{DigestLabel: "0000"},
	}
	if err := cfg.Releases.Create(rel); err != nil {
		t.Fatal(err)
	}
}

func TestApplyRecoversPendingUpgrade(t *testing.T) {
	for _, pending := range []release.Status{release.StatusPendingUpgrade, release.StatusPendingRollback} {
		t.Run(string(pending), func(t *testing.T) {
			cfg := fakeConfig(t, nil)
			v := values(t, "dagit: {env: {A: one}}")
			apply(t, cfg, v)
			storePending(t, cfg, 2, pending, values(t, "dagit: {env: {A: half-done}}"))

			// Applying the deployed values again: the rollback restores revision 1's digest, so
			// after the repair there is nothing left to do.
			res := apply(t, cfg, v)
			if res.Action != Unchanged || res.Revision != 3 {
				t.Errorf("apply = %+v", res)
			}
			if !strings.Contains(res.Recovered, "revision 2 was left "+string(pending)) || !strings.Contains(res.Recovered, "rolled back to revision 1") {
				t.Errorf("Recovered = %q", res.Recovered)
			}
			h := history(t, cfg)
			if h[1] != release.StatusSuperseded || h[2] != release.StatusFailed || h[3] != release.StatusDeployed {
				t.Errorf("history = %v", h)
			}
			for v, st := range h {
				if st.IsPending() {
					t.Errorf("revision %d still %s", v, st)
				}
			}
			// And new values upgrade normally from there.
			if res = apply(t, cfg, values(t, "dagit: {env: {A: two}}")); res.Action != Upgraded || res.Revision != 4 {
				t.Errorf("next apply = %+v", res)
			}
		})
	}
}

func TestApplyRecoversPendingInstall(t *testing.T) {
	cfg := fakeConfig(t, nil)
	storePending(t, cfg, 1, release.StatusPendingInstall, nil)
	res := apply(t, cfg, nil)
	if res.Action != Installed || res.Revision != 1 {
		t.Errorf("apply = %+v", res)
	}
	if !strings.Contains(res.Recovered, "never deployed; uninstalled it") {
		t.Errorf("Recovered = %q", res.Recovered)
	}
	if h := history(t, cfg); len(h) != 1 || h[1] != release.StatusDeployed {
		t.Errorf("history = %v", h)
	}
}

func TestApplyFinishesInterruptedUninstall(t *testing.T) {
	cfg := fakeConfig(t, nil)
	apply(t, cfg, nil)
	last, _ := cfg.Releases.Last("dagster")
	last.SetStatus(release.StatusUninstalling, "interrupted")
	if err := cfg.Releases.Update(last); err != nil {
		t.Fatal(err)
	}
	res := apply(t, cfg, nil)
	if res.Action != Installed || res.Revision != 1 || !strings.Contains(res.Recovered, "finished the uninstall") {
		t.Errorf("apply = %+v", res)
	}
}

// gate holds one step of an install or upgrade until the test opens it.
type gate struct {
	entered chan struct{}
	open    chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{entered: make(chan struct{}), open: make(chan struct{})} }

func (g *gate) wait() {
	g.once.Do(func() { close(g.entered) })
	<-g.open
}

func (g *gate) release() {
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// blockingKubeClient is Helm's fake kube client whose Update waits at the gate: an upgrade stuck
// applying its objects.
type blockingKubeClient struct {
	*kubefake.PrintingKubeClient
	gate *gate
}

func (b *blockingKubeClient) Update(o, m kube.ResourceList, force bool) (*kube.Result, error) {
	b.gate.wait()
	return b.PrintingKubeClient.Update(o, m, force)
}

// blockingDriver is Helm's in-memory driver whose Update of a revision to "deployed" waits at the
// gate: an install stuck before it could record its success. (The fake kube client builds no
// objects from a manifest, so an install never calls its Create.) Unlike the plain memory driver it
// stores and returns copies, as a real driver does by serialising, so the stored state is what was
// last written, not whatever Helm has since done to its own object.
type blockingDriver struct {
	*driver.Memory
	gate *gate
}

func copyRelease(r *release.Release) *release.Release {
	c := *r
	if r.Info != nil {
		info := *r.Info
		c.Info = &info
	}
	c.Labels = map[string]string{}
	for k, v := range r.Labels {
		c.Labels[k] = v
	}
	return &c
}

func copyReleases(rs []*release.Release, err error) ([]*release.Release, error) {
	out := make([]*release.Release, len(rs))
	for i, r := range rs {
		out[i] = copyRelease(r)
	}
	return out, err
}

func (d *blockingDriver) Create(key string, rls *release.Release) error {
	return d.Memory.Create(key, copyRelease(rls))
}

func (d *blockingDriver) Update(key string, rls *release.Release) error {
	if rls.Info.Status == release.StatusDeployed {
		d.gate.wait()
	}
	return d.Memory.Update(key, copyRelease(rls))
}

func (d *blockingDriver) Get(key string) (*release.Release, error) {
	r, err := d.Memory.Get(key)
	if err != nil {
		return nil, err
	}
	return copyRelease(r), nil
}

func (d *blockingDriver) List(filter func(*release.Release) bool) ([]*release.Release, error) {
	return copyReleases(d.Memory.List(filter))
}

func (d *blockingDriver) Query(labels map[string]string) ([]*release.Release, error) {
	return copyReleases(d.Memory.Query(labels))
}

// Ctrl-C in the middle of an install or upgrade must not leave a pending release, which would
// block every later helm operation ("another operation is in progress").
func TestApplyCancelledLeavesNoPendingRelease(t *testing.T) {
	for _, tc := range []struct {
		name    string
		upgrade bool
		wantRev int
	}{
		{"install", false, 1},
		{"upgrade", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate()
			t.Cleanup(g.release)
			cfg := fakeConfig(t, nil)
			if tc.upgrade {
				apply(t, cfg, nil)
				cfg.KubeClient = &blockingKubeClient{PrintingKubeClient: &kubefake.PrintingKubeClient{Out: io.Discard}, gate: g}
			} else {
				mem := driver.NewMemory()
				mem.SetNamespace("dagster")
				cfg.Releases = storage.Init(&blockingDriver{Memory: mem, gate: g})
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := (&Apply{Config: cfg, Namespace: "dagster", ReleaseName: "dagster",
					Values: values(t, "dagit: {replicaCount: 3}")}).Run(ctx)
				done <- err
			}()
			select {
			case <-g.entered:
			case <-time.After(10 * time.Second):
				t.Fatal("the apply never reached the gate")
			}
			// The scenario is real: right now the revision is pending.
			if last, err := cfg.Releases.Last("dagster"); err != nil || last.Version != tc.wantRev || !last.Info.Status.IsPending() {
				t.Fatalf("before cancellation: %v %v", last.Info.Status, err)
			}
			cancel()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Apply did not return after cancellation")
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
			// Checked while Helm's own goroutine is still held at the gate.
			h, herr := cfg.Releases.History("dagster")
			if herr != nil {
				t.Fatal(herr)
			}
			for _, r := range h {
				if r.Info.Status.IsPending() {
					t.Errorf("revision %d left %s", r.Version, r.Info.Status)
				}
				if r.Version == tc.wantRev && r.Info.Status != release.StatusFailed {
					t.Errorf("cancelled revision %d is %s, want failed", r.Version, r.Info.Status)
				}
			}
		})
	}
}

func TestUninstall(t *testing.T) {
	cfg := fakeConfig(t, nil)
	u := &Uninstall{Config: cfg, ReleaseName: "dagster"}
	res, err := u.Run(context.Background())
	if err != nil || res.Removed {
		t.Fatalf("uninstall of an absent release = %+v, %v", res, err)
	}
	apply(t, cfg, nil)
	if res, err = u.Run(context.Background()); err != nil || !res.Removed {
		t.Fatalf("uninstall = %+v, %v", res, err)
	}
	if h := history(t, cfg); len(h) != 0 {
		t.Errorf("history after uninstall = %v", h)
	}
	if res, err = u.Run(context.Background()); err != nil || res.Removed {
		t.Errorf("second uninstall = %+v, %v", res, err)
	}
	// Installable again afterwards.
	if r := apply(t, cfg, nil); r.Action != Installed || r.Revision != 1 {
		t.Errorf("reinstall = %+v", r)
	}
}

func TestStatus(t *testing.T) {
	cfg := fakeConfig(t, nil)
	st, err := (&Status{Config: cfg, ReleaseName: "dagster"}).Run()
	if st != nil || !errors.Is(err, ErrReleaseNotFound) {
		t.Fatalf("status of an absent release = %+v, %v", st, err)
	}
	res := apply(t, cfg, values(t, "dagit: {replicaCount: 2}"))
	st, err = (&Status{Config: cfg, ReleaseName: "dagster"}).Run()
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := Load()
	if st.Name != "dagster" || st.Namespace != "dagster" || st.Revision != 1 || st.State != release.StatusDeployed ||
		st.ChartVersion != ch.Metadata.Version || st.AppVersion != "1.13.27" || st.Digest != res.Digest || st.Updated.IsZero() {
		t.Errorf("status = %+v", st)
	}
}

func TestDigest(t *testing.T) {
	ch, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	d := func(c *helmchart.Chart, v map[string]any) string {
		t.Helper()
		s, err := Digest(c, v)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := d(ch, values(t, "dagit: {env: {A: '1', B: '2'}}\nrbacEnabled: true"))
	if b := d(ch, values(t, "rbacEnabled: true\ndagit: {env: {B: '2', A: '1'}}")); a != b {
		t.Error("digest depends on key order")
	}
	if b := d(ch, values(t, "dagit: {env: {A: '1', B: '3'}}\nrbacEnabled: true")); a == b {
		t.Error("digest ignores a value")
	}
	if d(ch, nil) != d(ch, map[string]any{}) {
		t.Error("nil and empty values differ")
	}
	// A file moving between two neighbours changes the digest.
	other, _ := Load()
	for i, f := range other.Raw {
		if f.Name == "templates/NOTES.txt" {
			other.Raw[i] = &helmchart.File{Name: f.Name, Data: append([]byte(" "), f.Data...)}
		}
	}
	if d(ch, nil) == d(other, nil) {
		t.Error("digest ignores chart files")
	}
	if _, err := Digest(ch, map[string]any{"bad": make(chan int)}); err == nil {
		t.Error("unserialisable values accepted")
	}
}

// DeployedValues reads the deployed revision's user values: none for an
// absent release or one whose only revision failed, and the last deployed
// one's after a later revision failed.
func TestDeployedValues(t *testing.T) {
	cfg := fakeConfig(t, nil)
	read := func() (map[string]any, bool) {
		t.Helper()
		v, ok, err := (&DeployedValues{Config: cfg, ReleaseName: "dagster"}).Run()
		if err != nil {
			t.Fatal(err)
		}
		return v, ok
	}
	if v, ok := read(); ok || v != nil {
		t.Errorf("absent release: %v, %v", v, ok)
	}
	apply(t, cfg, values(t, "dagit: {replicaCount: 2}"))
	if v, ok := read(); !ok || fmt.Sprint(valueAt(v, "dagit", "replicaCount")) != "2" {
		t.Errorf("deployed: %v, %v", v, ok)
	}
	apply(t, cfg, values(t, "dagit: {replicaCount: 3}"))
	last, _ := cfg.Releases.Last("dagster")
	last.SetStatus(release.StatusFailed, "simulated failure")
	if err := cfg.Releases.Update(last); err != nil {
		t.Fatal(err)
	}
	// Helm marks the previous revision superseded on upgrade: with the last
	// one failed, no revision is deployed.
	if v, ok := read(); ok {
		t.Errorf("only superseded and failed revisions: %v, %v", v, ok)
	}
}

func valueAt(v map[string]any, keys ...string) any {
	var cur any = v
	for _, k := range keys {
		m, _ := cur.(map[string]any)
		cur = m[k]
	}
	return cur
}
