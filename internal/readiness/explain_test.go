package readiness

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

func TestLastLines(t *testing.T) {
	var lines []string
	for i := range 30 {
		lines = append(lines, strings.Repeat("x", i))
	}
	lines[29] = strings.Repeat("y", 500)
	got := strings.Split(lastLines(strings.Join(lines, "\n")+"\n", 20, 400), "\n")
	if len(got) != 20 || got[0] != lines[10] {
		t.Fatalf("kept %d lines starting %q", len(got), got[0])
	}
	if last := got[19]; last != strings.Repeat("y", 400)+" …" {
		t.Errorf("a long line is not cut: %d bytes", len(last))
	}
}

// ProgressOf evaluates what internal/kube lists as WorkloadProgress does.
func TestProgressOfMatchesWorkloadProgress(t *testing.T) {
	now := time.Now()
	d := appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "dagster-dagit", Namespace: "dagster", Generation: 1}}
	s := appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "dagster-postgresql", Namespace: "dagster", Generation: 1}}
	ds := appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "dagster-agent", Namespace: "dagster", Generation: 1}}
	ws := &kube.Workloads{Deployments: []appsv1.Deployment{d}, StatefulSets: []appsv1.StatefulSet{s}, DaemonSets: []appsv1.DaemonSet{ds}}
	want := []WorkloadStatus{WorkloadProgress(&d, nil, nil, now), WorkloadProgress(&s, nil, nil, now), WorkloadProgress(&ds, nil, nil, now)}
	for i, w := range ws.All() {
		got := ProgressOf(w, nil, nil, now)
		if got.Kind != want[i].Kind || got.Name != want[i].Name || got.Done != want[i].Done || got.State != want[i].State {
			t.Errorf("%s/%s: %+v, want %+v", w.Kind, w.Meta.Name, got, want[i])
		}
	}
}
