package e2e

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/values"
)

func TestOverlayValuesExactListsAndOrder(t *testing.T) {
	base := map[string]any{
		"dagit": map[string]any{
			"env":             map[string]any{"USER_VAR": "u"},
			"env_config_maps": []any{"user-cm"},
			"service":         map[string]any{"type": "NodePort", "nodePort": 30080},
		},
		"job_runner": map[string]any{
			"env_secrets": []any{"user-secret-a", "user-secret-b"},
		},
		"image": map[string]any{"repository": "r"},
	}
	before := values.Merge(map[string]any{}, base)
	fx := precedenceFixture("t0k")
	got, err := overlayValues(base, fx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"dagit": map[string]any{
			"env": map[string]any{
				"USER_VAR":                               "u",
				"DAGSTER_DEV_TEST_PRECEDENCE":            "values-t0k",
				"DAGSTER_DEV_TEST_CONFIGMAP_OVER_VALUES": "values-t0k",
			},
			"env_config_maps": []any{"user-cm", "dagster-dev-test-env-configmap-1", "dagster-dev-test-env-configmap-2"},
			"env_secrets":     []any{"dagster-dev-test-env-secret-1", "dagster-dev-test-env-secret-2"},
			"service":         map[string]any{"type": "NodePort", "nodePort": 30080},
		},
		"job_runner": map[string]any{
			"env": map[string]any{
				"DAGSTER_DEV_TEST_PRECEDENCE":            "values-t0k",
				"DAGSTER_DEV_TEST_CONFIGMAP_OVER_VALUES": "values-t0k",
			},
			"env_config_maps": []any{"dagster-dev-test-env-configmap-1", "dagster-dev-test-env-configmap-2"},
			"env_secrets":     []any{"user-secret-a", "user-secret-b", "dagster-dev-test-env-secret-1", "dagster-dev-test-env-secret-2"},
		},
		"image": map[string]any{"repository": "r"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("overlay\n got %#v\nwant %#v", got, want)
	}
	if !reflect.DeepEqual(base, before) {
		t.Errorf("overlayValues modified its input: %#v", base)
	}
	// The result shares nothing with the input.
	got["dagit"].(map[string]any)["env_config_maps"].([]any)[0] = "changed"
	if base["dagit"].(map[string]any)["env_config_maps"].([]any)[0] != "user-cm" {
		t.Error("the overlay aliases the base's lists")
	}
}

func TestOverlayValuesRejectsWrongShapes(t *testing.T) {
	for name, base := range map[string]map[string]any{
		"env is a list":       {"dagit": map[string]any{"env": []any{map[string]any{"name": "A"}}}},
		"list holds a number": {"job_runner": map[string]any{"env_secrets": []any{"ok", 3}}},
		"list is a string":    {"job_runner": map[string]any{"env_config_maps": "one"}},
		"component not a map": {"dagit": "x"},
	} {
		if _, err := overlayValues(base, precedenceFixture("t")); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// resolveEnvFrom applies Kubernetes' envFrom rule: later sources win.
func resolveEnvFrom(layers ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, l := range layers {
		for k, v := range l {
			out[k] = v
		}
	}
	return out
}

// The fixture's expectations are the seed README's contract: resolving the
// layers in the contract's order gives Want, and any other order gives
// something else, so a chart that loads them in the wrong order fails.
func TestPrecedenceFixtureEncodesTheContract(t *testing.T) {
	fx := precedenceFixture("t")
	var cms, secrets []map[string]string
	for _, o := range fx.Objects {
		if !strings.HasPrefix(o.Name, FixturePrefix) {
			t.Errorf("fixture %s lacks the prefix %s", o.Name, FixturePrefix)
		}
		if o.Kind == config.KindConfigMap {
			cms = append(cms, o.Data)
		} else {
			secrets = append(secrets, o.Data)
		}
	}
	if len(cms) != 2 || len(secrets) != 2 {
		t.Fatalf("want two ConfigMaps and two Secrets, got %d and %d", len(cms), len(secrets))
	}
	contract := resolveEnvFrom(fx.Values, cms[0], cms[1], secrets[0], secrets[1])
	for k, want := range fx.Want {
		if contract[k] != want {
			t.Errorf("%s: contract order gives %q, fixture wants %q", k, contract[k], want)
		}
	}
	wrong := map[string][]map[string]string{
		"values last":               {cms[0], cms[1], secrets[0], secrets[1], fx.Values},
		"secrets before configmaps": {fx.Values, secrets[0], secrets[1], cms[0], cms[1]},
		"secrets reversed":          {fx.Values, cms[0], cms[1], secrets[1], secrets[0]},
		"configmaps reversed":       {fx.Values, cms[1], cms[0], secrets[0], secrets[1]},
		"second secret missing":     {fx.Values, cms[0], cms[1], secrets[0]},
		"configmaps missing":        {fx.Values, secrets[0], secrets[1]},
	}
	for name, layers := range wrong {
		got := resolveEnvFrom(layers...)
		if len(compareEnv("pod", withHome(got), fx.Want)) == 0 {
			t.Errorf("%s: the fixture cannot tell this order from the contract", name)
		}
	}
}

func withHome(m map[string]string) map[string]string {
	m[envHome] = "/opt/dagster/dagster_home"
	return m
}

func TestCompareEnv(t *testing.T) {
	want := map[string]string{"A": "secret-2", "B": "configmap-1"}
	if p := compareEnv("pod p", map[string]string{"A": "secret-2", "B": "configmap-1", envHome: "/h"}, want); len(p) != 0 {
		t.Errorf("matching env reported %v", p)
	}
	p := compareEnv("pod p", map[string]string{"A": "secret-1", "B": probeUnset}, want)
	wantP := []string{
		`pod p: A="secret-1", want "secret-2"`,
		`pod p: B is not set, want "configmap-1"`,
		`pod p: DAGSTER_HOME is not set`,
	}
	if !reflect.DeepEqual(p, wantP) {
		t.Errorf("problems %q, want %q", p, wantP)
	}
}

func testKube(objs ...runtime.Object) *kubeClient {
	return &kubeClient{client: fake.NewClientset(objs...), namespace: "dagster", release: "dagster"}
}

func TestCreateFixtureNeverTouchesUserObjects(t *testing.T) {
	userCM := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dagster-dev-test-env-configmap-1", Namespace: "dagster"}, Data: map[string]string{"MINE": "1"}}
	userSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "dagster-dev-test-env-secret-1", Namespace: "dagster", Labels: map[string]string{"team": "x"}}, Data: map[string][]byte{"MINE": []byte("1")}}
	k := testKube(userCM, userSecret)
	ctx := context.Background()
	for _, o := range []fixtureObject{
		{Kind: config.KindConfigMap, Name: userCM.Name, Data: map[string]string{"A": "x"}},
		{Kind: config.KindSecret, Name: userSecret.Name, Data: map[string]string{"A": "x"}},
	} {
		err := k.createFixture(ctx, o)
		var ce *FixtureConflictError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "will not overwrite") {
			t.Errorf("%s: err = %v, want a conflict", o.Name, err)
		}
		if err := k.deleteFixture(ctx, o.Kind, o.Name); !errors.As(err, &ce) {
			t.Errorf("delete %s: err = %v, want a conflict", o.Name, err)
		}
	}
	cm, _ := k.client.CoreV1().ConfigMaps("dagster").Get(ctx, userCM.Name, metav1.GetOptions{})
	s, _ := k.client.CoreV1().Secrets("dagster").Get(ctx, userSecret.Name, metav1.GetOptions{})
	if cm == nil || cm.Data["MINE"] != "1" || len(cm.Data) != 1 || s == nil || string(s.Data["MINE"]) != "1" {
		t.Errorf("user objects changed: %+v %+v", cm, s)
	}
}

