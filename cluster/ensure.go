package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// EnsureResult says what Ensure did.
type EnsureResult struct {
	Name           string
	KubeContext    string // "kind-<name>"
	KubeconfigPath string // the file the context was written to
	Created        bool   // a new cluster was created
	Reused         bool   // an existing cluster was reused
	// Owned is false when a pre-existing cluster that dagster-dev did not
	// create was reused because it matches the spec; Delete will refuse it.
	Owned        bool
	StartedNodes []string // node containers that were stopped or paused and got started
	Nodes        []string // node container names, control-plane first
	Duration     time.Duration
}

// Ensure makes a cluster matching spec exist and be Ready, and writes its
// context to kubeconfigPath ("" = kind's default, kube.KindKubeconfigPath:
// the first existing $KUBECONFIG file, or ~/.kube/config).
//
// A missing cluster is created through kind. An existing one is reused:
// stopped node containers are started and the kubeconfig re-exported. If the
// existing cluster differs from spec (node count, node image, Dagit port
// mapping) Ensure returns a *DriftError and changes nothing: those settings
// are fixed at creation and recreating would lose the user's data.
func (p *Provider) Ensure(ctx context.Context, spec Spec, kubeconfigPath string) (*EnsureResult, error) {
	start := time.Now()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	want := spec.normalized()
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, &DockerCLIMissingError{Err: err}
	}
	dc, err := p.dockerClient()
	if err != nil {
		return nil, err
	}
	nodes, err := listNodeContainers(ctx, dc, want.Name)
	if err != nil {
		return nil, p.dockerError(err)
	}
	res := &EnsureResult{
		Name:           want.Name,
		KubeContext:    KubeContext(want.Name),
		KubeconfigPath: kube.KindKubeconfigPath(kubeconfigPath),
	}
	if len(nodes) == 0 {
		err = p.create(ctx, dc, want, kubeconfigPath, res)
	} else {
		err = p.reuse(ctx, dc, want, nodes, kubeconfigPath, res)
	}
	if err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

func (p *Provider) create(ctx context.Context, dc DockerClient, want Spec, kubeconfigPath string, res *EnsureResult) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.logger.Infof("creating kind cluster %q: %d node(s), image %s, %s", want.Name, want.Nodes, want.NodeImage, describePorts(wantPorts(want)))
	// kind's Create takes no context: it runs to completion (or cleans up
	// after itself on failure) even if ctx is cancelled meanwhile. Running it
	// in the background and returning early would leave a cluster without an
	// ownership record, which `dagster-dev down` would then refuse to delete.
	err := p.kind.Create(want.Name,
		kindcluster.CreateWithV1Alpha4Config(kindConfig(want)),
		kindcluster.CreateWithNodeImage(want.NodeImage),
		kindcluster.CreateWithKubeconfigPath(kubeconfigPath),
		kindcluster.CreateWithDisplayUsage(false),
		kindcluster.CreateWithDisplaySalutation(false),
	)
	if noSpace(err) {
		root := ""
		if info, ierr := dc.Info(context.WithoutCancel(ctx)); ierr == nil {
			root = info.DockerRootDir
		}
		return diskFullCreate(daemonHost(dc), root, err)
	}
	if err != nil {
		return fmt.Errorf("create kind cluster %q: %w", want.Name, err)
	}
	// Record ownership even if ctx was cancelled during the create: the
	// cluster exists now and must stay deletable by `dagster-dev down`.
	recCtx := context.WithoutCancel(ctx)
	nodes, err := listNodeContainers(recCtx, dc, want.Name)
	if err == nil && controlPlane(nodes) == nil {
		err = errors.New("no control-plane node container found after create")
	}
	if err == nil {
		err = writeOwner(recCtx, dc, controlPlane(nodes).ID, ownerRecord{
			CreatedBy: ownerCreator,
			CreatedAt: time.Now().UTC(),
			Spec:      want,
		})
	}
	if err != nil {
		// Without the record nobody could delete this cluster through
		// dagster-dev; we just created it, so removing it is safe.
		if delErr := p.kind.Delete(want.Name, kubeconfigPath); delErr != nil {
			return fmt.Errorf("record ownership of new cluster %q: %w (deleting it again also failed: %v)", want.Name, err, delErr)
		}
		return fmt.Errorf("record ownership of new cluster %q (the cluster was deleted again): %w", want.Name, err)
	}
	res.Created = true
	res.Owned = true
	res.Nodes = nodeNames(nodes)
	if err := p.privateKubeconfig(res.KubeconfigPath); err != nil {
		return err
	}
	_, err = p.waitReady(ctx, want.Name, want.Nodes)
	return err
}

