package stack

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/cluster"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/internal/dagitconn"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/progress"
	"github.com/dagster-dev/dagster-dev/internal/readiness"
	"github.com/dagster-dev/dagster-dev/internal/text"
	"github.com/dagster-dev/dagster-dev/internal/values"
	"github.com/dagster-dev/dagster-dev/sources"
)

// InputError is a problem with the user's files (values rejected by the
// chart schema, a bad source file), found before anything was changed.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Up creates or converges an environment: cluster, images, sources, chart,
// readiness. Re-running it with nothing changed changes nothing.
type Up struct {
	Env *Env
	// DagitTimeout bounds the wait for Dagit to answer from this machine
	// once its pods are Ready (0: DefaultDagitTimeout).
	DagitTimeout time.Duration
}

// DefaultDagitTimeout is how long up waits for Dagit to answer once its
// pods are Ready: the port mapping answers within seconds.
const DefaultDagitTimeout = time.Minute

// NewUp is Up on env.
func NewUp(env *Env) *Up { return &Up{Env: env} }

// UpResult is what Up did.
type UpResult struct {
	Context string
	// Kubeconfig is the file the context is in: for kind the file kind
	// wrote it to, for an existing cluster the file that defines it.
	Kubeconfig string
	DagitURL   string
	// DagitForwarded is true on an existing cluster: nothing serves
	// DagitURL until `dagster-dev dagit` forwards it.
	DagitForwarded bool
	ClusterCreated bool
	ChartAction    chart.ApplyAction
	Revision       int
	// Recovered describes a release an interrupted run left pending that
	// this run repaired ("" if none).
	Recovered string
	// Rolled are the workloads rolled because an image they run was
	// rebuilt under the same tag.
	Rolled []Roll
	// Locations are the code locations Dagit has loaded.
	Locations []string
	Duration  time.Duration
}

