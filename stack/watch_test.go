package stack

import (
	"context"
	"io"
	"reflect"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"

	"github.com/dagster-dev/dagster-dev/chart"
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
	r := &chartRelease{ac: ac, namespace: "dagster", name: "dagster"}
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
	if r.Name() != "dagster" {
		t.Error(r.Name())
	}
}

func TestWatchNeedsAConfig(t *testing.T) {
	if err := (&Watch{}).Run(context.Background()); err == nil {
		t.Fatal("want an error without a config")
	}
}
