package offline_test

import (
	"testing"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/e2e/offline/harness"
)

// The harness config must load with dagster-dev's strict loader and name
// exactly the images prepare builds.
func TestHarnessConfig(t *testing.T) {
	cfg, err := config.Load("dagster-dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.Name != "dagster-dev" || cfg.Cluster.NodeImage != harness.NodeImage {
		t.Fatalf("cluster: %+v", cfg.Cluster)
	}
	want := map[string]bool{harness.DagsterImage: true, harness.PostgresImage: true, harness.RabbitMQImage: true}
	if len(cfg.Images) != len(want) {
		t.Fatalf("images %v, want %v", cfg.Images, want)
	}
	for _, img := range cfg.Images {
		if !want[img] {
			t.Fatalf("image %s is not built by prepare", img)
		}
	}
	get := func(path ...string) any {
		var v any = cfg.Values
		for _, p := range path {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[p]
		}
		return v
	}
	for _, c := range []struct {
		path []string
		want string
	}{
		{[]string{"image", "repository"}, "dagster-dev.local/dagster"},
		{[]string{"image", "tag"}, harness.DagsterVersion},
		{[]string{"imagePullPolicy"}, "IfNotPresent"},
		{[]string{"postgresql", "image", "repository"}, "dagster-dev.local/postgres"},
		{[]string{"postgresql", "image", "tag"}, "15"},
		{[]string{"rabbitmq", "image", "repository"}, "dagster-dev.local/rabbitmq"},
		{[]string{"rabbitmq", "image", "tag"}, "3"},
	} {
		if got := get(c.path...); got != c.want {
			t.Errorf("values.%v = %v, want %q", c.path, got, c.want)
		}
	}
	for _, img := range []string{
		get("image", "repository").(string) + ":" + get("image", "tag").(string),
		get("postgresql", "image", "repository").(string) + ":" + get("postgresql", "image", "tag").(string),
		get("rabbitmq", "image", "repository").(string) + ":" + get("rabbitmq", "image", "tag").(string),
	} {
		if !want[img] {
			t.Errorf("values name %s, which is not side-loaded", img)
		}
	}
}