// Run performs Up.
func (u *Up) Run(ctx context.Context) (*UpResult, error) {
	cfg, out := u.Env.Config, u.Env.Out
	start := time.Now()
	res := &UpResult{DagitURL: cfg.DagitURL(), DagitForwarded: cfg.ExistingCluster(), Context: cfg.KubeContext()}

	// Everything that can be checked without a cluster is checked first, so
	// bad input never leaves the cluster half-changed.
	step := out.Start("check config, values and sources")
	vals, rendered, err := u.checkInputs()
	if err != nil {
		step.Fail("")
		return nil, &InputError{Err: err}
	}
	claims, err := rendered.VolumeClaims(cfg.Release, cfg.Namespace)
	if err != nil {
		step.Fail("")
		return nil, err
	}
	step.Done(fmt.Sprintf("%d values files, %d sources", len(cfg.ValuesFiles), len(cfg.Watch.Sources)))

	if cfg.ExistingCluster() {
		if len(cfg.Images) > 0 {
			out.Printf("  warning: images are not side-loaded into an existing cluster (cluster.context); push them to a registry the cluster pulls from")
		}
	} else {
		ens, ids, local, err := u.ensureKind(ctx, claims)
		if err != nil {
			return nil, err
		}
		res.ClusterCreated, res.Kubeconfig = ens.Created, ens.KubeconfigPath
		ch, err := chart.Load()
		if err != nil {
			return nil, err
		}
		values.SetImageIDs(vals, ids, ch.Metadata.AppVersion)
		keepImagePythonPath(vals, cfg, local)
	}

	kc, err := u.Env.Kube.Connect()
	if err != nil {
		return nil, err
	}
	if cfg.ExistingCluster() {
		res.Kubeconfig = kc.File
		if res.Kubeconfig == "" {
			res.Kubeconfig = kube.DisplayPath(kc.Kubeconfig)
		}
		step = out.Start("cluster " + cfg.KubeContext())
		v, err := kc.Clientset.Discovery().ServerVersion()
		if err != nil {
			step.Fail("")
			return nil, fmt.Errorf("kube context %q is not reachable: %w (check `kubectl --context %s get nodes`)", cfg.KubeContext(), err, cfg.KubeContext())
		}
		step.Done("existing cluster, Kubernetes " + v.GitVersion)
	}

	step = out.Start("namespace and sources")
	if err := kube.EnsureNamespace(ctx, kc.Clientset, cfg.Namespace); err != nil {
		step.Fail("")
		return nil, err
	}
	if !cfg.ExistingCluster() {
		// Always on a kind cluster: the e2e suite and `watch` may add a path location later.
		if err := kube.EnsureCodeVolume(ctx, kc.Clientset, cfg.Namespace, cfg.Release, config.CodeNodePath); err != nil {
			step.Fail("")
			return nil, err
		}
	}
	changes, err := sources.ApplySources(ctx, cfg, kc.Clientset)
	if err != nil {
		step.Fail("")
		return nil, fmt.Errorf("applying ConfigMap/Secret sources: %w", err)
	}
	step.Done(sourcesNote(cfg, changes))

	imagesBefore, _, err := podImageIDs(ctx, kc.Clientset, cfg)
	if err != nil {
		return nil, fmt.Errorf("reading the release's workloads: %w", err)
	}

	step = out.Start("chart " + cfg.Release)
	if err := checkReferences(ctx, kc.Clientset, cfg.Namespace, rendered); err != nil {
		step.Fail("")
		return nil, err
	}
	applied, err := (&chart.Apply{Config: kc.Helm, Namespace: cfg.Namespace, ReleaseName: cfg.Release, Values: vals}).Run(ctx)
	if err != nil {
		step.Fail("")
		return nil, fmt.Errorf("installing the chart: %w", err)
	}
	res.ChartAction, res.Revision, res.Recovered = applied.Action, applied.Revision, applied.Recovered
	note := fmt.Sprintf("%s, revision %d", applied.Action, applied.Revision)
	if applied.Recovered != "" {
		note += " (" + applied.Recovered + ")"
	}
	imagesAfter, codeServers, err := podImageIDs(ctx, kc.Clientset, cfg)
	if err != nil {
		step.Fail("")
		return nil, fmt.Errorf("reading the release's workloads: %w", err)
	}
	res.Rolled = imageRolls(imagesBefore, imagesAfter, codeServers)
	step.Done(note)
	for _, r := range res.Rolled {
		out.Printf("  rolled %s", r)
	}

	step = out.Start("workloads ready")
	var last readiness.Snapshot
	err = readiness.Wait(ctx, kc.Clientset, cfg.Namespace, kube.ReleaseSelector(cfg.Release), cfg.Timeout.Duration, func(s readiness.Snapshot) {
		last = s
		step.Update("%s", s.String())
	})
	if err != nil {
		step.Fail("")
		return nil, err
	}
	step.Done(readyNote(last))

	if !cfg.ExistingCluster() {
		step = out.Start("dagit")
		conn := u.Env.DagitConn(ctx, kc)
		defer conn.Close()
		base, err := conn.BaseURL(ctx)
		if err == nil {
			timeout := u.DagitTimeout
			if timeout == 0 {
				timeout = DefaultDagitTimeout
			}
			err = waitDagit(ctx, u.Env.dagit(base, 5*time.Second), conn, timeout)
		}
		if err != nil {
			step.Fail("")
			return nil, err
		}
		step.Done(base + "/server_info answers")

		// Pods Ready is not code loaded: a code server serves its load
		// error to Dagit and stays up, so only Dagit can tell.
		step = out.Start("code locations")
		// A reload answers once the location has loaded: its bound is the
		// user's timeout.
		locs, err := waitLocations(ctx, cfg, u.Env.dagit(base, cfg.Timeout.Duration), rolledLocations(res.Rolled), cfg.Timeout.Duration)
		if err != nil {
			step.Fail("")
			return nil, err
		}
		for _, l := range locs {
			res.Locations = append(res.Locations, l.Name)
		}
		step.Done(locationsNote(locs))
	}
	res.Duration = time.Since(start)
	return res, nil
}

// checkInputs computes the chart values and renders the chart client-side
// (schema included), and parses every watch source. It returns the values
// and the rendered release.
func (u *Up) checkInputs() (map[string]any, chart.Manifests, error) {
	cfg := u.Env.Config
	vals, err := values.For(cfg)
	if err != nil {
		return nil, chart.Manifests{}, err
	}
	m, err := chart.Render(cfg.Release, cfg.Namespace, vals)
	if err != nil {
		return nil, chart.Manifests{}, err
	}
	var errs []error
	for _, s := range cfg.Watch.Sources {
		if _, err := sources.LoadSource(cfg, s); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, chart.Manifests{}, errors.Join(errs...)
	}
	return vals, m, nil
}

