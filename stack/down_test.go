package stack

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/cluster"
	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// down deletes the kind cluster up made, and a second down finds nothing.
func TestDownDeletesTheClusterUpMade(t *testing.T) {
	e := newTestEnv(t, testConfig(t, kindConfig), testImage)
	e.cluster.exists = true
	res, err := NewDown(e.Env).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Removed, ",") != "kind cluster dagster-dev,kube context kind-dagster-dev" {
		t.Errorf("removed %v", res.Removed)
	}
	if !strings.Contains(e.out.String(), "1 node removed, context kind-dagster-dev removed; its volume is freed in the background") {
		t.Errorf("output:\n%s", e.out)
	}
	res, err = NewDown(e.Env).Run(context.Background())
	if err != nil || len(res.Removed) != 0 || !strings.Contains(e.out.String(), "nothing to delete") {
		t.Errorf("second down: %+v, %v\n%s", res, err, e.out)
	}
	if e.kube.calls != 0 {
		t.Error("down of a kind cluster connected to Kubernetes: the cluster goes whole")
	}
}

// A kind cluster dagster-dev did not create is refused, with the fix.
func TestDownRefusesAClusterItDidNotCreate(t *testing.T) {
	e := newTestEnv(t, testConfig(t, kindConfig))
	e.cluster.exists, e.cluster.owned = true, false
	e.cluster.fail["Delete"] = &cluster.NotOwnedError{Cluster: "dagster-dev"}
	_, err := NewDown(e.Env).Run(context.Background())
	var notOwned *cluster.NotOwnedError
	if !errors.As(err, &notOwned) || !strings.Contains(fixOf(err), "kind delete cluster --name dagster-dev") {
		t.Fatalf("err = %v (fix %q)", err, fixOf(err))
	}
	if !strings.Contains(e.out.String(), "✗ delete cluster dagster-dev") {
		t.Errorf("output:\n%s", e.out)
	}
}

// On an existing cluster down uninstalls the release and removes what
// dagster-dev made, and nothing of the user's.
func TestDownExistingClusterRemovesOnlyOurs(t *testing.T) {
	cfg := testConfig(t, "cluster: {context: team-staging}\nnamespace: team\ntimeout: 30s\n")
	e := newTestEnv(t, cfg)
	ctx := context.Background()
	if _, err := NewUp(e.Env).Run(ctx); err != nil {
		t.Fatalf("up: %v\n%s", err, e.out)
	}
	// The namespace was the user's: down must keep it.
	ns, _ := e.cs.CoreV1().Namespaces().Get(ctx, "team", metav1.GetOptions{})
	ns.Labels = nil
	if _, err := e.cs.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, o := range []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "team-env", Namespace: "team", Labels: kube.ManagedByLabels()}},
		{ObjectMeta: metav1.ObjectMeta{Name: "users", Namespace: "team"}},
	} {
		if _, err := e.cs.CoreV1().ConfigMaps("team").Create(ctx, o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := NewDown(e.Env).Run(ctx)
	if err != nil {
		t.Fatalf("down: %v\n%s", err, e.out)
	}
	if got := strings.Join(res.Removed, ","); got != "release dagster,ConfigMap team-env" {
		t.Errorf("removed %s", got)
	}
	if _, err := (&chart.Status{Config: e.kube.clients.Helm, ReleaseName: "dagster"}).Run(); !errors.Is(err, chart.ErrReleaseNotFound) {
		t.Errorf("release still there: %v", err)
	}
	if _, err := e.cs.CoreV1().ConfigMaps("team").Get(ctx, "users", metav1.GetOptions{}); err != nil {
		t.Error("down deleted a user's ConfigMap")
	}
	if len(e.cluster.called()) != 0 {
		t.Errorf("down called kind on an existing cluster: %v", e.cluster.called())
	}
}
