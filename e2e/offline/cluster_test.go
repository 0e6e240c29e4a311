// Long on purpose: the harness proof test drives one kind cluster through
// every image in sequence; its steps share that cluster and its helpers.

package offline_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindlog "sigs.k8s.io/kind/pkg/log"

	"github.com/dagster-dev/dagster-dev/e2e/offline/harness"
)

// The harness cluster's name differs from dagster-dev's default, so the test
// never touches a developer's cluster.
const clusterName = "dagster-dev-harness"

// outsideAddr is an address outside this machine that no container may
// reach: TEST-NET-3 (RFC 5737), routed via the default route but never a
// real host. (TEST-NET-1's 192.0.2.1 is this VM's real gateway.)
const outsideAddr = "203.0.113.1"

// TestCluster proves the node image: a single-node kind cluster created
// through the kind Go API runs DNS, Services, storage, side-loaded images and
// privileged pods, and cannot reach outside the machine.
func TestCluster(t *testing.T) {
	requireE2E(t, harness.NodeImage, harness.BusyboxImage)
	requireRejectRule(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	k := createCluster(t, clusterName, 1)
	cs := k.cs

	t.Run("node ready", func(t *testing.T) { waitNodesReady(t, ctx, cs, 1) })
	t.Run("addons", func(t *testing.T) { waitAddons(t, ctx, cs) })

	// side-load the test image exactly as dagster-dev does: docker save -> kind nodeutils
	start := time.Now()
	sideLoad(t, ctx, k, harness.BusyboxImage)
	t.Logf("side-load %s: %s", harness.BusyboxImage, time.Since(start).Round(10*time.Millisecond))

	ns := "harness"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("side-loaded image runs", func(t *testing.T) {
		runPod(t, ctx, cs, ns, "sideloaded", podOpts{}, "echo running from the side-loaded image")
	})
	t.Run("cluster DNS", func(t *testing.T) {
		out := runPod(t, ctx, cs, ns, "dns", podOpts{}, "nslookup kubernetes.default.svc.cluster.local && nslookup kube-dns.kube-system.svc.cluster.local")
		if !strings.Contains(out, "10.96.0.1") {
			t.Fatalf("kubernetes.default did not resolve to 10.96.0.1:\n%s", out)
		}
	})
	t.Run("service with two endpoints", func(t *testing.T) { serviceTwoEndpoints(t, ctx, cs, ns) })
	t.Run("pvc on default storage class", func(t *testing.T) { pvcBinds(t, ctx, cs, ns) })
	t.Run("privileged pod", func(t *testing.T) {
		script := "mkdir -p /m && mount -t tmpfs t /m && echo MOUNT_OK; ip link add h0 type veth peer name h1 && echo LINK_OK; grep CapEff /proc/self/status"
		out := runPod(t, ctx, cs, ns, "privileged", podOpts{privileged: true}, script)
		if !strings.Contains(out, "LINK_OK") || !strings.Contains(out, "MOUNT_OK") {
			t.Fatalf("privileged operations failed:\n%s", out)
		}
		// control: the same operations are refused without privileges
		out = runPod(t, ctx, cs, ns, "unprivileged", podOpts{}, script)
		if strings.Contains(out, "LINK_OK") || strings.Contains(out, "MOUNT_OK") {
			t.Fatalf("an unprivileged pod could do privileged operations:\n%s", out)
		}
	})
	t.Run("no traffic leaves the machine", func(t *testing.T) {
		// The DOCKER-USER rule rejects with icmp-port-unreachable, which
		// wget reports as "Connection refused"; a DROP or a missing rule
		// never produces that: the connect hangs, or it connects. How long
		// the reject takes says nothing (a loaded machine can leave the
		// first SYNs unanswered while the pod's network settles), so only
		// the answer is checked. `timeout` only guards against a hang (well
		// inside runPod's 3 minutes); its kill shows as exit status 143
		// (busybox) or 124 (coreutils). "unreachable" and "No route to
		// host" are ICMP answers too: no DROP gives them either.
		out := runPod(t, ctx, cs, ns, "outside", podOpts{}, fmt.Sprintf(
			`s=$(date +%%s); timeout 90 wget -q -O- http://%s/ >/dev/null 2>/tmp/err; rc=$?; e=$(date +%%s); cat /tmp/err; echo "EXIT $rc ELAPSED $((e-s))"`, outsideAddr))
		i := strings.LastIndex(out, "EXIT ")
		var rc, secs int
		if i < 0 {
			t.Fatalf("unexpected output:\n%s", out)
		}
		if _, err := fmt.Sscanf(out[i:], "EXIT %d ELAPSED %d", &rc, &secs); err != nil {
			t.Fatalf("unexpected output (%v):\n%s", err, out)
		}
		errText := strings.TrimSpace(out[:i])
		switch {
		case rc == 0:
			t.Fatalf("wget reached %s: traffic leaves the machine:\n%s", outsideAddr, out)
		case rc == 124 || rc == 143 || rc == 137:
			t.Fatalf("wget to %s hung until the %ds guard killed it (exit %d): dropped, not rejected:\n%s", outsideAddr, secs, rc, out)
		case !strings.Contains(errText, "Connection refused") && !strings.Contains(errText, "No route to host") && !strings.Contains(errText, "unreachable"):
			t.Fatalf("wget to %s failed (exit %d) without a rejected connection:\n%s", outsideAddr, rc, out)
		}
		t.Logf("connection to %s rejected after %ds (exit %d): %s", outsideAddr, secs, rc, errText)
	})

	logNodeMemory(t, ctx, clusterName)
}

// TestMultiNodeCluster proves the CNI across nodes: a two-node cluster gets
// Ready, and a Service answers from a pod on the other node.
func TestMultiNodeCluster(t *testing.T) {
	requireE2E(t, harness.NodeImage, harness.BusyboxImage)
	requireRejectRule(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	k := createCluster(t, clusterName+"-2", 2)
	waitNodesReady(t, ctx, k.cs, 2)
	waitAddons(t, ctx, k.cs)
	sideLoad(t, ctx, k, harness.BusyboxImage)
	ns := "harness"
	if _, err := k.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nodes, err := k.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// server on one node, client pinned to the other
	a, b := nodes.Items[0].Name, nodes.Items[1].Name
	serve := `mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www`
	createPod(t, ctx, k.cs, ns, "web", podOpts{node: a, labels: map[string]string{"app": "web"}, port: 8080}, serve)
	createService(t, ctx, k.cs, ns, "web")
	waitEndpoints(t, ctx, k.cs, ns, "web", 1)
	out := runPod(t, ctx, k.cs, ns, "client", podOpts{node: b}, "timeout 10 wget -q -O- http://web."+ns+".svc.cluster.local/ && timeout 10 wget -q -O- http://web/")
	if strings.Count(out, "web") < 2 {
		t.Fatalf("cross-node service call from %s to %s:\n%s", b, a, out)
	}
	logNodeMemory(t, ctx, clusterName+"-2")
}

type kindCluster struct {
	provider *cluster.Provider
	name     string
	cs       *kubernetes.Clientset
}

func requireRejectRule(t *testing.T) {
	t.Helper()
	iface, err := harness.DefaultRouteInterface()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-w", "-C"}, harness.RejectRuleArgs(iface)...)
	if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
		t.Fatalf("the DOCKER-USER reject rule for %s is missing (%v: %s): no cluster may start without it; run e2e/offline/prepare", iface, err, bytes.TrimSpace(out))
	}
}

func createCluster(t *testing.T, name string, nodes int) *kindCluster {
	t.Helper()
	provider := cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(testLogger{t}))
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if existing, _ := provider.List(); contains(existing, name) {
		t.Logf("deleting leftover cluster %s", name)
		if err := provider.Delete(name, kubeconfig); err != nil {
			t.Fatal(err)
		}
	}
	// delete the cluster at the end, also when the test (or Create) fails
	t.Cleanup(func() {
		start := time.Now()
		if err := provider.Delete(name, kubeconfig); err != nil {
			t.Errorf("deleting cluster %s: %v", name, err)
			return
		}
		t.Logf("cluster %s deleted in %s", name, time.Since(start).Round(100*time.Millisecond))
	})
	cfg := &v1alpha4.Cluster{Nodes: []v1alpha4.Node{{Role: v1alpha4.ControlPlaneRole}}}
	for i := 1; i < nodes; i++ {
		cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole})
	}
	start := time.Now()
	err := provider.Create(name,
		cluster.CreateWithNodeImage(harness.NodeImage),
		cluster.CreateWithV1Alpha4Config(cfg),
		cluster.CreateWithKubeconfigPath(kubeconfig),
		cluster.CreateWithWaitForReady(4*time.Minute),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false),
	)
	if err != nil {
		t.Fatalf("kind create cluster %s: %v", name, err)
	}
	t.Logf("cluster create (%d node(s), until Ready): %s", nodes, time.Since(start).Round(100*time.Millisecond))
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return &kindCluster{provider: provider, name: name, cs: cs}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func waitNodesReady(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, want int) {
	t.Helper()
	err := eventually(ctx, 3*time.Minute, 2*time.Second, func() error {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready != want {
			return fmt.Errorf("%d of %d nodes Ready", ready, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitAddons waits for CoreDNS, kube-proxy, the CNI and the storage provisioner.
func waitAddons(t *testing.T, ctx context.Context, cs *kubernetes.Clientset) {
	t.Helper()
	start := time.Now()
	err := eventually(ctx, 4*time.Minute, 2*time.Second, func() error {
		for _, d := range [][2]string{{"kube-system", "coredns"}, {"local-path-storage", "local-path-provisioner"}} {
			dep, err := cs.AppsV1().Deployments(d[0]).Get(ctx, d[1], metav1.GetOptions{})
			if err != nil {
				return err
			}
			if dep.Status.AvailableReplicas < 1 || dep.Status.AvailableReplicas < *dep.Spec.Replicas {
				return fmt.Errorf("deployment %s/%s: %d/%d available", d[0], d[1], dep.Status.AvailableReplicas, *dep.Spec.Replicas)
			}
		}
		for _, n := range []string{"kube-proxy", "kindnet"} {
			ds, err := cs.AppsV1().DaemonSets("kube-system").Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if ds.Status.DesiredNumberScheduled == 0 || ds.Status.NumberReady != ds.Status.DesiredNumberScheduled {
				return fmt.Errorf("daemonset %s: %d/%d ready", n, ds.Status.NumberReady, ds.Status.DesiredNumberScheduled)
			}
		}
		return nil
	})
	if err != nil {
		dumpPods(t, ctx, cs, "")
		t.Fatal(err)
	}
	t.Logf("addons (coredns, kube-proxy, kindnet, local-path-provisioner) ready %s after create", time.Since(start).Round(100*time.Millisecond))
}

func sideLoad(t *testing.T, ctx context.Context, k *kindCluster, ref string) {
	t.Helper()
	archive := filepath.Join(t.TempDir(), "image.tar")
	mustDocker(t, ctx, "save", "-o", archive, ref)
	nodes, err := k.provider.ListInternalNodes(k.name)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		f, err := os.Open(archive)
		if err != nil {
			t.Fatal(err)
		}
		err = nodeutils.LoadImageArchive(n, f)
		f.Close()
		if err != nil {
			t.Fatalf("loading %s into %s: %v", ref, n.String(), err)
		}
	}
}

type podOpts struct {
	privileged bool
	node       string
	labels     map[string]string
	port       int32
	pvc        string
}

func podSpec(name string, o podOpts, script string) *corev1.Pod {
	c := corev1.Container{
		Name:            "main",
		Image:           harness.BusyboxImage,
		ImagePullPolicy: corev1.PullNever, // nothing can be pulled: the image must have been side-loaded
		Command:         []string{"sh", "-c", script},
	}
	if o.privileged {
		c.SecurityContext = &corev1.SecurityContext{Privileged: ptr(true)}
	}
	if o.port != 0 {
		c.Ports = []corev1.ContainerPort{{ContainerPort: o.port}}
		c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(o.port)}}, PeriodSeconds: 1}
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: o.labels},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			NodeName:                      o.node,
			TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers:                    []corev1.Container{c},
		},
	}
	if o.pvc != "" {
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: o.pvc}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func createPod(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, ns, name string, o podOpts, script string) {
	t.Helper()
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, podSpec(name, o, script), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// runPod runs script to completion in a busybox pod and returns its log;
// the test fails if the pod does not succeed.
func runPod(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, ns, name string, o podOpts, script string) string {
	t.Helper()
	createPod(t, ctx, cs, ns, name, o, script)
	var phase corev1.PodPhase
	err := eventually(ctx, 3*time.Minute, time.Second, func() error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		phase = p.Status.Phase
		if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
			return nil
		}
		return fmt.Errorf("pod %s is %s", name, phase)
	})
	logs, _ := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil || phase != corev1.PodSucceeded {
		dumpPods(t, ctx, cs, ns)
		t.Fatalf("pod %s: phase %s, %v\nlog:\n%s", name, phase, err, logs)
	}
	return string(logs)
}