// checkReferences refuses a release whose pods require a ConfigMap or
// Secret that neither the chart nor the namespace has (the sources are
// applied by then), before Helm writes anything: the kubelet would report
// it only when it creates the containers, after their init containers ran.
func checkReferences(ctx context.Context, client kubernetes.Interface, namespace string, m chart.Manifests) error {
	tmpls, err := m.PodTemplates()
	if err != nil {
		return err
	}
	readers := make([]sources.Reader, len(tmpls))
	for i := range tmpls {
		readers[i] = sources.Reader{ID: tmpls[i].ID(), Spec: &tmpls[i].Spec}
	}
	return sources.CheckRefs(ctx, client, namespace, readers, m.Provides())
}

// ensureKind runs preflight, creates or reuses the kind cluster and
// side-loads images. The release's volume claims that are missing or
// unbound (a new cluster, an up interrupted before the chart) are
// provisioned while the images load.
func (u *Up) ensureKind(ctx context.Context, claims []corev1.PersistentVolumeClaim) (*cluster.EnsureResult, map[string]string, map[string]cluster.LocalImage, error) {
	cfg, out, p := u.Env.Config, u.Env.Out, u.Env.Cluster
	spec := ClusterSpec(cfg)

	step := out.Start("preflight")
	st, err := p.Status(ctx, spec.Name)
	if err != nil {
		step.Fail("")
		return nil, nil, nil, err
	}
	warnings, err := preflightErrors(p.Preflight(ctx, spec, st.Exists))
	if err != nil {
		step.Fail("")
		return nil, nil, nil, err
	}
	if len(warnings) > 0 {
		step.Done("docker and port ok")
		for _, w := range warnings {
			out.Printf("  warning: %v", w)
		}
	} else {
		step.Done("docker, port and inotify limits ok")
	}

	// Images are resolved (and location images built) before the cluster
	// is touched, so a missing image fails without creating anything; then
	// they load while kind boots the nodes.
	if err := buildImages(ctx, p, cfg, out); err != nil {
		return nil, nil, nil, err
	}
	images, pulled, local, err := sideLoadImages(ctx, p, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, img := range pulled {
		out.Printf("  note: code location image %s is not in the local Docker engine: the cluster pulls it from its registry", img)
	}
	imgs, err := u.startImages(ctx, p, spec, images)
	if err != nil {
		return nil, nil, nil, err
	}

	step = out.Start("cluster " + spec.Name)
	ens, err := p.Ensure(ctx, spec, kube.KindKubeconfigPath(cfg.KubeconfigExplicit()))
	if err != nil {
		step.Fail("")
		imgs.cancel()
		_, _ = imgs.wait()
		return nil, nil, nil, err
	}
	switch {
	case ens.Created:
		step.Done(fmt.Sprintf("created (%d %s)", len(ens.Nodes), text.Plural(len(ens.Nodes), "node", "nodes")))
	case len(ens.StartedNodes) > 0:
		step.Done("reused, started " + strings.Join(ens.StartedNodes, ", "))
	case !ens.Owned:
		step.Done("reused (not created by dagster-dev: down will not delete it)")
	default:
		step.Done("reused")
	}
	vols := &volumesStep{done: make(chan struct{}), cancel: func() {}}
	if len(images) > 0 && len(claims) > 0 {
		vols = u.startVolumes(ctx, claims)
	} else {
		close(vols.done)
	}
	loads, err := imgs.wait()
	if err != nil {
		// The volumes are a head start for a chart that will not be
		// installed now; on a full disk they could wait out their timeout.
		vols.cancel()
	}
	<-vols.done
	if err != nil {
		return nil, nil, nil, err
	}
	return ens, imageIDs(loads), local, nil
}

// volumesStep is the "volumes" step running beside the images step.
type volumesStep struct {
	done   chan struct{}
	cancel context.CancelFunc
}

// provisionTimeout bounds the early provisioning; local-path takes seconds.
const provisionTimeout = time.Minute

// startVolumes provisions the release's volume claims in the background
// (kube.ProvisionClaims), so PostgreSQL's volume is ready when the chart is
// installed instead of being created then, on the path of every Dagster pod.
// The step shows only when a claim is missing or unbound (a new cluster, an
// up interrupted before the chart). It is only a head start: if it fails,
// up says so and goes on, and the chart's pods provision what is missing
// as they would have anyway.
func (u *Up) startVolumes(ctx context.Context, claims []corev1.PersistentVolumeClaim) *volumesStep {
	cfg, out := u.Env.Config, u.Env.Out
	ctx, cancel := context.WithCancel(ctx)
	s := &volumesStep{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.done)
		defer cancel()
		kc, err := u.Env.Kube.Connect()
		if err != nil {
			return // the steps after the images report it
		}
		if err := kube.DeleteStaleBinders(ctx, kc.Clientset, cfg.Namespace); err != nil {
			return
		}
		todo, err := kube.UnboundClaims(ctx, kc.Clientset, cfg.Namespace, claims)
		if err != nil || len(todo) == 0 {
			return
		}
		step := out.Start("volumes")
		err = kube.EnsureNamespace(ctx, kc.Clientset, cfg.Namespace)
		var bound []string
		if err == nil {
			bound, err = kube.ProvisionClaims(ctx, kc.Clientset, cfg.Namespace, todo, provisionTimeout)
		}
		switch {
		case err != nil && ctx.Err() != nil:
			step.Skip("stopped")
		case err != nil:
			step.Skip("not ahead of the chart: " + err.Error())
		default:
			step.Done(fmt.Sprintf("%d %s bound while images load: %s", len(bound), text.Plural(len(bound), "claim", "claims"), strings.Join(bound, ", ")))
		}
	}()
	return s
}

