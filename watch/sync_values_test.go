package watch

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/values"
)

// fakeRelease is a Release whose upgrade changes the pod template of the
// workloads whose env it touches, like the chart's checksum annotations.
type fakeRelease struct {
	mu        sync.Mutex
	client    kubernetes.Interface
	installed bool
	vals      map[string]any
	upgrades  int
	err       error
}

func (f *fakeRelease) Name() string { return "dagster" }

func (f *fakeRelease) Values(context.Context) (map[string]any, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.installed {
		return nil, false, nil
	}
	v, _ := canonical(f.vals)
	return v, true, nil
}

func (f *fakeRelease) Upgrade(ctx context.Context, vals map[string]any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.upgrades++
	oldDagit := fmt.Sprint(dig(f.vals, "dagit", "env"))
	f.vals = vals
	if fmt.Sprint(dig(vals, "dagit", "env")) != oldDagit {
		d, err := f.client.AppsV1().Deployments(ns).Get(ctx, "dagit", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Spec.Template.Annotations == nil {
			d.Spec.Template.Annotations = map[string]string{}
		}
		d.Spec.Template.Annotations["checksum/dagit-env"] = oldDagit + "+"
		_, err = f.client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	}
	return nil
}

func dig(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func valuesProject(t *testing.T) *config.Config {
	cfg := project(t)
	cfg.ValuesFiles = []string{"values.yaml"}
	cfg.Watch.Env.Dagit = ".env.dagit"
	write(t, cfg.Dir, "values.yaml", "image: {tag: \"1\"}\ndagit: {env: {FROM_VALUES: v}}\n")
	write(t, cfg.Dir, ".env.dagit", "MODE=dev\n")
	return cfg
}

func TestSyncValuesUpgradesOnlyOnChange(t *testing.T) {
	cfg := valuesProject(t)
	client := cluster()
	vals, err := values.For(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rel := &fakeRelease{client: client, installed: true, vals: vals}
	rec := &recorder{}
	w := &waiter{}
	opts := Options{Config: cfg, Client: client, Release: rel, Reporter: rec, WaitRollout: w.wait}
	if err := Sync(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if rel.upgrades != 0 {
		t.Fatalf("the release already has these values, yet %d upgrades", rel.upgrades)
	}
	w.take()

	write(t, cfg.Dir, ".env.dagit", "MODE=prod\nEXTRA=1\n")
	if err := Sync(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if rel.upgrades != 1 {
		t.Fatalf("upgrades %d", rel.upgrades)
	}
	if got := dig(rel.vals, "dagit", "env"); !reflect.DeepEqual(got, map[string]any{"FROM_VALUES": "v", "MODE": "prod", "EXTRA": "1"}) {
		t.Errorf("upgraded with dagit.env %v", got)
	}
	if got := w.take(); !reflect.DeepEqual(got, []string{"Deployment/dagit"}) {
		t.Errorf("waited for %v, want exactly the workload the upgrade changed", got)
	}
	_, problems, changes := rec.snapshot()
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	last := changes[len(changes)-1]
	if last.Object != "release dagster" || !reflect.DeepEqual(last.Added, []string{"dagit.env.EXTRA"}) ||
		!reflect.DeepEqual(last.Changed, []string{"dagit.env.MODE"}) || last.JobPods {
		t.Errorf("change %+v", last)
	}

	// A non-env value: an upgrade that restarts nothing here.
	write(t, cfg.Dir, "values.yaml", "image: {tag: \"2\"}\ndagit: {env: {FROM_VALUES: v}}\n")
	if err := Sync(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	_, _, changes = rec.snapshot()
	last = changes[len(changes)-1]
	if rel.upgrades != 2 || !reflect.DeepEqual(last.Changed, []string{"image.tag"}) {
		t.Errorf("upgrades %d, change %+v", rel.upgrades, last)
	}

	// Broken values: no upgrade, the error names the file and line.
	write(t, cfg.Dir, "values.yaml", "image: {tag: [\n")
	if err := Sync(context.Background(), opts); !errors.Is(err, ErrProblems) {
		t.Fatalf("got %v", err)
	}
	_, problems, _ = rec.snapshot()
	if rel.upgrades != 2 || len(problems) != 1 || !strings.Contains(problems[0], "values.yaml:2: invalid YAML") {
		t.Errorf("upgrades %d problems %v", rel.upgrades, problems)
	}
}

func TestSyncValuesWaitsForAnInstall(t *testing.T) {
	cfg := valuesProject(t)
	client := cluster()
	rel := &fakeRelease{client: client}
	rec := &recorder{}
	if err := Sync(context.Background(), Options{Config: cfg, Client: client, Release: rel, Reporter: rec, WaitRollout: (&waiter{}).wait}); err != nil {
		t.Fatal(err)
	}
	infos, _, _ := rec.snapshot()
	if rel.upgrades != 0 || !slices.ContainsFunc(infos, func(s string) bool { return strings.Contains(s, "is not installed") }) {
		t.Errorf("upgrades %d infos %v", rel.upgrades, infos)
	}
}

func TestValuesDiff(t *testing.T) {
	old := map[string]any{"a": map[string]any{"b": 1.0, "c": "x", "gone": true}, "list": []any{1.0}}
	cur := map[string]any{"a": map[string]any{"b": 2.0, "c": "x", "new": map[string]any{"d": 1.0}}, "list": []any{1.0, 2.0}}
	added, removed, changed := valuesDiff(old, cur)
	if !reflect.DeepEqual(added, []string{"a.new"}) || !reflect.DeepEqual(removed, []string{"a.gone"}) || !reflect.DeepEqual(changed, []string{"a.b", "list"}) {
		t.Errorf("added %v removed %v changed %v", added, removed, changed)
	}
}

// `up` adds what it learnt from the side-loaded images (image IDs, an image
// location's PYTHONPATH) to the values; watch, which computes them from the
// files, must not undo that: no upgrade, nothing rolls.
func TestSyncValuesKeepsWhatUpLearntFromImages(t *testing.T) {
	cfg := valuesProject(t)
	cfg.CodeLocations = []config.CodeLocation{{Name: "ml", Image: "my-team/ml:1.4", Module: "ml.defs"}}
	client := cluster()
	deployed, err := values.For(cfg)
	if err != nil {
		t.Fatal(err)
	}
	values.SetImageIDs(deployed, map[string]string{"my-team/ml:1.4": "sha256:bbb"}, "1")
	values.SetImageEnvDefault(deployed, "ml", "PYTHONPATH", "/app/src")
	rel := &fakeRelease{client: client, installed: true, vals: deployed}
	opts := Options{Config: cfg, Client: client, Release: rel, Reporter: &recorder{}, WaitRollout: (&waiter{}).wait}
	if err := Sync(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if rel.upgrades != 0 {
		t.Fatalf("%d upgrades of a release whose values only differ by what up learnt from images", rel.upgrades)
	}

	// A real change keeps them too.
	write(t, cfg.Dir, ".env.dagit", "MODE=prod\n")
	if err := Sync(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	entry := rel.vals[values.KeyUserDeployments].([]any)[0].(map[string]any)
	if rel.upgrades != 1 || dig(entry, "env", "PYTHONPATH") != "/app/src" || dig(entry, "podAnnotations", values.ImageIDAnnotation) != "sha256:bbb" {
		t.Errorf("upgrades %d, location entry %v", rel.upgrades, entry)
	}
}
