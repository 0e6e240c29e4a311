package stack

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/sources"
)

// The adapter against the real chart package and Helm SDK, with Helm's
// in-memory release storage and a no-op kube client.
func TestChartRelease(t *testing.T) {
	ac := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	r := &chartRelease{ac: ac, client: fake.NewClientset(), namespace: "dagster", name: "dagster"}
	ctx := context.Background()
	if _, installed, err := r.Values(ctx); err != nil || installed {
		t.Fatalf("empty storage: installed=%v err=%v", installed, err)
	}
	first := map[string]any{"dagit": map[string]any{"env": map[string]any{"A": "1"}}}
	if _, err := (&chart.Apply{Config: ac, Namespace: "dagster", ReleaseName: "dagster", Values: first}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	got, installed, err := r.Values(ctx)
	if err != nil || !installed || !reflect.DeepEqual(got, first) {
		t.Fatalf("after install: %v %v %v", got, installed, err)
	}
	second := map[string]any{"dagit": map[string]any{"env": map[string]any{"A": "2"}}}
	if err := r.Upgrade(ctx, second); err != nil {
		t.Fatal(err)
	}
	got, _, err = r.Values(ctx)
	if err != nil || !reflect.DeepEqual(got, second) {
		t.Fatalf("after upgrade: %v %v", got, err)
	}

	// Values whose pods would need a Secret nobody created: refused before
	// Helm writes a revision.
	third := map[string]any{"dagit": map[string]any{"env_secrets": []any{"late-secret"}}}
	err = r.Upgrade(ctx, third)
	var missing *sources.MissingRefsError
	if !errors.As(err, &missing) || !strings.Contains(err.Error(), "nothing applied") {
		t.Fatalf("upgrade with a missing Secret: %v", err)
	}
	if got, _, _ := r.Values(ctx); !reflect.DeepEqual(got, second) {
		t.Errorf("a refused upgrade changed the release's values to %v", got)
	}
	if r.Name() != "dagster" {
		t.Error(r.Name())
	}
}

func TestWatchNeedsAConfig(t *testing.T) {
	if err := (&Watch{}).Run(context.Background()); err == nil {
		t.Fatal("want an error without a config")
	}
}