// imagesStep is the "images" step running beside the cluster step.
type imagesStep struct {
	done   chan struct{}
	loads  []cluster.ImageLoad
	err    error
	cancel context.CancelFunc
}

// wait returns the loads once the step has ended.
func (s *imagesStep) wait() ([]cluster.ImageLoad, error) {
	<-s.done
	return s.loads, s.err
}

// startImages side-loads images in the background as the "images" step,
// from the moment the nodes take them (cluster.Provider.StartLoadImages)
// rather than after the cluster is Ready. Cancel it when the cluster could
// not be made.
func (u *Up) startImages(ctx context.Context, p Cluster, spec cluster.Spec, images []string) (*imagesStep, error) {
	s := &imagesStep{done: make(chan struct{}), cancel: func() {}}
	if len(images) == 0 {
		close(s.done)
		return s, nil
	}
	out := u.Env.Out
	step := out.Start("images")
	loadCtx, cancel := context.WithCancel(ctx)
	job, err := p.StartLoadImages(loadCtx, spec, images, func(l cluster.ImageLoad) {
		out.Printf("  %s → %s: %s (%s)", l.Image, l.Node, l.Action, progress.Round(l.Duration))
	})
	if err != nil {
		cancel()
		step.Fail("")
		return nil, err
	}
	s.cancel = cancel
	go func() {
		defer close(s.done)
		defer cancel()
		s.loads, s.err = job.Wait()
		switch {
		case s.err != nil && loadCtx.Err() != nil && ctx.Err() == nil:
			step.Skip("stopped: no cluster to load into")
			return
		case s.err != nil:
			step.Fail("")
			return
		}
		waited, loading := job.Phases()
		step.Done(imagesNote(s.loads, waited, loading))
	}()
	return s, nil
}

// preflightErrors splits preflight's findings: low inotify limits are a
// warning (a single dev cluster runs with distribution defaults; kind's
// known-issues page ties the limits to many pods or clusters), everything
// else stops up before it changes anything.
func preflightErrors(err error) (warnings []error, fatal error) {
	if err == nil {
		return nil, nil
	}
	var all []error
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		all = joined.Unwrap()
	} else {
		all = []error{err}
	}
	var hard []error
	for _, e := range all {
		var low *cluster.InotifyLimitError
		if errors.As(e, &low) {
			warnings = append(warnings, e)
			continue
		}
		hard = append(hard, e)
	}
	return warnings, errors.Join(hard...)
}

// ClusterSpec is the kind cluster a config asks for.
func ClusterSpec(cfg *config.Config) cluster.Spec {
	return cluster.Spec{
		Name:      cfg.Cluster.Name,
		NodeImage: cfg.Cluster.NodeImage,
		Nodes:     cfg.Cluster.Nodes,
		HostPort:  cfg.Dagit.HostPort,
		NodePort:  cfg.Dagit.NodePort,
		CodeMount: codeMount(cfg),
	}
}

