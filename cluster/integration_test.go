// Long on purpose: one real cluster is created and driven through every
// lifecycle step in order; splitting it would repeat the costly set-up.

package cluster

// Integration tests against the real Docker engine and kind. They create
// kind clusters (~30 s each on 2 cores) and are skipped unless
// DAGSTER_DEV_E2E=1. The node image defaults to the offline harness image;
// DAGSTER_DEV_NODE_IMAGE overrides it.
//
//	DAGSTER_DEV_E2E=1 go test ./cluster/ -run Integration -v -timeout 30m

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/dagster-dev/dagster-dev/internal/e2etest"
)

const (
	itCluster  = "dagster-dev-cluster-test"
	itNodePort = 30080
	itImage    = "dagster-dev.local/cluster-test"
)

func itNodeImage() string {
	if v := os.Getenv("DAGSTER_DEV_NODE_IMAGE"); v != "" {
		return v
	}
	return "dagster-dev.local/kind-node:v1.34.4"
}

// tLogger sends Provider output to the test log.
type tLogger struct{ t *testing.T }

func (l tLogger) Infof(f string, a ...any) { l.t.Helper(); l.t.Logf("INFO "+f, a...) }
func (l tLogger) Warnf(f string, a ...any) { l.t.Helper(); l.t.Logf("WARN "+f, a...) }

