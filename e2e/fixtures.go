package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/values"
)

// Every object the suite creates is named with FixturePrefix and labelled
// fixtureLabel=fixtureLabelValue. The suite only ever overwrites or deletes
// objects carrying that label, so a user's object that happens to share a
// name is reported, never touched.
const (
	FixturePrefix     = "dagster-dev-test-"
	fixtureLabel      = kube.LabelCreatedBy
	fixtureLabelValue = "dagster-dev-test"
)

// Environment variable names the env cases set. They are specific enough
// never to collide with a user's variables.
const (
	// envAll is set in values, both ConfigMaps and both Secrets: the last
	// Secret must win.
	envAll = "DAGSTER_DEV_TEST_PRECEDENCE"
	// envCMOverValues is set in values and the first ConfigMap only: the
	// ConfigMap must win.
	envCMOverValues = "DAGSTER_DEV_TEST_CONFIGMAP_OVER_VALUES"
	// envCMOrder is set in both ConfigMaps only: the second must win.
	envCMOrder = "DAGSTER_DEV_TEST_CONFIGMAP_ORDER"
	// envHotReload is the variable of the hot-reload source file.
	envHotReload = "DAGSTER_DEV_TEST_HOT_RELOAD"
	envHome      = "DAGSTER_HOME"
)

// fixtureObject is a ConfigMap or Secret the suite creates.
type fixtureObject struct {
	Kind string // config.KindConfigMap or config.KindSecret
	Name string
	Data map[string]string
}

// envFixture is everything the env-precedence case adds: the objects, the
// values env entries and, per variable, the value every pod must see.
type envFixture struct {
	Objects []fixtureObject
	// Values is added to dagit.env and job_runner.env.
	Values map[string]string
	// Want is the value each variable must have in every pod.
	Want map[string]string
}

// ConfigMaps and Secrets in the order the chart must load them.
func (f envFixture) names(kind string) []string {
	var out []string
	for _, o := range f.Objects {
		if o.Kind == kind {
			out = append(out, o.Name)
		}
	}
	return out
}

// randomToken makes this run's fixture values unique, so a value left over
// from an earlier, interrupted run can never make a check pass.
func randomToken() string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// precedenceFixture builds the seed chart's contract as data: one variable
// in every layer, one in values and a ConfigMap, one in both ConfigMaps.
func precedenceFixture(token string) envFixture {
	v := func(layer string) string { return layer + "-" + token }
	return envFixture{
		Values: map[string]string{
			envAll:          v("values"),
			envCMOverValues: v("values"),
		},
		Objects: []fixtureObject{
			{Kind: config.KindConfigMap, Name: FixturePrefix + "env-configmap-1", Data: map[string]string{
				envAll: v("configmap-1"), envCMOverValues: v("configmap-1"), envCMOrder: v("configmap-1"),
			}},
			{Kind: config.KindConfigMap, Name: FixturePrefix + "env-configmap-2", Data: map[string]string{
				envAll: v("configmap-2"), envCMOrder: v("configmap-2"),
			}},
			{Kind: config.KindSecret, Name: FixturePrefix + "env-secret-1", Data: map[string]string{
				envAll: v("secret-1"),
			}},
			{Kind: config.KindSecret, Name: FixturePrefix + "env-secret-2", Data: map[string]string{
				envAll: v("secret-2"),
			}},
		},
		Want: map[string]string{
			envAll:          v("secret-2"),
			envCMOverValues: v("configmap-1"),
			envCMOrder:      v("configmap-2"),
		},
	}
}

// overlayValues returns a copy of base (the release's values,
// suite.baseValues) with the fixture added for both components:
// <component>.env gets the fixture's entries, and the fixture's ConfigMaps
// and Secrets are appended, in order, to <component>.env_config_maps and
// env_secrets after whatever the user already lists. Appending keeps the
// user's objects in place and makes the fixture's the last (winning)
// sources. base is not modified.
func overlayValues(base map[string]any, f envFixture) (map[string]any, error) {
	out := values.Merge(map[string]any{}, base)
	for _, comp := range values.Components {
		m, err := childMap(out, comp)
		if err != nil {
			return nil, err
		}
		env, err := childMap(m, values.KeyEnv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", comp, err)
		}
		for k, v := range f.Values {
			env[k] = v
		}
		for _, kv := range []struct{ key, kind string }{
			{values.KeyEnvConfigMaps, config.KindConfigMap},
			{values.KeyEnvSecrets, config.KindSecret},
		} {
			list, err := stringList(m[kv.key])
			if err != nil {
				return nil, fmt.Errorf("chart value %s.%s: %w", comp, kv.key, err)
			}
			list = append(list, f.names(kv.kind)...)
			m[kv.key] = anyList(list)
		}
	}
	return out, nil
}