// codeMount is the directory mounted into every node for path code
// locations: made on create whenever there is a config file, so a location
// added later needs no re-create, and required once a location uses it.
func codeMount(cfg *config.Config) cluster.Mount {
	root := cfg.CodeRoot()
	if root == "" || cfg.ExistingCluster() {
		return cluster.Mount{}
	}
	if real, err := filepath.EvalSymlinks(root); err == nil {
		root = real
	}
	return cluster.Mount{HostPath: root, NodePath: config.CodeNodePath, Required: cfg.HasPathLocations()}
}

// waitDagit waits for Dagit's /server_info where this machine reaches it
// (the kind port mapping): pod readiness is checked in-cluster, this proves
// the path a user's browser takes.
func waitDagit(ctx context.Context, client *dagit.Client, conn dagitconn.Conn, timeout time.Duration) error {
	err := client.WaitServerInfo(ctx, dagit.Poll{Interval: 500 * time.Millisecond, Timeout: timeout})
	if err != nil && ctx.Err() == nil {
		return &DagitUnreachableError{Where: conn.Describe(), Err: err}
	}
	return err
}

// DagitUnreachableError is a Dagit whose pods are Ready but that does not
// answer from this machine.
type DagitUnreachableError struct {
	Where string
	Err   error
}

func (e *DagitUnreachableError) Error() string {
	return fmt.Sprintf("dagit pods are Ready but %s does not answer: %v", e.Where, e.Err)
}

func (e *DagitUnreachableError) Unwrap() error { return e.Err }

// Fix says where to look.
func (e *DagitUnreachableError) Fix() string {
	return "check that nothing else is bound to that port (`docker ps` shows the cluster's port mapping), then run `dagster-dev up` again"
}

func sourcesNote(cfg *config.Config, changes []sources.Applied) string {
	if len(cfg.Watch.Sources) == 0 {
		return "namespace " + cfg.Namespace
	}
	return fmt.Sprintf("namespace %s, %d %s, %d changed", cfg.Namespace, len(cfg.Watch.Sources), text.Plural(len(cfg.Watch.Sources), "source", "sources"), len(changes))
}

func readyNote(s readiness.Snapshot) string {
	n := len(s.Workloads)
	return fmt.Sprintf("%d/%d %s ready", n-s.Pending(), n, text.Plural(n, "workload", "workloads"))
}

// imagesNote is the images step's outcome. When the step loaded images
// after waiting for kind to boot the nodes, it says how the time splits,
// so that the loading part compares with `kind load` into a Ready cluster
// (a warm up's check of running nodes is no wait worth naming).
func imagesNote(loads []cluster.ImageLoad, waited, loading time.Duration) string {
	note := loadNote(loads)
	if waited >= time.Second && slices.ContainsFunc(loads, func(l cluster.ImageLoad) bool { return l.Action != cluster.ActionSkipped }) {
		note += fmt.Sprintf("; %s waiting for the nodes, %s loading", progress.Round(waited), progress.Round(loading))
	}
	return note
}

func loadNote(loads []cluster.ImageLoad) string {
	counts := map[cluster.LoadAction]int{}
	for _, l := range loads {
		counts[l.Action]++
	}
	parts := []string{}
	for _, a := range []cluster.LoadAction{cluster.ActionLoaded, cluster.ActionRetagged, cluster.ActionSkipped} {
		if counts[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[a], a))
		}
	}
	return strings.Join(parts, ", ") + " (image × node)"
}

// Summary is the closing block of `up`.
func (r *UpResult) Summary() string {
	var b strings.Builder
	if r.DagitForwarded {
		fmt.Fprintf(&b, "Dagit:   run `dagster-dev dagit` to serve it on %s (a port-forward; an existing cluster has no port mapping)\n", r.DagitURL)
	} else {
		fmt.Fprintf(&b, "Dagit:   %s\n", r.DagitURL)
	}
	if len(r.Locations) > 0 {
		fmt.Fprintf(&b, "Code:    %s\n", strings.Join(r.Locations, ", "))
	}
	fmt.Fprintf(&b, "Context: %s (%s)\nReady in %s", r.Context, r.Kubeconfig, progress.Round(r.Duration))
	return b.String()
}
