package watch

// The kind end-to-end test and benchmarks of watch; the shared cluster and
// helpers are in kind_test.go. Like them, they run only with
// DAGSTER_DEV_E2E=1.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8swatch "k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/readiness"
)

func TestKindWatchEndToEnd(t *testing.T) {
	k := requireKind(t)
	p := newKindProject(t, k)
	uids := k.podUIDs(t, p.ns)
	bystanderUID := uids["bystander"]
	p.start(t)

	// The initial sync finds the cluster equal to the files: nothing
	// applied, nothing restarted.
	if n := p.rec.changeCount(); n != 0 {
		t.Fatalf("the initial sync reported %d changes for unchanged files", n)
	}
	if got := k.podUIDs(t, p.ns); fmt.Sprint(got) != fmt.Sprint(uids) {
		t.Fatalf("the initial sync restarted pods: %v -> %v", uids, got)
	}

	// A second watch on the same namespace is refused.
	err := Run(context.Background(), Options{Config: p.cfg, Client: k.client, Identity: "intruder"})
	if !errors.Is(err, ErrAlreadyWatching) {
		t.Fatalf("second watch: %v", err)
	}
	t.Logf("second watch refused: %v", err)

	edits := []struct {
		app, object, file, content, envVar, want string
	}{
		{"w-dotenv", "ConfigMap/team", "team.env", "TEAM_VALUE=two\n", "TEAM_VALUE", "two"},
		{"w-yaml", "ConfigMap/settings", "settings.yaml", "SETTINGS_VALUE: two\n", "SETTINGS_VALUE", "two"},
		{"w-dir", "ConfigMap/files", "conf/DIR_VALUE", "two", "DIR_VALUE", "two"},
		{"w-manifest", "Secret/creds", "creds.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData:\n  TOKEN: secret-two\n", "TOKEN", "secret-two"},
	}
	for _, e := range edits {
		t.Run(e.app, func(t *testing.T) {
			before := k.podUIDs(t, p.ns)
			from := p.rec.changeCount()
			replace(t, filepath.Join(p.cfg.Dir, e.file), e.content)
			c := p.rec.waitChange(t, from, e.object)
			if c.RolloutErr != nil {
				t.Fatal(c.RolloutErr)
			}
			if len(c.Restarted) != 1 || c.Restarted[0] != "Deployment/"+e.app {
				t.Fatalf("restarted %v, want exactly Deployment/%s", c.Restarted, e.app)
			}
			pod := k.runningPod(t, p.ns, e.app)
			if got := k.podEnv(t, p.ns, pod.Name)[e.envVar]; got != e.want {
				t.Fatalf("%s in %s = %q, want %q", e.envVar, e.app, got, e.want)
			}
			after := k.podUIDs(t, p.ns)
			for app, uid := range before {
				if app != e.app && after[app] != uid {
					t.Errorf("%s was restarted by an edit of %s", app, e.file)
				}
			}
			if after[e.app] == before[e.app] {
				t.Errorf("%s kept its pod", e.app)
			}
			t.Logf("FIGURE %s: save→applied %s, save→Ready %s (rollout: applied→Ready %s)", e.file, c.Applied, c.Ready, c.Ready-c.Applied)
		})
	}

	t.Run("burst", func(t *testing.T) {
		ctx := context.Background()
		cm, err := k.client.CoreV1().ConfigMaps(p.ns).Get(ctx, "team", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := k.client.CoreV1().ConfigMaps(p.ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=team", ResourceVersion: cm.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		from := p.rec.changeCount()
		path := filepath.Join(p.cfg.Dir, "team.env")
		for i := 0; i < 200; i++ {
			if err := os.WriteFile(path, []byte(fmt.Sprintf("TEAM_VALUE=burst-%d\n", i)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		applies := 0
		timeout := time.After(30 * time.Second)
	loop:
		for {
			select {
			case ev := <-w.ResultChan():
				if ev.Type == k8swatch.Modified {
					applies++
					if ev.Object.(*corev1.ConfigMap).Data["TEAM_VALUE"] == "burst-199" {
						break loop
					}
				}
			case <-timeout:
				t.Fatal("the final content of the burst never arrived")
			}
		}
		// Anything late would be a third apply.
		time.Sleep(2 * time.Second)
		for drained := false; !drained; {
			select {
			case ev := <-w.ResultChan():
				if ev.Type == k8swatch.Modified {
					applies++
				}
			default:
				drained = true
			}
		}
		t.Logf("FIGURE 200-write burst: %d applies", applies)
		if applies > 2 {
			t.Errorf("a 200-write burst gave %d applies, want at most 2", applies)
		}
		p.rec.waitChange(t, from, "ConfigMap/team")
		// Let the last rollout finish before reading the pod.
		if err := readiness.WaitRollout(ctx, k.client, p.ns, "Deployment", "w-dotenv", 3*time.Minute); err != nil {
			t.Fatal(err)
		}
		pod := k.runningPod(t, p.ns, "w-dotenv")
		if got := k.podEnv(t, p.ns, pod.Name)["TEAM_VALUE"]; got != "burst-199" {
			t.Errorf("after the burst the pod sees %q", got)
		}
	})

	t.Run("bad edit then fix", func(t *testing.T) {
		ctx := context.Background()
		before := k.podUIDs(t, p.ns)
		cm, err := k.client.CoreV1().ConfigMaps(p.ns).Get(ctx, "team", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, problemsBefore, _ := p.rec.snapshot()
		path := filepath.Join(p.cfg.Dir, "team.env")
		replace(t, path, "TEAM_VALUE=bad\nTHIS IS NOT DOTENV\n")
		msg := p.rec.waitProblem(t, len(problemsBefore))
		if !strings.Contains(msg, "team.env:2: expected KEY=VALUE") {
			t.Errorf("problem %q", msg)
		}
		time.Sleep(time.Second)
		cm2, err := k.client.CoreV1().ConfigMaps(p.ns).Get(ctx, "team", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cm2.ResourceVersion != cm.ResourceVersion {
			t.Errorf("a bad edit changed the ConfigMap: %v", cm2.Data)
		}
		if got := k.podUIDs(t, p.ns); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("a bad edit restarted pods")
		}
		from := p.rec.changeCount()
		replace(t, path, "TEAM_VALUE=fixed\n")
		c := p.rec.waitChange(t, from, "ConfigMap/team")
		if c.RolloutErr != nil {
			t.Fatal(c.RolloutErr)
		}
		pod := k.runningPod(t, p.ns, "w-dotenv")
		if got := k.podEnv(t, p.ns, pod.Name)["TEAM_VALUE"]; got != "fixed" {
			t.Errorf("after the fix the pod sees %q", got)
		}
	})

	// The bystander reads nothing watched: it never restarted.
	final := k.podUIDs(t, p.ns)
	pod := k.runningPod(t, p.ns, "bystander")
	restarts := int32(0)
	for _, s := range pod.Status.ContainerStatuses {
		restarts += s.RestartCount
	}
	unaffected := restarts
	if final["bystander"] != bystanderUID {
		unaffected++
	}
	t.Logf("FIGURE restarts of the unaffected workload: %d", unaffected)
	if unaffected != 0 {
		t.Errorf("the bystander was restarted")
	}
	if s := p.rec.everything(); strings.Contains(s, "secret-one") || strings.Contains(s, "secret-two") {
		t.Errorf("a Secret value reached the reporter")
	}

	if err := p.stop(); err != nil {
		t.Fatalf("Run returned %v after Ctrl-C", err)
	}
	if _, err := k.client.CoordinationV1().Leases(p.ns).Get(context.Background(), LeaseName, metav1.GetOptions{}); err == nil {
		t.Error("the lease outlived the watch")
	}
}

// podStartBaseline creates bare pods of the same image and measures
// create → Ready on this clock (API timestamps have 1 s resolution): the
// floor under any "save → Ready" figure.
func (k *kindEnv) podStartBaseline(tb testing.TB, ns string, n int) []time.Duration {
	tb.Helper()
	ctx := context.Background()
	tmpl := sleeper("baseline", corev1.Container{}).Spec.Template
	var out []time.Duration
	for i := 0; i < n; i++ {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("baseline-%d", i)}, Spec: tmpl.Spec}
		w, err := k.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + pod.Name})
		if err != nil {
			tb.Fatal(err)
		}
		start := time.Now()
		if _, err := k.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			tb.Fatal(err)
		}
		timeout := time.After(2 * time.Minute)
	wait:
		for {
			select {
			case ev := <-w.ResultChan():
				if p, ok := ev.Object.(*corev1.Pod); ok {
					for _, c := range p.Status.Conditions {
						if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
							break wait
						}
					}
				}
			case <-timeout:
				tb.Fatal("baseline pod never became Ready")
			}
		}
		out = append(out, time.Since(start))
		w.Stop()
		_ = k.client.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
	}
	return out
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p)
	return s[i]
}

