package stack

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/dagit"
	"github.com/dagster-dev/dagster-dev/internal/kube"
)

func pod(name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "dagster", Labels: labels}}
}

func releasePod(name, component string, extra ...string) *corev1.Pod {
	l := map[string]string{kube.LabelInstance: "dagster", kube.LabelComponent: component}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return pod(name, l)
}

// Dagster labels every job pod app.kubernetes.io/instance=dagster,
// whatever the release, so a release named "dagster" must tell its run
// pods apart by the launcher's release label.
func jobPod(name, component, release, runID, op string) *corev1.Pod {
	l := map[string]string{kube.LabelInstance: "dagster", kube.LabelComponent: component, kube.LabelRunID: runID}
	if release != "" {
		l[kube.LabelRunRelease] = release
	}
	if op != "" {
		l[kube.LabelOp] = op
	}
	return pod(name, l)
}

func testLogsConfig(t *testing.T) *config.Config {
	cfg, err := config.Parse("f.yaml", []byte("codeLocations:\n  - {name: analytics, image: \"example/analytics:1\", module: analytics}\n"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestLogsSelectionLabelsAndFilters(t *testing.T) {
	pods := []*corev1.Pod{
		releasePod("dagster-dagit-6d9f-x7k2p", kube.ComponentDagit),
		releasePod("dagster-daemon-55c-q1w2e", kube.ComponentDaemon),
		releasePod("dagster-celery-workers-7b-zz9aa", kube.ComponentWorker),
		releasePod("dagster-code-analytics-5f-9fz3d", kube.ComponentUserCode, kube.LabelCodeLocation, "analytics"),
		releasePod("dagster-postgresql-0", kube.ComponentDatabase),
		releasePod("dagster-rabbitmq-0", kube.ComponentBroker),
		releasePod("other-dagit-1-abcde", kube.ComponentDagit), // another release's
		jobPod("dagster-run-1a2b3c4d5e", kube.ComponentRunWorker, "dagster", "1a2b3c4d-5e6f", ""),
		jobPod("dagster-step-9f8e-aaaaa", kube.ComponentStepWorker, "dagster", "1a2b3c4d-5e6f", "my_op"),
		jobPod("dagster-run-ffff", kube.ComponentRunWorker, "other", "ffffffff-0000", ""), // another release's run
	}
	pods[6].Labels[kube.LabelInstance] = "other"
	cases := []struct {
		args  []string
		runID string
		want  string
		sel   string
	}{
		{nil, "", "dagit/x7k2p daemon/q1w2e worker/zz9aa analytics/9fz3d postgresql/0 rabbitmq/0 run-1a2b3c4d 1a2b3c4d/my_op", ""},
		{[]string{"dagit", "analytics"}, "", "dagit/x7k2p analytics/9fz3d", kube.ReleaseSelector("dagster")},
		{[]string{"code"}, "", "analytics/9fz3d", kube.ReleaseSelector("dagster")},
		{[]string{"runs"}, "", "run-1a2b3c4d 1a2b3c4d/my_op", ""},
		{[]string{"workers", "postgresql", "rabbitmq"}, "", "worker/zz9aa postgresql/0 rabbitmq/0", kube.ReleaseSelector("dagster")},
		{nil, "1a2b3c4d-5e6f", "run-1a2b3c4d 1a2b3c4d/my_op", kube.RunSelector("1a2b3c4d-5e6f")},
	}
	for _, c := range cases {
		l := &Logs{Env: &Env{Config: testLogsConfig(t)}, Components: c.args, RunID: c.runID}
		sel, err := l.selection(context.Background(), fake.NewSimpleClientset())
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		src := sel.source("dagster")
		if src.Selector != c.sel {
			t.Errorf("%v run %q: selector %q, want %q", c.args, c.runID, src.Selector, c.sel)
		}
		var got []string
		for _, p := range pods {
			if label, ok := src.Match(p); ok {
				got = append(got, label)
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%v run %q:\n got %s\nwant %s", c.args, c.runID, strings.Join(got, " "), c.want)
		}
	}
}

func TestLogsUnknownComponentNamesWhatExists(t *testing.T) {
	deployed := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "dagster-code-billing", Namespace: "dagster",
		Labels: map[string]string{kube.LabelInstance: "dagster", kube.LabelComponent: kube.ComponentUserCode}}}
	deployed.Spec.Template.Labels = map[string]string{kube.LabelCodeLocation: "billing"}
	client := fake.NewSimpleClientset(deployed)
	l := &Logs{Env: &Env{Config: testLogsConfig(t)}, Components: []string{"billing"}}
	if _, err := l.selection(context.Background(), client); err != nil {
		t.Fatalf("a deployed location must be accepted: %v", err)
	}
	l.Components = []string{"dagti"}
	_, err := l.selection(context.Background(), client)
	var unknown *UnknownComponentError
	if !errors.As(err, &unknown) {
		t.Fatalf("err = %v", err)
	}
	if fix := unknown.Fix(); !strings.Contains(fix, "dagit") || !strings.Contains(fix, "analytics") || !strings.Contains(fix, "billing") {
		t.Errorf("fix %q must list the components and both locations", fix)
	}
}

func TestEventLinesShowTheError(t *testing.T) {
	lines := eventLines(dagit.Event{Typename: "ExecutionStepFailureEvent", EventType: "STEP_FAILURE", StepKey: "boom",
		Message: "Execution of step \"boom\" failed.", Error: &dagit.PythonError{Message: "ValueError: on purpose\n", Stack: []string{"  File \"defs.py\", line 7, in boom\n"}}})
	var text []string
	for _, l := range lines {
		if l.Label != "events" {
			t.Errorf("label %q", l.Label)
		}
		text = append(text, l.Text)
	}
	all := strings.Join(text, "\n")
	for _, want := range []string{`STEP_FAILURE [boom]: Execution of step "boom" failed.`, "ValueError: on purpose", `File "defs.py", line 7`} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in\n%s", want, all)
		}
	}
}
