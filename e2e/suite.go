// Package e2e is the end-to-end suite behind `dagster-dev test`: it proves,
// against the running environment, that Dagster on Kubernetes works the way
// a team depends on — workloads healthy, Dagit reachable, the code location
// loaded, a Celery-K8s run succeeding and landing in PostgreSQL, the env
// precedence contract, hot reload, persistence across a database restart,
// and Celery workers consuming from RabbitMQ.
//
// Usage (cmd/dagster-dev):
//
//	rep, err := e2e.Suite{Config: cfg, Out: os.Stdout, Pattern: run, JUnitPath: junit}.Run(ctx)
//	switch {
//	case err != nil:      // could not run, or could not write the JUnit file (see PatternError)
//	case rep.Failed():    // exit 3
//	}
//
// The suite only changes what it created: fixture ConfigMaps/Secrets named
// FixturePrefix*, and the release's values, which it restores to what `up`
// applies (values.For(cfg) with the side-loaded images' IDs it found) when
// a case that changed them ends, also on failure or Ctrl-C.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"helm.sh/helm/v3/pkg/action"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/internal/dagitconn"
	"github.com/dagster-dev/dagster-dev/internal/text"
	"github.com/dagster-dev/dagster-dev/internal/values"
	"github.com/dagster-dev/dagster-dev/stack"
)

// Case names, as matched by Suite.Pattern (--run).
const (
	CaseHealth        = "health"
	CaseDagit         = "dagit"
	CaseCodeLocation  = "code-location"
	CaseRun           = "run"
	CaseEnvPrecedence = "env-precedence"
	CaseHotReload     = "hot-reload"
	CasePersistence   = "persistence"
	CaseBroker        = "broker"
	CaseSecurity      = "security"
	CaseCodeReload    = "code-reload"
	CaseCodeError     = "code-error"
	CaseObserve       = "observe"
)

// CaseInfo describes one case, for `dagster-dev test --help` or a listing.
type CaseInfo struct {
	Name string
	Doc  string
}

// Cases lists the suite's cases in the order they run.
func Cases() []CaseInfo {
	var s suite
	cs := s.cases()
	out := make([]CaseInfo, len(cs))
	for i, c := range cs {
		out[i] = CaseInfo{Name: c.name, Doc: c.doc}
	}
	return out
}

// Suite configures one run of the end-to-end suite.
type Suite struct {
	// Env is the environment under test and the clients that reach it
	// (required; stack.NewEnv).
	Env *stack.Env
	// Out receives one line per case, failure details and the summary
	// line; nil discards.
	Out io.Writer
	// Pattern selects cases by name (a Go regexp, unanchored, like
	// `go test -run`); empty runs all.
	Pattern string
	// JUnitPath, when set, is where the JUnit XML report is written.
	JUnitPath string
	// Verbose prints each case's progress steps as they happen.
	Verbose bool
}

// Run executes the selected cases in order and returns their report.
//
// err is non-nil when the suite could not run at all (an invalid or
// non-matching Pattern: *PatternError, a usage error; no cluster
// connection), when it was interrupted (wraps context.Canceled; the report
// then holds the cases that finished), or when the JUnit file could not be
// written (the report is complete). Test failures are not errors: check
// Report.Failed.
func (s Suite) Run(ctx context.Context) (*Report, error) {
	if s.Env == nil || s.Env.Config == nil {
		return nil, errors.New("e2e: Suite.Env with a Config is required")
	}
	cfg := s.Env.Config
	out := s.Out
	if out == nil {
		out = io.Discard
	}
	st := &suite{cfg: cfg, env: s.Env}
	cases, err := selectCases(st.cases(), s.Pattern)
	if err != nil {
		return nil, err
	}
	if err := st.connect(ctx); err != nil {
		return nil, err
	}
	defer st.close()

	fmt.Fprintf(out, "dagster-dev test: %d %s against release %s in namespace %s (context %s), Dagit at %s\n",
		len(cases), text.Plural(len(cases), "case", "cases"), cfg.Release, cfg.Namespace, cfg.KubeContext(), st.dagit.Describe())
	r := &runner{out: out, verbose: s.Verbose, diagnose: st.diagnose}
	rep := r.run(ctx, cases)
	rep.Context, rep.Namespace = cfg.KubeContext(), cfg.Namespace

	var errs []error
	if ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("test interrupted: %w", ctx.Err()))
	}
	if s.JUnitPath != "" {
		if err := rep.WriteJUnitFile(s.JUnitPath); err != nil {
			errs = append(errs, err)
		}
	}
	return rep, errors.Join(errs...)
}

// suite is the state shared by the cases of one run.
type suite struct {
	cfg     *config.Config
	env     *stack.Env
	kube    *kubeClient
	dagit   dagitconn.Conn
	gql     *dagit.Client
	http    *http.Client
	release releaseOps
	// token makes this run's fixture values unique.
	token string
	// runID is the run case's run, which persistence looks for again.
	runID string
	// poll is the GraphQL polling interval.
	poll time.Duration
	// upValues are the release's deployed values when the suite started
	// (as `up` left them): valuesFor carries their side-loaded parts.
	upValues    map[string]any
	upValuesErr error
}

// releaseOps changes the release's values and waits for the result.
type releaseOps interface {
	// Apply upgrades the release to vals (the complete user values) and
	// waits until every workload of the release has rolled out.
	Apply(ctx context.Context, vals map[string]any) error
}