// BenchmarkKindSaveToObject: file saved → ConfigMap updated in the cluster,
// as seen by a watch on the object. The source is read by no workload, so
// no rollout competes. Run with -benchtime=30x for a p95.
func BenchmarkKindSaveToObject(b *testing.B) {
	k := requireKind(b)
	p := newKindProject(b, k, config.Source{Name: "bench", Kind: config.KindConfigMap, Path: "bench.env", Format: config.FormatAuto, Attach: []string{config.TargetJobRunner}})
	p.start(b)
	ctx := context.Background()
	path := filepath.Join(p.cfg.Dir, "bench.env")
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cm, err := k.client.CoreV1().ConfigMaps(p.ns).Get(ctx, "bench", metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		w, err := k.client.CoreV1().ConfigMaps(p.ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=bench", ResourceVersion: cm.ResourceVersion})
		if err != nil {
			b.Fatal(err)
		}
		want := fmt.Sprint(i + 1)
		start := time.Now()
		replace(b, path, "BENCH="+want+"\n")
		for got := false; !got; {
			select {
			case ev := <-w.ResultChan():
				if c, ok := ev.Object.(*corev1.ConfigMap); ok && c.Data["BENCH"] == want {
					got = true
				}
			case <-time.After(30 * time.Second):
				b.Fatal("no update")
			}
		}
		lat = append(lat, time.Since(start))
		w.Stop()
		time.Sleep(300 * time.Millisecond) // separate saves, not one burst
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(lat, 0.5).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.95).Milliseconds()), "p95-ms")
	b.Logf("FIGURE save→object updated (debounce %s included): n=%d p50 %s p95 %s max %s", p.cfg.Watch.Debounce.Duration, len(lat), percentile(lat, 0.5), percentile(lat, 0.95), percentile(lat, 1))
}