// itSetup skips unless e2e tests are enabled, checks Docker and the node
// image, removes leftovers of an earlier run of the same cluster name, and
// registers the final cleanup.
func itSetup(t *testing.T, name string) (*client.Client, string) {
	t.Helper()
	e2etest.Require(t)
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := dc.Ping(ctx); err != nil {
		t.Fatalf("Docker not reachable: %v", err)
	}
	if _, err := dc.ImageInspect(ctx, itNodeImage()); err != nil {
		t.Fatalf("node image %s: %v (build it with e2e/offline/prepare or set DAGSTER_DEV_NODE_IMAGE)", itNodeImage(), err)
	}
	kp := kindcluster.NewProvider(kindcluster.ProviderWithDocker())
	if others, _ := kp.List(); len(others) > 0 {
		t.Logf("other kind clusters present (timings will be slower): %v", others)
	}
	kubeconfig := t.TempDir() + "/kubeconfig"
	// Leftover from an interrupted run: remove it whoever "owns" it.
	_ = kp.Delete(name, kubeconfig)
	t.Cleanup(func() {
		if err := kp.Delete(name, kubeconfig); err != nil {
			t.Errorf("cleanup: delete %s: %v", name, err)
		}
	})
	return dc, kubeconfig
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestIntegrationLifecycle(t *testing.T) {
	dc, kubeconfig := itSetup(t, itCluster)
	ctx := context.Background()
	p := NewProvider(WithLogger(tLogger{t}), WithReadyTimeout(4*time.Minute))
	spec := Spec{Name: itCluster, NodeImage: itNodeImage(), Nodes: 1, HostPort: freePort(t), NodePort: itNodePort}

	// Preflight: Docker and the port must pass; inotify depends on the box.
	if err := p.Preflight(ctx, spec, true); err != nil {
		var pe *PortInUseError
		var de *DockerUnreachableError
		if errors.As(err, &pe) || errors.As(err, &de) {
			t.Fatalf("Preflight: %v", err)
		}
		t.Logf("Preflight (not fatal here): %v", err)
	}

	// --- create ---
	res, err := p.Ensure(ctx, spec, kubeconfig)
	if err != nil {
		t.Fatalf("Ensure (create): %v", err)
	}
	t.Logf("FIGURE create (1 node, until Ready): %s", res.Duration.Round(10*time.Millisecond))
	if !res.Created || res.Reused || !res.Owned || res.KubeContext != "kind-"+itCluster || res.KubeconfigPath != kubeconfig {
		t.Errorf("create result = %+v", res)
	}
	checkKubeconfig(t, kubeconfig, res.KubeContext, true)
	st, err := p.Status(ctx, itCluster)
	if err != nil {
		t.Fatal(err)
	}
	wantPort := fmt.Sprintf("127.0.0.1:%d->%d/tcp", spec.HostPort, itNodePort)
	if !st.Exists || !st.Owned || len(st.Nodes) != 1 || st.Nodes[0].State != "running" ||
		st.Nodes[0].Image != itNodeImage() || strings.Join(st.Nodes[0].Ports, ",") != wantPort {
		t.Errorf("status after create = %+v", st)
	}
	if st.CreatedWith == nil || *st.CreatedWith != spec.normalized() {
		t.Errorf("recorded spec = %+v, want %+v", st.CreatedWith, spec.normalized())
	}

	// The mapping really reaches a NodePort: expose the API server through a
	// selector-less NodePort Service and speak TLS to 127.0.0.1:HostPort.
	t.Run("host port reaches NodePort", func(t *testing.T) {
		checkHostPortPath(t, kubeconfig, res.KubeContext, spec.HostPort)
	})

	// --- reuse ---
	res, err = p.Ensure(ctx, spec, kubeconfig)
	if err != nil {
		t.Fatalf("Ensure (reuse): %v", err)
	}
	t.Logf("FIGURE reuse (running cluster): %s", res.Duration.Round(time.Millisecond))
	if res.Created || !res.Reused || !res.Owned || len(res.StartedNodes) != 0 {
		t.Errorf("reuse result = %+v", res)
	}
	if res.Duration > 15*time.Second {
		t.Errorf("reuse took %s; it should not wait for anything", res.Duration)
	}

	// --- drift ---
	t.Run("drift", func(t *testing.T) {
		other := spec
		other.HostPort = spec.HostPort + 1
		_, err := p.Ensure(ctx, other, kubeconfig)
		var de *DriftError
		if !errors.As(err, &de) {
			t.Fatalf("Ensure with another host port = %v, want *DriftError", err)
		}
		if !de.Owned || len(de.Differences) != 1 || de.Differences[0].Field != "dagit host port" ||
			de.Differences[0].Have != wantPort {
			t.Errorf("drift = %+v", de)
		}
		t.Logf("drift message:\n%v", err)
		other = spec
		other.Nodes = 2
		other.NodeImage = "kindest/node:v1.34.0"
		_, err = p.Ensure(ctx, other, kubeconfig)
		if !errors.As(err, &de) || len(de.Differences) != 2 {
			t.Errorf("nodes+image drift = %v", err)
		}
	})

	// --- images ---
	t.Run("load images", func(st *testing.T) {
		// Images are removed when the whole test ends: the restart case
		// below checks that they survive a node restart.
		testLoadImages(st, t, p, dc)
	})

	// --- stopped node ---
	t.Run("start stopped node", func(t *testing.T) {
		cpName := itCluster + "-control-plane"
		stopStart := time.Now()
		if err := dc.ContainerStop(ctx, cpName, container.StopOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Logf("stopping the node took %s", time.Since(stopStart).Round(10*time.Millisecond))
		st, err := p.Status(ctx, itCluster)
		if err != nil || st.Nodes[0].State != "exited" || !st.Owned {
			t.Fatalf("status of stopped cluster = %+v, %v", st, err)
		}
		// Ownership must be readable while stopped, or `down` could not delete it.
		res, err := p.Ensure(ctx, spec, kubeconfig)
		if err != nil {
			t.Fatalf("Ensure (start): %v", err)
		}
		t.Logf("FIGURE start stopped node + Ready: %s", res.Duration.Round(10*time.Millisecond))
		if !res.Reused || strings.Join(res.StartedNodes, ",") != cpName {
			t.Errorf("start result = %+v", res)
		}
		// Images survive a restart (containerd's store is on the node's /var volume).
		loads, err := p.LoadImages(ctx, itCluster, []string{itImage + ":v1"}, nil)
		if err != nil || len(loads) != 1 || loads[0].Action != ActionSkipped {
			t.Errorf("after restart: %+v, %v", loads, err)
		}
		checkHostPortPath(t, kubeconfig, res.KubeContext, spec.HostPort)
	})

	// --- delete ---
	d, err := p.Delete(ctx, itCluster, kubeconfig)
	if err != nil || !d.Deleted || len(d.Nodes) != 1 {
		t.Fatalf("Delete = %+v, %v", d, err)
	}
	t.Logf("FIGURE delete: %s", d.Duration.Round(10*time.Millisecond))
	checkKubeconfig(t, kubeconfig, "kind-"+itCluster, false)
	d, err = p.Delete(ctx, itCluster, kubeconfig)
	if err != nil || d.Deleted || !strings.Contains(d.Message, "nothing to delete") {
		t.Errorf("second Delete = %+v, %v", d, err)
	}
}

// testLoadImages builds tiny images with the Engine API (no registry, no
// Dockerfile) and checks loaded / skipped / retagged / reloaded-after-rebuild.
func testLoadImages(t, cleanup *testing.T, p *Provider, dc *client.Client) {
	ctx := context.Background()
	v1, v2 := itImage+":v1", itImage+":v2"
	importImage(t, dc, v1, "one")
	cleanup.Cleanup(func() {
		for _, ref := range []string{v1, v2} {
			_, _ = dc.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true})
		}
	})

	var mu sync.Mutex
	var reported []ImageLoad
	report := func(l ImageLoad) { mu.Lock(); reported = append(reported, l); mu.Unlock() }

	loads, err := p.LoadImages(ctx, itCluster, []string{v1}, report)
	if err != nil {
		t.Fatalf("LoadImages: %v", err)
	}
	if len(loads) != 1 || loads[0].Action != ActionLoaded || loads[0].Bytes <= 0 || loads[0].Node != itCluster+"-control-plane" {
		t.Fatalf("first load = %+v", loads)
	}
	if len(reported) != 1 || reported[0] != loads[0] {
		t.Errorf("reported %+v, returned %+v", reported, loads)
	}
	t.Logf("FIGURE load tiny image: %s, %d bytes", loads[0].Duration.Round(time.Millisecond), loads[0].Bytes)
	nodeHas(t, v1, loads[0].ImageID)

	loads, err = p.LoadImages(ctx, itCluster, []string{v1}, nil)
	if err != nil || len(loads) != 1 || loads[0].Action != ActionSkipped || loads[0].Bytes != 0 {
		t.Fatalf("second load = %+v, %v", loads, err)
	}
	t.Logf("FIGURE skip (already on node): %s", loads[0].Duration.Round(time.Millisecond))

	// Same content under a new tag: re-tag, no transfer.
	if err := dc.ImageTag(ctx, v1, v2); err != nil {
		t.Fatal(err)
	}
	loads, err = p.LoadImages(ctx, itCluster, []string{v2}, nil)
	if err != nil || len(loads) != 1 || loads[0].Action != ActionRetagged || loads[0].Bytes != 0 {
		t.Fatalf("retag load = %+v, %v", loads, err)
	}
	t.Logf("FIGURE retag: %s", loads[0].Duration.Round(time.Millisecond))
	nodeHas(t, v2, loads[0].ImageID)

	// Rebuilt under the same tag: the node's copy is stale and must be replaced.
	importImage(t, dc, v1, "two")
	loads, err = p.LoadImages(ctx, itCluster, []string{v1, v2}, nil)
	if err != nil || len(loads) != 2 || loads[0].Action != ActionLoaded || loads[1].Action != ActionSkipped {
		t.Fatalf("after rebuild = %+v, %v", loads, err)
	}
	nodeHas(t, v1, loads[0].ImageID)

	// A missing image: named, with the fix, nothing loaded.
	_, err = p.LoadImages(ctx, itCluster, []string{itImage + ":missing"}, nil)
	var me *MissingImageError
	if !errors.As(err, &me) || me.Image != itImage+":missing" {
		t.Errorf("missing image = %v", err)
	}

	// A real-sized image, if the offline harness built one.
	for _, big := range []string{"dagster-dev.local/postgres:15", "dagster-dev.local/dagster:1.13.27"} {
		if _, err := dc.ImageInspect(ctx, big); err != nil {
			t.Logf("%s not present; skipping the large-image figure", big)
			continue
		}
		loads, err := p.LoadImages(ctx, itCluster, []string{big}, nil)
		if err != nil {
			t.Errorf("load %s: %v", big, err)
			continue
		}
		t.Logf("FIGURE %s %s: %s, %.1f MB", loads[0].Action, big, loads[0].Duration.Round(time.Millisecond), float64(loads[0].Bytes)/1e6)
		loads, err = p.LoadImages(ctx, itCluster, []string{big}, nil)
		if err != nil || loads[0].Action != ActionSkipped {
			t.Errorf("reload %s = %+v, %v", big, loads, err)
		}
		t.Logf("FIGURE skip %s: %s", big, loads[0].Duration.Round(time.Millisecond))
		break
	}
}

