package chart

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"helm.sh/helm/v3/pkg/action"
	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// DigestLabel is the release label (on Helm's release Secret) that holds Digest of what was applied.
const DigestLabel = "dagster-dev/digest"

// DefaultMaxHistory is how many revisions Apply keeps: each one is a Secret holding the whole chart.
const DefaultMaxHistory = 10

// ErrReleaseNotFound is returned by Status when the release does not exist. It is Helm's own
// sentinel, so errors.Is also matches errors that come straight from Helm's storage.
var ErrReleaseNotFound = driver.ErrReleaseNotFound

// NewActionConfig returns a Helm action configuration for the namespace on getter's kube context
// (kube.Getter: the same loader, and so the same context and client settings, as the Kubernetes
// clientset), with releases stored as Secrets (Helm's default, so the helm CLI sees the same
// releases). log receives Helm's debug messages; nil discards them.
func NewActionConfig(getter genericclioptions.RESTClientGetter, namespace string, log func(format string, v ...any)) (*action.Configuration, error) {
	if namespace == "" {
		return nil, errors.New("helm configuration: namespace is empty")
	}
	if log == nil {
		log = func(string, ...any) {}
	}
	cfg := new(action.Configuration)
	if err := cfg.Init(getter, namespace, "secret", action.DebugLog(log)); err != nil {
		return nil, fmt.Errorf("helm configuration for namespace %q: %w", namespace, err)
	}
	return cfg, nil
}

// ApplyAction says what Apply did.
type ApplyAction string

const (
	Installed ApplyAction = "installed"
	Upgraded  ApplyAction = "upgraded"
	Unchanged ApplyAction = "unchanged"
)

// Apply installs the chart if the release is absent and upgrades it otherwise. It never waits for
// the workloads (dagster-dev has its own readiness watch, which explains failures; Helm's wait
// would only time out).
//
// When the Digest of the chart and Values equals the one stored on the deployed release, nothing is
// applied and no revision is added. A release left pending-install/-upgrade/-rollback by an
// interrupted run is repaired first: rolled back to its last deployed revision, or uninstalled if it
// never deployed. Cancelling ctx makes Helm mark the revision in progress failed, never pending.
type Apply struct {
	Config          *action.Configuration
	Namespace       string
	ReleaseName     string
	Values          map[string]any
	CreateNamespace bool
	// Chart replaces the embedded chart (nil: Load()).
	Chart *helmchart.Chart
	// MaxHistory caps the stored revisions (0: DefaultMaxHistory).
	MaxHistory int
}

// Result describes an Apply.
type Result struct {
	ReleaseName string
	Namespace   string
	Revision    int
	Action      ApplyAction
	Digest      string
	// Recovered describes the repair of a release an interrupted run left behind ("" if none).
	Recovered string
	// Notes is the chart's NOTES.txt for this release.
	Notes string
}

