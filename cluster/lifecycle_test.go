package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestOwnerRoundTrip(t *testing.T) {
	ctx := context.Background()
	f := newFakeDocker()
	id := f.addNode("dd", "dd-control-plane", RoleControlPlane, "exited", img134, nil)

	rec, err := readOwner(ctx, f, id)
	if err != nil || rec != nil {
		t.Fatalf("no record yet: %+v, %v", rec, err)
	}
	want := ownerRecord{CreatedBy: ownerCreator, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Spec: Spec{Name: "dd", NodeImage: img134, Nodes: 1, HostPort: 3000, NodePort: 30080}}
	if err := writeOwner(ctx, f, id, want); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.files[id+":/kind/dagster-dev.json"]; !ok {
		t.Fatalf("record not at /kind/dagster-dev.json: %v", f.files)
	}
	rec, err = readOwner(ctx, f, id)
	if err != nil || rec == nil || *rec != want {
		t.Fatalf("read back %+v, %v; want %+v", rec, err, want)
	}

	// A file with another creator does not make the cluster ours.
	f.files[id+":/kind/dagster-dev.json"] = []byte(`{"createdBy":"someone-else"}`)
	if rec, err := readOwner(ctx, f, id); err != nil || rec != nil {
		t.Errorf("foreign record: %+v, %v", rec, err)
	}
	// A corrupt one is an error, not "not ours" (Delete must not guess).
	f.files[id+":/kind/dagster-dev.json"] = []byte(`{`)
	if _, err := readOwner(ctx, f, id); err == nil {
		t.Error("corrupt record read without error")
	}
}

func TestDeleteAbsentIsSuccess(t *testing.T) {
	p := NewProvider(withDocker(newFakeDocker()))
	for i := 0; i < 2; i++ {
		res, err := p.Delete(context.Background(), "dd", "")
		if err != nil || res.Deleted || !strings.Contains(res.Message, "nothing to delete") {
			t.Errorf("Delete #%d = %+v, %v", i+1, res, err)
		}
	}
}

func TestDeleteRefusesForeignCluster(t *testing.T) {
	f := newFakeDocker()
	f.addNode("dd", "dd-control-plane", RoleControlPlane, "running", img134, nil)
	p := NewProvider(withDocker(f))
	_, err := p.Delete(context.Background(), "dd", "")
	var ne *NotOwnedError
	if !errors.As(err, &ne) || ne.Cluster != "dd" {
		t.Fatalf("Delete = %v, want *NotOwnedError", err)
	}
	for _, s := range []string{"not created by dagster-dev", "refusing to delete", "kind delete cluster --name dd"} {
		if !strings.Contains(shown(err), s) {
			t.Errorf("message lacks %q: %s", s, err)
		}
	}
}

func TestStatus(t *testing.T) {
	f := newFakeDocker()
	p := NewProvider(withDocker(f))
	st, err := p.Status(context.Background(), "dd")
	if err != nil || st.Exists || st.Running() {
		t.Fatalf("absent: %+v, %v", st, err)
	}
	// Added worker first: Status must still list the control-plane first.
	f.addNode("dd", "dd-worker", RoleWorker, "exited", img134, nil)
	cpID := f.addNode("dd", "dd-control-plane", RoleControlPlane, "running", img134, nil)
	f.addNode("other", "other-control-plane", RoleControlPlane, "running", img134, nil)
	spec := Spec{Name: "dd", NodeImage: img134, Nodes: 2}
	if err := writeOwner(context.Background(), f, cpID, ownerRecord{CreatedBy: ownerCreator, Spec: spec}); err != nil {
		t.Fatal(err)
	}
	st, err = p.Status(context.Background(), "dd")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exists || !st.Owned || st.CreatedWith == nil || *st.CreatedWith != spec || st.KubeContext != "kind-dd" {
		t.Errorf("status = %+v", st)
	}
	if len(st.Nodes) != 2 || st.Nodes[0].Name != "dd-control-plane" || st.Nodes[0].Role != RoleControlPlane ||
		st.Nodes[1].Name != "dd-worker" || st.Nodes[1].State != "exited" || st.Nodes[1].Image != img134 {
		t.Errorf("nodes = %+v", st.Nodes)
	}
	if st.Running() {
		t.Error("Running() with an exited worker")
	}
}