// importImage creates a one-file image with `docker import` semantics; the
// content string makes different builds have different IDs.
func importImage(t *testing.T, dc *client.Client, ref, content string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	data := []byte(content + "\n")
	if err := tw.WriteHeader(&tar.Header{Name: "content.txt", Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write(data)
	_ = tw.Close()
	rc, err := dc.ImageImport(context.Background(), image.ImportSource{Source: &buf, SourceName: "-"}, ref, image.ImportOptions{})
	if err != nil {
		t.Fatalf("import %s: %v", ref, err)
	}
	_, _ = io.Copy(io.Discard, rc)
	rc.Close()
}

// nodeHas checks through kind's nodeutils that the node lists ref with id.
func nodeHas(t *testing.T, ref, id string) {
	t.Helper()
	nodes, err := kindcluster.NewProvider(kindcluster.ProviderWithDocker()).ListInternalNodes(itCluster)
	if err != nil || len(nodes) == 0 {
		t.Fatalf("list nodes: %v", err)
	}
	for _, n := range nodes {
		got, err := nodeutils.ImageID(n, ref)
		if err != nil || got != id {
			t.Errorf("node %s: %s has ID %q (%v), want %q", n, ref, got, err, id)
		}
	}
}

func checkKubeconfig(t *testing.T, path, context string, want bool) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	if _, ok := cfg.Contexts[context]; ok != want {
		t.Errorf("context %s present = %v, want %v", context, ok, want)
	}
	if want {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("kubeconfig mode = %v, %v; want 0600", st.Mode().Perm(), err)
		}
	}
}