// Run performs the apply.
//
// Cancellation: install and upgrade use Helm's context-aware Run, which marks the revision in
// flight failed when ctx ends (so the next Apply upgrades from there instead of finding it
// pending); the steps before them check ctx in between.
func (a *Apply) Run(ctx context.Context) (res *Result, err error) {
	if a.Config == nil {
		return nil, errors.New("apply chart: no Helm configuration")
	}
	if a.Namespace == "" {
		return nil, errors.New("apply chart: namespace is empty")
	}
	if err := chartutil.ValidateReleaseName(a.ReleaseName); err != nil {
		return nil, fmt.Errorf("apply chart: release name %q: %w", a.ReleaseName, err)
	}
	ch := a.Chart
	if ch == nil {
		if ch, err = Load(); err != nil {
			return nil, err
		}
	}
	vals := copyValues(a.Values)
	digest, err := Digest(ch, vals)
	if err != nil {
		return nil, err
	}
	res = &Result{ReleaseName: a.ReleaseName, Namespace: a.Namespace, Digest: digest}

	history, err := a.history()
	if err != nil {
		return nil, err
	}
	if last := latest(history); last != nil {
		switch st := last.Info.Status; {
		case st.IsPending():
			if res.Recovered, err = a.recoverPending(last, history); err != nil {
				return nil, err
			}
		case st == release.StatusUninstalling || st == release.StatusUninstalled:
			// An uninstall that did not finish: finish it, then install afresh.
			if err := a.uninstall(); err != nil {
				return nil, fmt.Errorf("apply chart: finish the interrupted uninstall of %q: %w", a.ReleaseName, err)
			}
			res.Recovered = fmt.Sprintf("revision %d was left %s; finished the uninstall", last.Version, st)
		}
		if res.Recovered != "" {
			a.Config.Log("recovered release %s: %s", a.ReleaseName, res.Recovered)
			if history, err = a.history(); err != nil {
				return nil, err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("apply chart: %w", err)
	}

	labels := map[string]string{DigestLabel: digest}
	last := latest(history)
	switch {
	case last == nil:
		inst := action.NewInstall(a.Config)
		inst.ReleaseName = a.ReleaseName
		inst.Namespace = a.Namespace
		inst.CreateNamespace = a.CreateNamespace
		inst.Labels = labels
		rel, err := inst.RunWithContext(ctx, ch, vals)
		if err != nil {
			return nil, fmt.Errorf("install release %q: %w", a.ReleaseName, explainValuesError(err))
		}
		res.Action, res.Revision, res.Notes = Installed, rel.Version, rel.Info.Notes
	case last.Info.Status == release.StatusDeployed && last.Labels[DigestLabel] == digest:
		res.Action, res.Revision, res.Notes = Unchanged, last.Version, last.Info.Notes
	default:
		up := action.NewUpgrade(a.Config)
		up.Namespace = a.Namespace
		up.Labels = labels
		// Exactly the given values: Helm would otherwise reuse the previous release's values
		// whenever the new ones are empty.
		up.ResetValues = true
		up.MaxHistory = a.maxHistory()
		// A release that was never deployed (its install was interrupted) has no instance to
		// migrate: the pre-upgrade migrate hook would wait for a database the install never
		// created, until the timeout.
		up.DisableHooks = !everDeployed(history)
		rel, err := up.RunWithContext(ctx, a.ReleaseName, ch, vals)
		if err != nil {
			return nil, fmt.Errorf("upgrade release %q: %w", a.ReleaseName, explainValuesError(err))
		}
		res.Action, res.Revision, res.Notes = Upgraded, rel.Version, rel.Info.Notes
	}
	return res, nil
}

// everDeployed reports whether any revision in history was deployed at some point.
func everDeployed(history []*release.Release) bool {
	for _, r := range history {
		if st := r.Info.Status; st == release.StatusDeployed || st == release.StatusSuperseded {
			return true
		}
	}
	return false
}

func (a *Apply) maxHistory() int {
	if a.MaxHistory > 0 {
		return a.MaxHistory
	}
	return DefaultMaxHistory
}

func (a *Apply) history() ([]*release.Release, error) {
	h, err := a.Config.Releases.History(a.ReleaseName)
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, fmt.Errorf("read history of release %q: %w", a.ReleaseName, err)
	}
	return h, nil
}

// recoverPending repairs a release whose last revision an interrupted run left pending. The
// revision is marked failed (what Helm does itself when it sees its context cancelled); then the
// release is rolled back to its last deployed revision, or, if it never deployed, uninstalled.
func (a *Apply) recoverPending(last *release.Release, history []*release.Release) (string, error) {
	was := last.Info.Status
	last.SetStatus(release.StatusFailed, fmt.Sprintf("left %s by an interrupted run; recovered by dagster-dev", was))
	if err := a.Config.Releases.Update(last); err != nil {
		return "", fmt.Errorf("apply chart: mark revision %d of %q failed: %w", last.Version, a.ReleaseName, err)
	}
	good := lastGood(history, last.Version)
	if good == nil {
		if err := a.uninstall(); err != nil {
			return "", fmt.Errorf("apply chart: uninstall never-deployed release %q: %w", a.ReleaseName, err)
		}
		return fmt.Sprintf("revision %d was left %s and never deployed; uninstalled it", last.Version, was), nil
	}
	rb := action.NewRollback(a.Config)
	rb.Version = good.Version
	rb.MaxHistory = a.maxHistory()
	if err := rb.Run(a.ReleaseName); err != nil {
		return "", fmt.Errorf("apply chart: roll back %q to revision %d: %w", a.ReleaseName, good.Version, err)
	}
	return fmt.Sprintf("revision %d was left %s; rolled back to revision %d", last.Version, was, good.Version), nil
}

func (a *Apply) uninstall() error {
	u := action.NewUninstall(a.Config)
	_, err := u.Run(a.ReleaseName)
	return err
}

// latest returns the highest revision, or nil.
func latest(history []*release.Release) *release.Release {
	var out *release.Release
	for _, r := range history {
		if out == nil || r.Version > out.Version {
			out = r
		}
	}
	return out
}

// lastGood returns the newest revision below `below` that was deployed (or, failing that,
// superseded: a revision that once deployed), or nil if the release never deployed.
func lastGood(history []*release.Release, below int) *release.Release {
	sorted := append([]*release.Release(nil), history...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Version > sorted[j].Version })
	for _, want := range []release.Status{release.StatusDeployed, release.StatusSuperseded} {
		for _, r := range sorted {
			if r.Version < below && r.Info.Status == want {
				return r
			}
		}
	}
	return nil
}

