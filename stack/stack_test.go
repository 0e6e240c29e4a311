package stack

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/dagster-dev/dagster-dev/cluster"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/internal/dagitconn"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/readiness"
)

func TestClusterSpecFromConfig(t *testing.T) {
	cfg, err := config.Parse("f.yaml", []byte("cluster: {name: x, nodes: 2, nodeImage: img:1}\ndagit: {hostPort: 8080}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := ClusterSpec(cfg)
	want := cluster.Spec{Name: "x", NodeImage: "img:1", Nodes: 2, HostPort: 8080, NodePort: config.DefaultNodePort}
	if got != want {
		t.Errorf("spec = %+v, want %+v", got, want)
	}
}

// kind writes where kind's rule says (the first existing $KUBECONFIG file,
// not simply the first entry); contexts are read from every $KUBECONFIG
// file merged, as kubectl reads them; cluster.kubeconfig overrides both.
func TestKubeconfigFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{Dir: "/proj"}
	missing, existing := filepath.Join(dir, "missing"), filepath.Join(dir, "existing")
	if err := os.WriteFile(existing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", missing+string(os.PathListSeparator)+existing)
	if got := kube.KindKubeconfigPath(cfg.KubeconfigExplicit()); got != existing {
		t.Errorf("kind writes to %q, want the first existing $KUBECONFIG file %q", got, existing)
	}
	if got := cfg.KubeconfigExplicit(); got != "" {
		t.Errorf("contexts must be read with kubectl's loading rules (\"\"), got %q", got)
	}
	cfg.Cluster.Kubeconfig = "kube/config"
	if got := kube.KindKubeconfigPath(cfg.KubeconfigExplicit()); got != "/proj/kube/config" {
		t.Errorf("config path relative to the file: %q", got)
	}
	if got := cfg.KubeconfigExplicit(); got != "/proj/kube/config" {
		t.Errorf("explicit: %q", got)
	}
	cfg.Cluster.Kubeconfig = ""
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", "/home/u")
	if got := kube.KindKubeconfigPath(cfg.KubeconfigExplicit()); got != "/home/u/.kube/config" {
		t.Errorf("default: %q", got)
	}
}

func TestLoadNoteCountsActions(t *testing.T) {
	loads := []cluster.ImageLoad{{Action: cluster.ActionLoaded}, {Action: cluster.ActionSkipped}, {Action: cluster.ActionSkipped}, {Action: cluster.ActionRetagged}}
	if got := loadNote(loads); got != "1 loaded, 1 retagged, 2 skipped (image × node)" {
		t.Errorf("note = %q", got)
	}
}

// A load that waited for kind to boot the nodes says how its time
// splits; one into a running cluster does not.
func TestImagesNoteSplitsTheWait(t *testing.T) {
	loads := []cluster.ImageLoad{{Action: cluster.ActionLoaded}, {Action: cluster.ActionLoaded}}
	if got := imagesNote(loads, 21*time.Second, 37*time.Second); got != "2 loaded (image × node); 21s waiting for the nodes, 37s loading" {
		t.Errorf("note = %q", got)
	}
	if got := imagesNote(loads, 400*time.Millisecond, 3*time.Second); got != "2 loaded (image × node)" {
		t.Errorf("note = %q", got)
	}
	skipped := []cluster.ImageLoad{{Action: cluster.ActionSkipped}}
	if got := imagesNote(skipped, 2*time.Second, 200*time.Millisecond); got != "1 skipped (image × node)" {
		t.Errorf("a warm up's note = %q", got)
	}
}

func TestReadyNote(t *testing.T) {
	s := readiness.Snapshot{Workloads: []readiness.WorkloadStatus{{Done: true}, {Done: true}}}
	if got := readyNote(s); !strings.HasPrefix(got, "2/2 workloads") {
		t.Errorf("note = %q", got)
	}
}

func TestReportText(t *testing.T) {
	r := &Report{
		Cluster:  ClusterReport{Name: "dagster-dev", Context: "kind-dagster-dev", Exists: true, Owned: true},
		Release:  &ReleaseReport{Name: "dagster", Revision: 3, State: "deployed", ChartVersion: "0.1.0", AppVersion: "1.13.27"},
		Workload: []WorkloadReport{{Kind: "Deployment", Name: "dagster-dagit", Ready: 1, Desired: 1}, {Kind: "StatefulSet", Name: "dagster-postgresql", Ready: 0, Desired: 1}},
		Dagit:    DagitReport{URL: "http://127.0.0.1:3000"},
	}
	r.problem("StatefulSet dagster-postgresql: 0/1 ready")
	r.finish()
	text := r.Text()
	for _, want := range []string{"environment: UNHEALTHY", "kind dagster-dev (created by dagster-dev)", "revision 3, deployed", "✓ Deployment", "✗ StatefulSet", "does not answer", "problem: StatefulSet dagster-postgresql"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

func TestWaitDagitExplainsAPortProblem(t *testing.T) {
	ctx := context.Background()
	client := &dagit.Client{BaseURL: "http://127.0.0.1:1"}
	err := waitDagit(ctx, client, dagitconn.Direct(client.BaseURL), 700*time.Millisecond)
	var unreachable *DagitUnreachableError
	if !errors.As(err, &unreachable) || !strings.Contains(err.Error(), "127.0.0.1:1 (kind port mapping) does not answer") || !strings.Contains(unreachable.Fix(), "port") {
		t.Errorf("err = %v", err)
	}
}

func TestLogAdapterIndentsOnTheStepList(t *testing.T) {
	var buf bytes.Buffer
	steps := newTestPrinter(&buf)
	logAdapter{steps}.Warnf("node %s slow", "n1")
	if got := buf.String(); got != "  warning: node n1 slow\n" {
		t.Errorf("got %q", got)
	}
}

func TestPreflightInotifyIsAWarning(t *testing.T) {
	low := &cluster.InotifyLimitError{}
	port := &cluster.PortInUseError{Port: 3000}
	warnings, err := preflightErrors(errors.Join(low, port))
	if len(warnings) != 1 || !errors.Is(err, port) || errors.Is(err, low) {
		t.Errorf("warnings %v, err %v", warnings, err)
	}
	warnings, err = preflightErrors(errors.Join(low))
	if len(warnings) != 1 || err != nil {
		t.Errorf("inotify alone must not stop up: warnings %v, err %v", warnings, err)
	}
	if w, err := preflightErrors(nil); w != nil || err != nil {
		t.Error("nil in, nil out")
	}
}

// status reports the release's workloads (by the release label) and a
// problem for each one short of ready; other releases' are left out.
func TestReportWorkloads(t *testing.T) {
	rel := map[string]string{kube.LabelInstance: "dagster"}
	one := int32(1)
	client := fake.NewClientset(
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "dagster-dagit", Namespace: "dagster", Labels: rel},
			Spec: appsv1.DeploymentSpec{Replicas: &one}, Status: appsv1.DeploymentStatus{ReadyReplicas: 1}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "dagster-postgresql", Namespace: "dagster", Labels: rel}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "other-dagit", Namespace: "dagster", Labels: map[string]string{kube.LabelInstance: "other"}}},
	)
	cfg := &config.Config{Namespace: "dagster", Release: "dagster"}
	r := &Report{}
	if err := r.workloads(context.Background(), client, cfg); err != nil {
		t.Fatal(err)
	}
	want := []WorkloadReport{{Kind: "Deployment", Name: "dagster-dagit", Ready: 1, Desired: 1}, {Kind: "StatefulSet", Name: "dagster-postgresql", Ready: 0, Desired: 1}}
	if !reflect.DeepEqual(r.Workload, want) {
		t.Errorf("workloads %+v\nwant      %+v", r.Workload, want)
	}
	if len(r.Problems) != 1 || r.Problems[0] != "StatefulSet dagster-postgresql: 0/1 ready" {
		t.Errorf("problems %q", r.Problems)
	}
}

// A context no kubeconfig defines is a problem of the report, with the fix.
func TestStatusMissingContext(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "config")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kc)
	cfg := &config.Config{Namespace: "dagster", Release: "dagster", Cluster: config.Cluster{Context: "nope"}}
	r, err := NewStatus(NewEnv(cfg, nil)).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Healthy || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], `"nope"`) || !strings.Contains(r.Problems[0], "kubectl config get-contexts") {
		t.Errorf("problems %q", r.Problems)
	}
}