// checkHostPortPath creates a selector-less NodePort Service on
// itNodePort whose endpoint is the API server, then completes a TLS
// handshake through 127.0.0.1:hostPort: host port -> node container port
// (kind extraPortMappings) -> NodePort (kube-proxy) -> pod/endpoint, the
// path Dagit's Service will use.
func checkHostPortPath(t *testing.T, kubeconfig, kubeContext string, hostPort int) {
	t.Helper()
	ctx := context.Background()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("nodes: %v", err)
	}
	var nodeIP string
	for _, a := range nodes.Items[0].Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			nodeIP = a.Address
		}
	}
	const svcName = "hostport-check"
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: svcName, Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{
			Name: "https", Port: 443, TargetPort: intstr.FromInt32(6443), NodePort: itNodePort, Protocol: corev1.ProtocolTCP,
		}}},
	}
	// Created once; after a node restart the objects are still there.
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		if _, getErr := cs.CoreV1().Services("default").Get(ctx, svcName, metav1.GetOptions{}); getErr != nil {
			t.Fatalf("create service: %v", err)
		}
	}
	eps := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svcName, Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: svcName}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{nodeIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To[int32](6443), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, eps, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create endpointslice: %v", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort))
	start := time.Now()
	var lastErr error
	for time.Since(start) < 60*time.Second {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
			t.Logf("TLS through %s -> NodePort %d -> API server after %s", addr, itNodePort, time.Since(start).Round(10*time.Millisecond))
			return
		}
		lastErr = err
		time.Sleep(time.Second)
	}
	t.Errorf("no TLS through %s after 60s: %v", addr, lastErr)
}