// Uninstall removes the release and its objects. An absent release is success.
type Uninstall struct {
	Config      *action.Configuration
	ReleaseName string
	// Wait waits (up to Timeout) until the deleted objects are gone.
	Wait    bool
	Timeout time.Duration
}

// UninstallResult describes an Uninstall.
type UninstallResult struct {
	// Removed is false when there was no release.
	Removed bool
	// Kept lists objects left in place by helm.sh/resource-policy: keep (the database password
	// Secret, which a later install reuses for the data volume it unlocks).
	Kept string
}

// Run performs the uninstall. If ctx ends first, Run returns and the uninstall goes on; a release
// left "uninstalling" is finished by the next Apply or Uninstall.
func (u *Uninstall) Run(ctx context.Context) (*UninstallResult, error) {
	if u.Config == nil {
		return nil, errors.New("uninstall: no Helm configuration")
	}
	h, err := u.Config.Releases.History(u.ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) || (err == nil && len(h) == 0) {
		return &UninstallResult{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("uninstall %q: read history: %w", u.ReleaseName, err)
	}
	un := action.NewUninstall(u.Config)
	un.Wait = u.Wait
	un.Timeout = u.Timeout
	type outcome struct {
		resp *release.UninstallReleaseResponse
		err  error
	}
	done := make(chan outcome, 1)
	go func() {
		resp, err := un.Run(u.ReleaseName)
		done <- outcome{resp, err}
	}()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("uninstall %q: %w", u.ReleaseName, ctx.Err())
	case o := <-done:
		if o.err != nil {
			return nil, fmt.Errorf("uninstall %q: %w", u.ReleaseName, o.err)
		}
		res := &UninstallResult{Removed: true}
		if o.resp != nil {
			res.Kept = o.resp.Info
		}
		return res, nil
	}
}

// Status reads the release's latest revision.
type Status struct {
	Config      *action.Configuration
	ReleaseName string
}

// ReleaseStatus is the state of a release's latest revision.
type ReleaseStatus struct {
	Name      string
	Namespace string
	Revision  int
	// State is Helm's status: deployed, failed, pending-install, pending-upgrade, ...
	State        release.Status
	ChartVersion string
	AppVersion   string
	// Digest is what Apply stored (empty for a release not made by Apply).
	Digest      string
	Updated     time.Time
	Description string
}

// Run returns the status, or ErrReleaseNotFound.
func (s *Status) Run() (*ReleaseStatus, error) {
	if s.Config == nil {
		return nil, errors.New("release status: no Helm configuration")
	}
	rel, err := action.NewStatus(s.Config).Run(s.ReleaseName)
	if err != nil {
		if errors.Is(err, driver.ErrReleaseNotFound) {
			return nil, fmt.Errorf("release %q: %w", s.ReleaseName, ErrReleaseNotFound)
		}
		return nil, fmt.Errorf("release %q status: %w", s.ReleaseName, err)
	}
	st := &ReleaseStatus{
		Name:      rel.Name,
		Namespace: rel.Namespace,
		Revision:  rel.Version,
		Digest:    rel.Labels[DigestLabel],
	}
	if rel.Info != nil {
		st.State = rel.Info.Status
		st.Updated = rel.Info.LastDeployed.Time
		st.Description = rel.Info.Description
	}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		st.ChartVersion = rel.Chart.Metadata.Version
		st.AppVersion = rel.Chart.Metadata.AppVersion
	}
	return st, nil
}

// DeployedValues reads the user-supplied values of the release's last
// deployed revision: what `up` (or watch) applied and the cluster runs. A
// release with only failed or pending revisions has none.
type DeployedValues struct {
	Config      *action.Configuration
	ReleaseName string
}

// Run returns the values, and false when no revision is deployed (or the
// release does not exist).
func (d *DeployedValues) Run() (map[string]any, bool, error) {
	if d.Config == nil {
		return nil, false, errors.New("release values: no Helm configuration")
	}
	rel, err := d.Config.Releases.Deployed(d.ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) || errors.Is(err, driver.ErrNoDeployedReleases) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading release %s: %w", d.ReleaseName, err)
	}
	if rel.Config == nil {
		return map[string]any{}, true, nil
	}
	return rel.Config, true, nil
}