func createService(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, ns, name string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitEndpoints(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, ns, svc string, want int) {
	t.Helper()
	err := eventually(ctx, 2*time.Minute, time.Second, func() error {
		slices, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
		if err != nil {
			return err
		}
		ready := 0
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					ready++
				}
			}
		}
		if ready < want {
			return fmt.Errorf("service %s: %d/%d endpoints ready", svc, ready, want)
		}
		return nil
	})
	if err != nil {
		dumpPods(t, ctx, cs, ns)
		t.Fatal(err)
	}
}

// serviceTwoEndpoints: a Deployment of two HTTP servers behind a Service;
// a client pod calls it by DNS name until both replicas have answered (this
// needs kube-proxy's random-balancing rules, which break when the
// kube-proxy image lacks an iptables extension's library).
func serviceTwoEndpoints(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, ns string) {
	labels := map[string]string{"app": "web"}
	tmpl := podSpec("", podOpts{labels: labels, port: 8080}, `mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www`)
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyAlways
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: tmpl.Spec},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createService(t, ctx, cs, ns, "web")
	waitEndpoints(t, ctx, cs, ns, "web", 2)
	out := runPod(t, ctx, cs, ns, "web-client", podOpts{},
		`for i in $(seq 1 40); do timeout 5 wget -q -O- http://web.`+ns+`.svc.cluster.local/ || echo FAIL; done`)
	seen := map[string]int{}
	for _, l := range strings.Fields(out) {
		seen[l]++
	}
	if seen["FAIL"] > 0 {
		t.Fatalf("%d of 40 requests failed:\n%s", seen["FAIL"], out)
	}
	if len(seen) != 2 {
		t.Fatalf("want answers from both endpoints, got %v", seen)
	}
	t.Logf("answers per endpoint: %v", seen)
}

