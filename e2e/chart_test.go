package e2e

import (
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/values"
)

// envFromNames lists a container's envFrom sources as "ConfigMap/x", "Secret/y".
func envFromNames(c corev1.Container) []string {
	var out []string
	for _, e := range c.EnvFrom {
		switch {
		case e.ConfigMapRef != nil:
			out = append(out, "ConfigMap/"+e.ConfigMapRef.Name)
		case e.SecretRef != nil:
			out = append(out, "Secret/"+e.SecretRef.Name)
		}
	}
	return out
}

// The overlay is only useful if the chart turns it into the envFrom order
// the contract needs. This renders the real chart with it, client-side, and
// checks every component and the job pods' launcher config.
func TestOverlayRendersContractOrder(t *testing.T) {
	cfg := &config.Config{Namespace: "dagster", Release: "dagster", Dagit: config.Dagit{HostPort: 3000, NodePort: 30080},
		Cluster: config.Cluster{Name: "dagster-dev"},
		Values:  map[string]any{"job_runner": map[string]any{"env_secrets": []any{"team-secret"}}}}
	base, err := values.For(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fx := precedenceFixture("t")
	vals, err := overlayValues(base, fx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := chart.Render("dagster", "dagster", vals)
	if err != nil {
		t.Fatal(err)
	}
	fixtures := []string{"ConfigMap/dagster-dev-test-env-configmap-1", "ConfigMap/dagster-dev-test-env-configmap-2", "Secret/dagster-dev-test-env-secret-1", "Secret/dagster-dev-test-env-secret-2"}
	wants := map[string][]string{
		"dagster-dagit":          append([]string{"ConfigMap/dagster-dagit-env"}, fixtures...),
		"dagster-daemon":         append([]string{"ConfigMap/dagster-dagit-env"}, fixtures...),
		"dagster-celery-workers": {"ConfigMap/dagster-job-runner-env", fixtures[0], fixtures[1], "Secret/team-secret", fixtures[2], fixtures[3]},
		"dagster-user-code":      {"ConfigMap/dagster-job-runner-env", fixtures[0], fixtures[1], "Secret/team-secret", fixtures[2], fixtures[3]},
	}
	for name, want := range wants {
		u := m.Find("Deployment", name)
		if u == nil {
			t.Errorf("no Deployment %s", name)
			continue
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
			t.Fatal(err)
		}
		if got := envFromNames(d.Spec.Template.Spec.Containers[0]); !reflect.DeepEqual(got, want) {
			t.Errorf("%s envFrom\n got %v\nwant %v", name, got, want)
		}
	}
	// The values layer itself.
	for _, cm := range []string{"dagster-dagit-env", "dagster-job-runner-env"} {
		u := m.Find("ConfigMap", cm)
		if u == nil {
			t.Fatalf("no ConfigMap %s", cm)
		}
		data := stringMap(u.Object, "data")
		for k, v := range fx.Values {
			if data[k] != v {
				t.Errorf("%s: %s=%q, want %q", cm, k, data[k], v)
			}
		}
		if data[envHome] == "" {
			t.Errorf("%s has no %s", cm, envHome)
		}
	}
	// Job pods get their envFrom from the run launcher in dagster.yaml.
	u := m.Find("ConfigMap", "dagster-instance")
	if u == nil {
		t.Fatal("no ConfigMap dagster-instance")
	}
	data := stringMap(u.Object, "data")
	var inst struct {
		RunLauncher struct {
			Config struct {
				EnvConfigMaps []string `yaml:"env_config_maps"`
				EnvSecrets    []string `yaml:"env_secrets"`
			} `yaml:"config"`
		} `yaml:"run_launcher"`
	}
	if err := yaml.Unmarshal([]byte(data["dagster.yaml"]), &inst); err != nil {
		t.Fatal(err)
	}
	cfgMaps := inst.RunLauncher.Config.EnvConfigMaps
	if want := []string{"dagster-job-runner-env", "dagster-dev-test-env-configmap-1", "dagster-dev-test-env-configmap-2"}; !reflect.DeepEqual(cfgMaps, want) {
		t.Errorf("launcher env_config_maps %v, want %v", cfgMaps, want)
	}
	secrets := inst.RunLauncher.Config.EnvSecrets
	if n := len(secrets); n < 3 || !reflect.DeepEqual(secrets[n-3:], []string{"team-secret", "dagster-dev-test-env-secret-1", "dagster-dev-test-env-secret-2"}) {
		t.Errorf("launcher env_secrets %v: the fixture Secrets must come last, in order", secrets)
	}
	for _, s := range secrets {
		if strings.HasPrefix(s, FixturePrefix) && s != "dagster-dev-test-env-secret-1" && s != "dagster-dev-test-env-secret-2" {
			t.Errorf("unexpected fixture %s", s)
		}
	}
}

func stringMap(obj map[string]any, key string) map[string]string {
	out := map[string]string{}
	m, _ := obj[key].(map[string]any)
	for k, v := range m {
		s, _ := v.(string)
		out[k] = s
	}
	return out
}