func TestStartNodesOrderAndStates(t *testing.T) {
	f := newFakeDocker()
	p := NewProvider(withDocker(f))
	nodes := []nodeContainer{
		{ID: "cp", Name: "dd-control-plane", Role: RoleControlPlane, State: "exited"},
		{ID: "w1", Name: "dd-worker", Role: RoleWorker, State: "running"},
		{ID: "w2", Name: "dd-worker2", Role: RoleWorker, State: "paused"},
		{ID: "w3", Name: "dd-worker3", Role: RoleWorker, State: "created"},
	}
	started, err := p.startNodes(context.Background(), f, "dd", true, nodes)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(started, ",") != "dd-control-plane,dd-worker2,dd-worker3" || strings.Join(f.started, ",") != "cp,w2,w3" {
		t.Errorf("started %v (calls %v)", started, f.started)
	}
	_, err = p.startNodes(context.Background(), f, "dd", true, []nodeContainer{{ID: "x", Name: "dd-control-plane", State: "dead"}})
	if err == nil || !strings.Contains(err.Error(), "dd-control-plane is dead") || !strings.Contains(err.Error(), "dagster-dev down") {
		t.Errorf("dead node: %v", err)
	}
}

func readyNode(name string, status corev1.ConditionStatus, reason string) corev1.Node {
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
			{Type: corev1.NodeReady, Status: status, Reason: reason},
		}},
	}
}

func TestNodeListReady(t *testing.T) {
	ok, detail, _ := nodeListReady([]corev1.Node{readyNode("a", corev1.ConditionTrue, "")}, 2)
	if ok || detail != "1 of 2 node(s) registered" {
		t.Errorf("missing node: %v %q", ok, detail)
	}
	ok, detail, _ = nodeListReady([]corev1.Node{
		readyNode("a", corev1.ConditionTrue, ""),
		readyNode("b", corev1.ConditionFalse, "KubeletNotReady"),
		{ObjectMeta: metav1.ObjectMeta{Name: "c"}},
	}, 3)
	if ok || !strings.Contains(detail, "b (KubeletNotReady)") || !strings.Contains(detail, "c (no Ready condition yet)") || strings.Contains(detail, "a ") {
		t.Errorf("not ready: %v %q", ok, detail)
	}
	if ok, _, _ := nodeListReady([]corev1.Node{readyNode("a", corev1.ConditionTrue, ""), readyNode("b", corev1.ConditionTrue, "")}, 2); !ok {
		t.Error("all Ready reported not ready")
	}
}

func TestPrivateKubeconfig(t *testing.T) {
	log := &recLogger{}
	p := NewProvider(WithLogger(log))
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.privateKubeconfig(path); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %#o, want 0600", st.Mode().Perm())
	}
	if len(log.warns) != 1 || !strings.Contains(log.warns[0], "0644") {
		t.Errorf("warnings = %v", log.warns)
	}
	if err := p.privateKubeconfig(path); err != nil || len(log.warns) != 1 {
		t.Errorf("already private: %v, warnings %v", err, log.warns)
	}
	if err := p.privateKubeconfig(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing kubeconfig not reported")
	}
}

func TestKindLoggerAdapter(t *testing.T) {
	log := &recLogger{}
	k := kindLogger{log}
	k.V(0).Infof(" • %s  ...\n", "Ensuring node image")
	k.V(1).Info("debug noise")
	k.Warn("cgroup v1 is deprecated\n")
	k.Errorf("boom %d", 1)
	if len(log.infos) != 1 || log.infos[0] != " • Ensuring node image  ..." {
		t.Errorf("infos = %q", log.infos)
	}
	if len(log.warns) != 2 || log.warns[0] != "cgroup v1 is deprecated" || log.warns[1] != "boom 1" {
		t.Errorf("warns = %q", log.warns)
	}
	if k.V(2).Enabled() || !k.V(0).Enabled() {
		t.Error("Enabled levels wrong")
	}
}

func TestDockerErrorWrapsConnectionFailure(t *testing.T) {
	// Point a real client at a socket that does not exist to get the
	// client's own connection-failed error type.
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no.sock"))
	p2 := NewProvider()
	dc2, _ := p2.dockerClient()
	_, pingErr := dc2.Ping(context.Background())
	if pingErr == nil {
		t.Fatal("ping on a missing socket succeeded")
	}
	var du *DockerUnreachableError
	if err := p2.dockerError(pingErr); !errors.As(err, &du) || !strings.Contains(du.Host, "no.sock") {
		t.Errorf("dockerError(%v) = %v", pingErr, err)
	}
	other := errors.New("something else")
	if err := p2.dockerError(other); err != other {
		t.Errorf("non-connection error rewritten: %v", err)
	}
}