func (p *Provider) reuse(ctx context.Context, dc DockerClient, want Spec, nodes []nodeContainer, kubeconfigPath string, res *EnsureResult) error {
	cp := controlPlane(nodes)
	owned := false
	if cp != nil {
		rec, err := readOwner(ctx, dc, cp.ID)
		if err != nil {
			return fmt.Errorf("kind cluster %q: %w", want.Name, err)
		}
		owned = rec != nil
	}
	if diffs := compareSpec(want, nodes); len(diffs) > 0 {
		return &DriftError{Cluster: want.Name, Owned: owned, Differences: diffs}
	}
	if d := codeMountDifference(want, nodes); d != nil {
		// Not drift yet (no code location needs the mount), but one added
		// later to this config would fail on its pod's subPath.
		p.logger.Warnf("kind cluster %q was created with another code root (%s; this configuration's: %s): a path code location added later cannot load until the cluster is recreated (`dagster-dev down`, then `dagster-dev up`) or this project gets its own cluster (set cluster.name to another name)", want.Name, d.Have, want.CodeMount)
	}
	if !owned {
		p.logger.Warnf("reusing kind cluster %q: it was not created by dagster-dev but matches the configuration; `dagster-dev down` will not delete it", want.Name)
	}
	startedAt := time.Now()
	started, err := p.startNodes(ctx, dc, want.Name, owned, nodes)
	if err != nil {
		return err
	}
	// Re-export even when nothing was started: the user may have deleted the
	// context or pointed KUBECONFIG elsewhere since the cluster was created.
	if err := p.kind.ExportKubeConfig(want.Name, kubeconfigPath, false); err != nil {
		return fmt.Errorf("export kubeconfig of kind cluster %q: %w", want.Name, err)
	}
	if err := p.privateKubeconfig(res.KubeconfigPath); err != nil {
		return err
	}
	res.Reused = true
	res.Owned = owned
	res.StartedNodes = started
	res.Nodes = nodeNames(nodes)
	if len(started) > 0 {
		p.logger.Infof("started %d stopped node container(s) of kind cluster %q: %s", len(started), want.Name, strings.Join(started, ", "))
	}
	cs, err := p.waitReady(ctx, want.Name, want.Nodes)
	if err != nil {
		if full := p.CheckDisk(context.WithoutCancel(ctx), want.Name); full != nil {
			return full
		}
		return err
	}
	p.recoverFromBoot(ctx, cs, want.Name, nodeBoot(nodes, started, startedAt))
	return nil
}

// startNodes brings every node container to running. nodes is ordered
// control-plane first: Docker hands out addresses on the kind network in
// start order, so starting the control-plane first gives it back the address
// it most likely had, which the workers' kubelets and certificates expect.
func (p *Provider) startNodes(ctx context.Context, dc DockerClient, cluster string, owned bool, nodes []nodeContainer) ([]string, error) {
	var started []string
	for _, n := range nodes {
		var err error
		switch n.State {
		case container.StateRunning, container.StateRestarting:
			// restarting: Docker is already bringing it back.
			continue
		case container.StatePaused:
			err = dc.ContainerUnpause(ctx, n.ID)
		case container.StateExited, container.StateCreated:
			err = dc.ContainerStart(ctx, n.ID, container.StartOptions{})
		default: // dead, removing: nothing to start
			return started, brokenClusterError(cluster, owned, fmt.Sprintf("node container %s is %s", n.Name, n.State))
		}
		if err != nil {
			return started, fmt.Errorf("start node container %s of kind cluster %q: %w", n.Name, cluster, p.dockerError(err))
		}
		started = append(started, n.Name)
	}
	return started, nil
}