func (s *suite) connect(ctx context.Context) error {
	k, err := s.env.Kube.Connect()
	if err != nil {
		return err
	}
	s.kube = &kubeClient{rest: k.REST, client: k.Clientset, namespace: s.cfg.Namespace, release: s.cfg.Release}
	// Every request has its own bound: a Dagit that accepts the connection
	// and never answers must fail the case, not hang the suite.
	s.http = &http.Client{Timeout: 30 * time.Second}
	// The forward of an existing cluster outlives single requests.
	s.dagit = s.env.DagitConn(context.WithoutCancel(ctx), k)
	s.gql = &dagit.Client{URL: s.dagit.BaseURL, HTTP: s.http}
	s.release = &chartRelease{cfg: s.cfg, kube: s.kube, helm: k.Helm}
	s.upValues, s.upValuesErr = deployedValues(k.Helm, s.cfg.Release)
	s.token = randomToken()
	s.poll = 2 * time.Second
	return nil
}

func (s *suite) close() {
	if s.dagit != nil {
		s.dagit.Close()
	}
}

// timeout is the budget of one wait (a rollout, a run, a location load):
// the config's timeout, the same one `up` waits with.
func (s *suite) timeout() time.Duration { return s.cfg.Timeout.Duration }

// celery reports whether the release's runs go through Celery (runLauncher.type, the chart's
// default CeleryK8sRunLauncher) rather than the K8sRunLauncher.
func (s *suite) celery() (bool, error) {
	base, err := s.baseValues()
	if err != nil {
		return false, err
	}
	return celeryIn(base), nil
}

// celeryIn is celery for values already at hand.
func celeryIn(vals map[string]any) bool {
	return valueOr(vals, config.RunLauncherCelery, "runLauncher", "type") == config.RunLauncherCelery
}

// notWithoutCelery is the report of a case that only makes sense with Celery.
func notWithoutCelery(what string) error {
	return skipf("not applicable: runLauncher.type is K8sRunLauncher, which runs no Celery (%s)", what)
}

// baseValues are the values the release must have outside a case that
// changes them: exactly what `up` and `watch` install.
func (s *suite) baseValues() (map[string]any, error) {
	return s.valuesFor(s.cfg)
}

// valuesFor is values.For(cfg) with what `up` learnt from the side-loaded
// images (image-ID annotations, a location image's env defaults) carried
// over from the release as the suite found it, the way watch does it.
// Without them every upgrade the suite makes, its restore included, would
// roll every workload, and the next `up` would roll them all again.
func (s *suite) valuesFor(cfg *config.Config) (map[string]any, error) {
	v, err := values.For(cfg)
	if err != nil {
		return nil, fmt.Errorf("computing the release values: %w", err)
	}
	if s.upValuesErr != nil {
		return nil, s.upValuesErr
	}
	values.CarrySideLoaded(v, s.upValues)
	return v, nil
}

// deployedValues reads the values of the release's deployed revision.
func deployedValues(helm *action.Configuration, release string) (map[string]any, error) {
	vals, _, err := (&chart.DeployedValues{Config: helm, ReleaseName: release}).Run()
	return vals, err
}

// restore puts the release back to baseValues and waits for it. It runs on
// a context detached from ctx's cancellation, so an interrupted or failed
// case still leaves the release as `up` made it.
func (s *suite) restore(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout()+time.Minute)
	defer cancel()
	base, err := s.baseValues()
	if err != nil {
		return err
	}
	if err := s.release.Apply(rctx, base); err != nil {
		return fmt.Errorf("restoring release %s to its values: %w", s.cfg.Release, err)
	}
	return nil
}

func (s *suite) cases() []testCase {
	return []testCase{
		{name: CaseHealth, doc: "the cluster's nodes and every workload of the release are healthy", run: s.caseHealth},
		{name: CaseDagit, doc: "Dagit answers /server_info on 127.0.0.1", run: s.caseDagit},
		{name: CaseCodeLocation, doc: "the code location is loaded (LOADED and a RepositoryLocation)", needs: []string{CaseDagit}, run: s.caseCodeLocation},
		{name: CaseRun, doc: "a run launched through GraphQL succeeds, with its run and step Jobs (celery-k8s or k8s executor), and stays in the run history", needs: []string{CaseCodeLocation}, run: s.caseRun},
		{name: CaseEnvPrecedence, doc: "values < ConfigMaps < Secrets in Dagit, the daemon, Celery workers (if any), user code and job pods; DAGSTER_HOME everywhere", needs: []string{CaseCodeLocation}, run: s.caseEnvPrecedence},
		{name: CaseHotReload, doc: "editing a watched source rolls exactly the workloads that read it, and a new run sees the new value", needs: []string{CaseCodeLocation}, run: s.caseHotReload},
		{name: CasePersistence, doc: "runs survive a restart of the PostgreSQL pod", needs: []string{CaseCodeLocation, CaseRun}, run: s.casePersistence},
		{name: CaseSecurity, doc: "every container of the release and of a run's pods is hardened (non-root, no escalation, no capabilities, seccomp, read-only root), and run/step pods cannot create Jobs or pods or read Secrets", needs: []string{CaseRun}, run: s.caseSecurity},
		{name: CaseBroker, doc: "every Celery worker is connected to RabbitMQ and consuming its queues (CeleryK8sRunLauncher only)", run: s.caseBroker},
		{name: CaseCodeReload, doc: "watch reloads a path code location on save: a job added to its file appears in Dagit and its run succeeds through a step Job with the edited code", needs: []string{CaseDagit}, run: s.caseCodeReload},
		{name: CaseCodeError, doc: "watch reports a syntax error saved into a path code location at the user's file:line, Dagit shows the location failed, and the fix recovers it", needs: []string{CaseDagit}, run: s.caseCodeError},
		{name: CaseObserve, doc: "dagster-dev logs -f shows a new run's pods as they start, logs --run of a run that fails on purpose shows its error, and status lists the code locations and the run and turns unhealthy with a broken location's error", needs: []string{CaseDagit}, run: s.caseObserve},
	}
}
