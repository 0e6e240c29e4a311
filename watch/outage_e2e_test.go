package watch

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dagster-dev/dagster-dev/internal/readiness"
)

// The API server's static pod manifest: moving it away makes the kubelet
// stop the API server, moving it back starts it again.
const (
	apiServerManifest = "/etc/kubernetes/manifests/kube-apiserver.yaml"
	apiServerParked   = "/etc/kubernetes/kube-apiserver.yaml.parked"
)

// The API server goes away for 30 s while watch runs, and files are saved
// twice meanwhile: watch says the server is unreachable, keeps retrying,
// and once the server is back applies the last content (not the first),
// once, and restarts only the workload that reads it.
func TestKindWatchAPIServerOutage(t *testing.T) {
	k := requireKind(t)
	p := newKindProject(t, k)
	p.start(t)
	ctx := context.Background()
	node := kindName + "-control-plane"
	restore := func() { _, _ = docker("exec", node, "mv", apiServerParked, apiServerManifest) }
	t.Cleanup(func() {
		restore()
		waitAPI(t, k, true, 3*time.Minute)
	})

	fromInfo, _, _ := p.rec.snapshot()
	from := p.rec.changeCount()
	if out, err := docker("exec", node, "mv", apiServerManifest, apiServerParked); err != nil {
		t.Fatalf("parking the API server manifest: %v: %s", err, out)
	}
	down := time.Now()
	waitAPI(t, k, false, time.Minute)
	t.Logf("API server unreachable %s after its manifest moved", time.Since(down).Round(100*time.Millisecond))

	path := filepath.Join(p.cfg.Dir, "team.env")
	replace(t, path, "TEAM_VALUE=during-outage\n")
	time.Sleep(5 * time.Second)
	replace(t, path, "TEAM_VALUE=after-outage\n")

	// watch tells the user, rather than failing or going quiet.
	deadline := time.Now().Add(30 * time.Second)
	said := ""
	for said == "" && time.Now().Before(deadline) {
		infos, _, _ := p.rec.snapshot()
		for _, m := range infos[len(fromInfo):] {
			if strings.Contains(m, "API server unreachable") {
				said = m
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if said == "" {
		t.Fatal("watch never said the API server is unreachable")
	}
	t.Logf("watch said: %s", said)

	if wait := 30*time.Second - time.Since(down); wait > 0 {
		time.Sleep(wait)
	}
	restore()
	back := time.Now()
	waitAPI(t, k, true, 3*time.Minute)
	t.Logf("API server back %s after its manifest returned (outage %s)", time.Since(back).Round(100*time.Millisecond), time.Since(down).Round(time.Second))

	c := p.rec.waitChange(t, from, "ConfigMap/team")
	if c.RolloutErr != nil {
		t.Fatal(c.RolloutErr)
	}
	t.Logf("FIGURE API outage: server back -> change applied and its reader rolled out %s (save -> applied %s, -> Ready %s)", time.Since(back).Round(100*time.Millisecond), c.Applied, c.Ready)
	cm, err := k.client.CoreV1().ConfigMaps(p.ns).Get(ctx, "team", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cm.Data["TEAM_VALUE"]; got != "after-outage" {
		t.Fatalf("ConfigMap team has TEAM_VALUE=%q, want the last save's after-outage", got)
	}
	if err := readiness.WaitRollout(ctx, k.client, p.ns, "Deployment", "w-dotenv", 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	pod := k.runningPod(t, p.ns, "w-dotenv")
	if got := k.podEnv(t, p.ns, pod.Name)["TEAM_VALUE"]; got != "after-outage" {
		t.Fatalf("w-dotenv runs with TEAM_VALUE=%q, want after-outage", got)
	}
	_, _, changes := p.rec.snapshot()
	n := 0
	for _, ch := range changes[from:] {
		if ch.Object == "ConfigMap/team" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("ConfigMap/team was applied %d times after the outage, want once", n)
	}
}

// waitAPI waits until the API server answers (up) or stops answering.
func waitAPI(t *testing.T, k *kindEnv, up bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := k.client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
		cancel()
		if (err == nil) == up {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("API server up=%v not reached within %s", up, within)
}