// childMap returns m[key] as a map, creating it when absent.
func childMap(m map[string]any, key string) (map[string]any, error) {
	switch c := m[key].(type) {
	case map[string]any:
		return c, nil
	case nil:
		n := map[string]any{}
		m[key] = n
		return n, nil
	default:
		return nil, fmt.Errorf("chart value %s must be a mapping, not %T", key, c)
	}
}

func stringList(v any) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case []string:
		return append([]string(nil), t...), nil
	case []any:
		out := make([]string, 0, len(t))
		for i, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("entry %d is %T, not an object name", i, e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("must be a list of object names, not %T", v)
}

func anyList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// FixtureConflictError says an object the suite wants to create already
// exists and is not one of its own fixtures: the suite refuses to touch it.
type FixtureConflictError struct {
	Kind, Namespace, Name string
}

func (e *FixtureConflictError) Error() string {
	return fmt.Sprintf("%s %s/%s exists and was not created by dagster-dev test (no label %s=%s); rename or remove it, the suite will not overwrite it",
		e.Kind, e.Namespace, e.Name, fixtureLabel, fixtureLabelValue)
}

func fixtureMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Labels: map[string]string{fixtureLabel: fixtureLabelValue}}
}

func isFixture(meta metav1.ObjectMeta) bool { return meta.Labels[fixtureLabel] == fixtureLabelValue }

// createFixture creates or replaces (only if it is a fixture) one object.
func (k *kubeClient) createFixture(ctx context.Context, o fixtureObject) error {
	cms, secrets := k.client.CoreV1().ConfigMaps(k.namespace), k.client.CoreV1().Secrets(k.namespace)
	switch o.Kind {
	case config.KindConfigMap:
		obj := &corev1.ConfigMap{ObjectMeta: fixtureMeta(o.Name), Data: o.Data}
		cur, err := cms.Get(ctx, o.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = cms.Create(ctx, obj, metav1.CreateOptions{})
			return err
		case err != nil:
			return err
		case !isFixture(cur.ObjectMeta):
			return &FixtureConflictError{Kind: o.Kind, Namespace: k.namespace, Name: o.Name}
		}
		obj.ResourceVersion = cur.ResourceVersion
		_, err = cms.Update(ctx, obj, metav1.UpdateOptions{})
		return err
	case config.KindSecret:
		obj := &corev1.Secret{ObjectMeta: fixtureMeta(o.Name), StringData: o.Data, Type: corev1.SecretTypeOpaque}
		cur, err := secrets.Get(ctx, o.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = secrets.Create(ctx, obj, metav1.CreateOptions{})
			return err
		case err != nil:
			return err
		case !isFixture(cur.ObjectMeta):
			return &FixtureConflictError{Kind: o.Kind, Namespace: k.namespace, Name: o.Name}
		}
		// StringData merges into Data on update; start from empty Data so
		// keys of an older fixture do not linger.
		obj.ResourceVersion = cur.ResourceVersion
		obj.Data = map[string][]byte{}
		_, err = secrets.Update(ctx, obj, metav1.UpdateOptions{})
		return err
	}
	return fmt.Errorf("fixture %s: unknown kind %q", o.Name, o.Kind)
}

// deleteFixture deletes one object if it exists and is a fixture; an
// object of that name without the fixture label is a user's and is left
// alone (a FixtureConflictError). The delete is conditional on the UID that
// was checked, so an object recreated in between is not hit either.
func (k *kubeClient) deleteFixture(ctx context.Context, kind, name string) error {
	var meta metav1.ObjectMeta
	var del func() error
	switch kind {
	case config.KindConfigMap:
		cur, err := k.client.CoreV1().ConfigMaps(k.namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		meta = cur.ObjectMeta
		del = func() error {
			return k.client.CoreV1().ConfigMaps(k.namespace).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID}})
		}
	case config.KindSecret:
		cur, err := k.client.CoreV1().Secrets(k.namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		meta = cur.ObjectMeta
		del = func() error {
			return k.client.CoreV1().Secrets(k.namespace).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID}})
		}
	default:
		return fmt.Errorf("fixture %s: unknown kind %q", name, kind)
	}
	if !isFixture(meta) {
		return &FixtureConflictError{Kind: kind, Namespace: k.namespace, Name: name}
	}
	if err := del(); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// deleteFixtures removes every listed object, reporting all failures.
func (k *kubeClient) deleteFixtures(ctx context.Context, objs []fixtureObject) error {
	var errs []error
	for _, o := range objs {
		if err := k.deleteFixture(ctx, o.Kind, o.Name); err != nil {
			errs = append(errs, fmt.Errorf("removing %s %s: %w", o.Kind, o.Name, err))
		}
	}
	return errors.Join(errs...)
}

// sortedKeys returns m's keys in order, for stable messages and requests.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