// A cluster created by plain kind: Ensure may reuse it when it matches (and
// says so), Delete refuses it, Status shows it as not owned.
func TestIntegrationForeignCluster(t *testing.T) {
	const name = itCluster + "-foreign"
	_, kubeconfig := itSetup(t, name)
	ctx := context.Background()
	start := time.Now()
	kp := kindcluster.NewProvider(kindcluster.ProviderWithDocker())
	if err := kp.Create(name, kindcluster.CreateWithNodeImage(itNodeImage()), kindcluster.CreateWithKubeconfigPath(kubeconfig)); err != nil {
		t.Fatalf("kind create: %v", err)
	}
	t.Logf("plain kind create (no wait): %s", time.Since(start).Round(10*time.Millisecond))

	log := &recLogger{}
	p := NewProvider(WithLogger(log), WithReadyTimeout(4*time.Minute))
	st, err := p.Status(ctx, name)
	if err != nil || !st.Exists || st.Owned {
		t.Errorf("status = %+v, %v", st, err)
	}
	_, err = p.Delete(ctx, name, kubeconfig)
	var ne *NotOwnedError
	if !errors.As(err, &ne) {
		t.Fatalf("Delete of a foreign cluster = %v, want *NotOwnedError", err)
	}
	t.Logf("refusal: %v", err)
	if list, _ := kp.List(); !contains(list, name) {
		t.Fatal("Delete removed the foreign cluster")
	}

	// Matching spec (kind's default: no port mapping): reused, not owned,
	// warned; and warned that it lacks the code mount this spec would have
	// made (not required: no code location needs it yet).
	codeRoot := t.TempDir()
	res, err := p.Ensure(ctx, Spec{Name: name, NodeImage: itNodeImage(), CodeMount: Mount{HostPath: codeRoot, NodePath: "/dagster-dev/code"}}, kubeconfig)
	if err != nil {
		t.Fatalf("Ensure on a matching foreign cluster: %v", err)
	}
	if !res.Reused || res.Owned {
		t.Errorf("result = %+v", res)
	}
	warns := strings.Join(log.warns, "\n")
	if !strings.Contains(warns, "not created by dagster-dev") {
		t.Errorf("no warning about reusing a foreign cluster: %v", log.warns)
	}
	if !strings.Contains(warns, "another code root (no code mount on "+name+"-control-plane") || !strings.Contains(warns, codeRoot) {
		t.Errorf("no warning about the missing code mount: %v", log.warns)
	}
	required := Spec{Name: name, NodeImage: itNodeImage(), CodeMount: Mount{HostPath: codeRoot, NodePath: "/dagster-dev/code", Required: true}}
	var mountDrift *DriftError
	if err := p.CheckCodeMount(ctx, required); !errors.As(err, &mountDrift) || mountDrift.Owned {
		t.Errorf("CheckCodeMount on a cluster without the mount = %v, want a not-owned *DriftError", err)
	}
	// Non-matching: drift, with the kind-delete fix rather than `dagster-dev down`.
	_, err = p.Ensure(ctx, Spec{Name: name, NodeImage: itNodeImage(), HostPort: freePort(t), NodePort: itNodePort}, kubeconfig)
	var de *DriftError
	if !errors.As(err, &de) {
		t.Fatalf("Ensure with a port mapping on a foreign cluster = %v, want *DriftError", err)
	}
	if de.Owned || !strings.Contains(de.Fix(), "kind delete cluster --name "+name) {
		t.Errorf("drift on foreign cluster = %v; owned %v, fix %q", err, de.Owned, de.Fix())
	}
}

// Two nodes: worker count, parallel load into both nodes, skip on both.
func TestIntegrationTwoNodes(t *testing.T) {
	const name = itCluster + "-2n"
	dc, kubeconfig := itSetup(t, name)
	ctx := context.Background()
	p := NewProvider(WithLogger(tLogger{t}), WithReadyTimeout(5*time.Minute))
	res, err := p.Ensure(ctx, Spec{Name: name, NodeImage: itNodeImage(), Nodes: 2}, kubeconfig)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	t.Logf("FIGURE create (2 nodes, until Ready): %s", res.Duration.Round(10*time.Millisecond))
	if strings.Join(res.Nodes, ",") != name+"-control-plane,"+name+"-worker" {
		t.Errorf("nodes = %v", res.Nodes)
	}
	ref := itImage + ":2n"
	importImage(t, dc, ref, "two nodes")
	t.Cleanup(func() { _, _ = dc.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true}) })
	start := time.Now()
	loads, err := p.LoadImages(ctx, name, []string{ref}, nil)
	if err != nil || len(loads) != 2 || loads[0].Action != ActionLoaded || loads[1].Action != ActionLoaded || loads[0].Node == loads[1].Node {
		t.Fatalf("load = %+v, %v", loads, err)
	}
	t.Logf("FIGURE load tiny image into 2 nodes: %s", time.Since(start).Round(time.Millisecond))
	loads, err = p.LoadImages(ctx, name, []string{ref}, nil)
	if err != nil || len(loads) != 2 || loads[0].Action != ActionSkipped || loads[1].Action != ActionSkipped {
		t.Fatalf("reload = %+v, %v", loads, err)
	}
	d, err := p.Delete(ctx, name, kubeconfig)
	if err != nil || !d.Deleted || len(d.Nodes) != 2 {
		t.Errorf("Delete = %+v, %v", d, err)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