func pvcBinds(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, ns string) {
	scs, err := cs.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	def := ""
	for _, sc := range scs.Items {
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			def = sc.Name
		}
	}
	if def != "standard" {
		t.Fatalf("default StorageClass is %q, want standard", def)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{ // no storageClassName: the default applies
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out := runPod(t, ctx, cs, ns, "pvc-writer", podOpts{pvc: "data"}, "echo persisted > /data/f && cat /data/f")
	if !strings.Contains(out, "persisted") {
		t.Fatalf("pvc pod output: %s", out)
	}
	got, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != corev1.ClaimBound || got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != "standard" {
		t.Fatalf("pvc: phase %s, class %v", got.Status.Phase, got.Spec.StorageClassName)
	}
	// reading it back from a second pod proves the volume outlives its writer
	if out := runPod(t, ctx, cs, ns, "pvc-reader", podOpts{pvc: "data"}, "cat /data/f"); !strings.Contains(out, "persisted") {
		t.Fatalf("second pod read %q", out)
	}
}

func logNodeMemory(t *testing.T, ctx context.Context, name string) {
	out, err := docker(ctx, "stats", "--no-stream", "--format", "{{.Name}}: {{.MemUsage}} (cpu {{.CPUPerc}})")
	if err != nil {
		t.Logf("docker stats: %v", err)
		return
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, name+"-") {
			t.Logf("node memory (docker stats): %s", l)
		}
	}
}