func TestCreateFixtureCreatesAndReplacesOwn(t *testing.T) {
	k := testKube()
	ctx := context.Background()
	cm := fixtureObject{Kind: config.KindConfigMap, Name: "dagster-dev-test-a", Data: map[string]string{"A": "1", "OLD": "x"}}
	sec := fixtureObject{Kind: config.KindSecret, Name: "dagster-dev-test-b", Data: map[string]string{"A": "1", "OLD": "x"}}
	for _, o := range []fixtureObject{cm, sec} {
		if err := k.createFixture(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// A leftover of an interrupted run is replaced, stale keys included.
	cm.Data = map[string]string{"A": "2"}
	sec.Data = map[string]string{"A": "2"}
	for _, o := range []fixtureObject{cm, sec} {
		if err := k.createFixture(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	gotCM, err := k.client.CoreV1().ConfigMaps("dagster").Get(ctx, cm.Name, metav1.GetOptions{})
	if err != nil || !reflect.DeepEqual(gotCM.Data, map[string]string{"A": "2"}) || gotCM.Labels[fixtureLabel] != fixtureLabelValue {
		t.Errorf("ConfigMap %+v, %v", gotCM, err)
	}
	gotS, err := k.client.CoreV1().Secrets("dagster").Get(ctx, sec.Name, metav1.GetOptions{})
	// The fake client does not convert StringData; what matters is that the
	// update starts from empty Data, dropping OLD.
	if err != nil || gotS.StringData["A"] != "2" || len(gotS.Data) != 0 || gotS.Labels[fixtureLabel] != fixtureLabelValue {
		t.Errorf("Secret %+v, %v", gotS, err)
	}
	if err := k.deleteFixtures(ctx, []fixtureObject{cm, sec, {Kind: config.KindSecret, Name: "dagster-dev-test-gone"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.client.CoreV1().ConfigMaps("dagster").Get(ctx, cm.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap not deleted: %v", err)
	}
	if _, err := k.client.CoreV1().Secrets("dagster").Get(ctx, sec.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Secret not deleted: %v", err)
	}
}

func TestWithSourceCopiesConfig(t *testing.T) {
	cfg := &config.Config{Namespace: "dagster", Watch: config.Watch{Sources: make([]config.Source, 1, 4)}}
	cfg.Watch.Sources[0] = config.Source{Name: "team", Kind: config.KindSecret}
	c2 := withSource(cfg, hotReloadSource("dagster-dev-test-hot-reload", "/tmp/f.env"))
	if len(cfg.Watch.Sources) != 1 || len(c2.Watch.Sources) != 2 {
		t.Fatalf("sources %d / %d", len(cfg.Watch.Sources), len(c2.Watch.Sources))
	}
	// Appending must not write into the original's spare capacity.
	if cfg.Watch.Sources[:2][1].Name != "" {
		t.Error("withSource wrote into the original config's slice")
	}
	src := c2.Watch.Sources[1]
	if src.Kind != config.KindConfigMap || !reflect.DeepEqual(src.Attach, []string{config.TargetJobRunner}) || src.Format != config.FormatDotenv {
		t.Errorf("source %+v", src)
	}
	v, err := values.For(&config.Config{Namespace: "dagster", Cluster: config.Cluster{Context: "x"}, Watch: c2.Watch})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := lookup(v, "job_runner", "env_config_maps"); !reflect.DeepEqual(got, []any{"dagster-dev-test-hot-reload"}) {
		t.Errorf("job_runner.env_config_maps = %v", got)
	}
	if _, ok := lookup(v, "dagit", "env_config_maps"); ok {
		t.Error("the hot-reload source is attached to dagit")
	}
}

func TestValueOr(t *testing.T) {
	v := map[string]any{"userCode": map[string]any{"locationName": "team", "example": map[string]any{"enabled": false}}, "postgresql": map[string]any{"enabled": "yes"}}
	if got := valueOr(v, defaultLocation, "userCode", "locationName"); got != "team" {
		t.Errorf("locationName %q", got)
	}
	if valueOr(v, true, "userCode", "example", "enabled") {
		t.Error("example.enabled false read as true")
	}
	if !valueOr(v, true, "rabbitmq", "enabled") {
		t.Error("absent value did not fall back to the default")
	}
	// A value of the wrong type is left to the chart's schema to reject.
	if !valueOr(v, true, "postgresql", "enabled") {
		t.Error("mistyped value did not fall back to the default")
	}
}
