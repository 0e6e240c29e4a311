package stack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/values"
	"github.com/dagster-dev/dagster-dev/sources"
)

// The chart's own pods must require nothing the release does not create:
// otherwise every up would be refused on an empty namespace. A Secret
// named in the values that nothing creates is refused, naming its readers.
func TestCheckReferences(t *testing.T) {
	// Also a project with a path code location (its own code server).
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "analytics"), 0o755); err != nil {
		t.Fatal(err)
	}
	project := filepath.Join(dir, "dagster-dev.yaml")
	if err := os.WriteFile(project, []byte("codeLocations:\n  - {name: analytics, path: ./analytics, module: analytics.definitions}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"../e2e/offline/dagster-dev.yaml", "../e2e/offline/dagster-dev-k8s.yaml", project} {
		cfg, err := config.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		render := func() chart.Manifests {
			vals, err := values.For(cfg)
			if err != nil {
				t.Fatal(err)
			}
			m, err := chart.Render(cfg.Release, cfg.Namespace, vals)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		if err := checkReferences(context.Background(), fake.NewClientset(), cfg.Namespace, render()); err != nil {
			t.Errorf("%s: the chart's own references: %v", file, err)
		}

		if cfg.Values == nil {
			cfg.Values = map[string]any{}
		}
		cfg.Values["dagit"] = map[string]any{"env_secrets": []any{"late-secret"}}
		err = checkReferences(context.Background(), fake.NewClientset(), cfg.Namespace, render())
		var missing *sources.MissingRefsError
		if !errors.As(err, &missing) || len(missing.Missing) != 1 || missing.Missing[0].Ref != "Secret/late-secret" ||
			!slices.Contains(missing.Missing[0].ReadBy, "Deployment/"+cfg.Release+"-dagit") {
			t.Errorf("%s: a values Secret nothing creates: %v", file, err)
		}
	}
}