func brokenClusterError(cluster string, owned bool, what string) error {
	fix := "run `dagster-dev down` then `dagster-dev up`"
	if !owned {
		fix = fmt.Sprintf("it was not created by dagster-dev: delete it with `kind delete cluster --name %s`", cluster)
	}
	return fmt.Errorf("kind cluster %q cannot be reused: %s\n  fix: %s", cluster, what, fix)
}

// waitReady polls the API server until it lists exactly wantNodes nodes, all
// Ready. kind's own wait only covers the control-plane and reports nothing
// useful on timeout; here the error says which node is not Ready and why.
func (p *Provider) waitReady(ctx context.Context, name string, wantNodes int) (kubernetes.Interface, error) {
	start := time.Now()
	raw, err := p.kind.KubeConfig(name, false)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig of kind cluster %q: %w", name, err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("parse kubeconfig of kind cluster %q: %w", name, err)
	}
	// A restarted API server accepts connections before it answers; without
	// a per-request timeout one hung request would eat the whole budget.
	cfg.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for kind cluster %q: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.readyTimeout)
	defer cancel()

	const interval = time.Second
	detail := "API server not answering yet"
	var lastErr error
	logged := ""
	err = wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		ready, d, err := nodesReady(ctx, cs, wantNodes)
		if ready {
			return true, nil
		}
		detail, lastErr = d, err
		if detail != logged {
			p.logger.Infof("kind cluster %q: waiting: %s", name, detail)
			logged = detail
		}
		return false, nil
	})
	if err != nil {
		if lastErr == nil {
			lastErr = err
		}
		return nil, &NotReadyError{Cluster: name, Waited: time.Since(start), Detail: detail, Err: lastErr}
	}
	p.logger.Infof("kind cluster %q: %d node(s) Ready after %s", name, wantNodes, time.Since(start).Round(100*time.Millisecond))
	return cs, nil
}

// nodesReady reports whether exactly want nodes exist and all are Ready; if
// not, detail says what is missing.
func nodesReady(ctx context.Context, cs kubernetes.Interface, want int) (bool, string, error) {
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, fmt.Sprintf("API server not answering: %v", err), err
	}
	return nodeListReady(list.Items, want)
}

func nodeListReady(nodes []corev1.Node, want int) (bool, string, error) {
	if len(nodes) != want {
		return false, fmt.Sprintf("%d of %d node(s) registered", len(nodes), want), nil
	}
	var notReady []string
	for _, n := range nodes {
		cond := nodeReadyCondition(n)
		switch {
		case cond == nil:
			notReady = append(notReady, n.Name+" (no Ready condition yet)")
		case cond.Status != corev1.ConditionTrue:
			reason := cond.Reason
			if cond.Message != "" {
				reason += ": " + cond.Message
			}
			notReady = append(notReady, fmt.Sprintf("%s (%s)", n.Name, reason))
		}
	}
	if len(notReady) > 0 {
		return false, "node(s) not Ready: " + strings.Join(notReady, "; "), nil
	}
	return true, "", nil
}

func nodeReadyCondition(n corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// privateKubeconfig makes sure the kubeconfig holding the cluster's admin
// credentials is 0600. kind writes new files 0600 but keeps the mode of an
// existing file, which may be world-readable.
func (p *Provider) privateKubeconfig(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	if st.Mode().Perm()&^0o600 == 0 {
		return nil
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("restrict kubeconfig %s to mode 0600 (it holds cluster-admin credentials): %w", path, err)
	}
	p.logger.Warnf("kubeconfig %s was mode %#o; changed it to 0600 because it holds cluster-admin credentials", path, st.Mode().Perm())
	return nil
}

func nodeNames(ns []nodeContainer) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}

// dockerError turns a connection failure into a *DockerUnreachableError
// (with the fix) and leaves other errors alone.
func (p *Provider) dockerError(err error) error {
	if err == nil || !client.IsErrConnectionFailed(err) {
		return err
	}
	return &DockerUnreachableError{Host: daemonHost(p.docker), Err: err}
}