// BenchmarkKindSaveToReady: file saved → the restarted Deployment Ready with
// the new value, next to how long the new pod itself took to start.
func BenchmarkKindSaveToReady(b *testing.B) {
	k := requireKind(b)
	p := newKindProject(b, k)
	p.start(b)
	path := filepath.Join(p.cfg.Dir, "team.env")
	var ready, rollouts []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		from := p.rec.changeCount()
		want := fmt.Sprintf("ready-%d", i)
		replace(b, path, "TEAM_VALUE="+want+"\n")
		c := p.rec.waitChange(b, from, "ConfigMap/team")
		if c.RolloutErr != nil {
			b.Fatal(c.RolloutErr)
		}
		ready = append(ready, c.Ready)
		rollouts = append(rollouts, c.Ready-c.Applied)
		b.StopTimer()
		pod := k.runningPod(b, p.ns, "w-dotenv")
		if got := k.podEnv(b, p.ns, pod.Name)["TEAM_VALUE"]; got != want {
			b.Fatalf("pod sees %q, want %q", got, want)
		}
		b.StartTimer()
	}
	b.StopTimer()
	baseline := k.podStartBaseline(b, p.ns, 5)
	b.ReportMetric(float64(percentile(ready, 0.5).Milliseconds()), "ready-p50-ms")
	b.ReportMetric(float64(percentile(baseline, 0.5).Milliseconds()), "podstart-p50-ms")
	b.Logf("FIGURE save→pods Ready with the new value: n=%d p50 %s p95 %s (of which rollout applied→Ready p50 %s); bare pod create→Ready p50 %s (n=%d)",
		len(ready), percentile(ready, 0.5), percentile(ready, 0.95), percentile(rollouts, 0.5), percentile(baseline, 0.5), len(baseline))
}