func dumpPods(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, ns string) {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("listing pods: %v", err)
		return
	}
	for _, p := range pods.Items {
		var st []string
		for _, c := range p.Status.ContainerStatuses {
			switch {
			case c.State.Waiting != nil:
				st = append(st, c.Name+": waiting "+c.State.Waiting.Reason+" "+c.State.Waiting.Message)
			case c.State.Terminated != nil:
				st = append(st, fmt.Sprintf("%s: exited %d %s", c.Name, c.State.Terminated.ExitCode, c.State.Terminated.Reason))
			default:
				st = append(st, c.Name+": running")
			}
		}
		t.Logf("pod %s/%s on %s: %s %v", p.Namespace, p.Name, p.Spec.NodeName, p.Status.Phase, st)
	}
}

// testLogger sends kind's messages to the test log.
type testLogger struct{ t *testing.T }

func (l testLogger) Warn(m string)                     { l.t.Log("kind: " + m) }
func (l testLogger) Warnf(f string, a ...interface{})  { l.t.Logf("kind: "+f, a...) }
func (l testLogger) Error(m string)                    { l.t.Log("kind error: " + m) }
func (l testLogger) Errorf(f string, a ...interface{}) { l.t.Logf("kind error: "+f, a...) }
func (l testLogger) V(v kindlog.Level) kindlog.InfoLogger {
	return infoLogger{t: l.t, on: v == 0} // kind's V(1+) is debug detail (full manifests)
}

type infoLogger struct {
	t  *testing.T
	on bool
}

func (l infoLogger) Info(m string) {
	if l.on {
		l.t.Log("kind: " + m)
	}
}

func (l infoLogger) Infof(f string, a ...interface{}) {
	if l.on {
		l.t.Logf("kind: "+f, a...)
	}
}

func (l infoLogger) Enabled() bool { return l.on }
