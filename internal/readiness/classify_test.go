package readiness

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

func TestClassifyPod(t *testing.T) {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(20 * time.Second)}}
	tests := []struct {
		name  string
		pod   *corev1.Pod
		phase Phase
		kind  FailureKind
		// short is the exact Short() text; contains are substrings of Message+Hint.
		short    string
		contains []string
		logs     LogSource
	}{
		{name: "ready", pod: newPod("p", ready()), phase: PhaseReady, short: "Ready"},
		{
			name:  "init container waiting for the database",
			pod:   newPod("p", initRunning(95*time.Second)),
			phase: PhaseProgressing, short: "Init:0/1 (check-db-ready running 95s)", logs: LogsCurrent,
		},
		{
			name:  "init container not started yet",
			pod:   newPod("p"),
			phase: PhaseProgressing, short: "Init:0/1 (check-db-ready PodInitializing)",
		},
		{
			name: "no container statuses yet",
			pod: newPod("p", func(p *corev1.Pod) {
				p.Status.InitContainerStatuses, p.Status.ContainerStatuses = nil, nil
			}),
			phase: PhaseProgressing, short: "Init:0/1",
		},
		{
			name:  "PodInitializing after init",
			pod:   newPod("p", mainState(waiting("PodInitializing", ""), 0)),
			phase: PhaseProgressing, short: "PodInitializing",
		},
		{
			name:  "ContainerCreating",
			pod:   newPod("p", mainState(waiting("ContainerCreating", ""), 0)),
			phase: PhaseProgressing, short: "ContainerCreating",
		},
		{
			name:  "init container restarted once while the database starts",
			pod:   newPod("p", initState(waiting("CrashLoopBackOff", "back-off 10s restarting failed container"), 1)),
			phase: PhaseProgressing, short: "Init:0/1 (check-db-ready restarting, 1 restart)", logs: LogsPrevious,
		},
		{
			name:  "init container crash looping",
			pod:   newPod("p", initState(waiting("CrashLoopBackOff", "back-off 40s"), 3)),
			phase: PhaseFailed, kind: KindInitCrashLoop, short: "Init:CrashLoopBackOff",
			contains: []string{"init container check-db-ready keeps exiting", "3 restarts", "dependency"},
			logs:     LogsPrevious,
		},
		{
			name:  "a few restarts while dependencies start, running again",
			pod:   newPod("p", mainState(running, 2), lastExit(1, "Error")),
			phase: PhaseProgressing, short: "Running (dagit not ready, up 20s, 2 restarts, last exit code 1)", logs: LogsCurrent,
		},
		{
			name:  "crash loop below the threshold",
			pod:   newPod("p", mainState(waiting("CrashLoopBackOff", ""), 2), lastExit(1, "Error")),
			phase: PhaseProgressing, short: "CrashLoopBackOff (dagit 2 restarts, last exit code 1)", logs: LogsPrevious,
		},
		{
			name:  "crash loop",
			pod:   newPod("p", mainState(waiting("CrashLoopBackOff", "back-off 1m20s"), 5), lastExit(1, "Error")),
			phase: PhaseFailed, kind: KindCrashLoop, short: "CrashLoopBackOff",
			contains: []string{"container dagit keeps exiting: 5 restarts, last exit code 1", "log lines below"},
			logs:     LogsPrevious,
		},
		{
			name:  "crash loop from OOM",
			pod:   newPod("p", mainState(waiting("CrashLoopBackOff", ""), 4), lastExit(137, "OOMKilled")),
			phase: PhaseFailed, kind: KindCrashLoop, short: "CrashLoopBackOff",
			contains: []string{"(OOMKilled)", "resources.limits.memory"},
			logs:     LogsPrevious,
		},
		{
			name:  "crash loop, command not found",
			pod:   newPod("p", mainState(waiting("CrashLoopBackOff", ""), 3), lastExit(127, "Error")),
			phase: PhaseFailed, kind: KindCrashLoop, short: "CrashLoopBackOff",
			contains: []string{"command was not found"},
			logs:     LogsPrevious,
		},
		{
			name: "first ErrImagePull already fails (offline nothing can be pulled)",
			pod: newPod("p", mainState(waiting("ErrImagePull",
				`failed to pull and unpack image "docker.io/dagster/dagster-celery-k8s:1.13.27": dial tcp: lookup registry-1.docker.io: no such host`), 0)),
			phase: PhaseFailed, kind: KindImagePull, short: "ErrImagePull",
			contains: []string{"no such host", `"dagster/dagster-celery-k8s:1.13.27" isn't available in the cluster`, "images: in dagster-dev.yaml"},
		},
		{
			name: "ImagePullBackOff with imagePullPolicy Always",
			pod: newPod("p", mainState(waiting("ImagePullBackOff", `Back-off pulling image "my/app:latest"`), 0), func(p *corev1.Pod) {
				p.Spec.Containers[0].Image = "my/app:latest"
				p.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
			}),
			phase: PhaseFailed, kind: KindImagePull, short: "ImagePullBackOff",
			contains: []string{"side-loaded images are ignored", "IfNotPresent"},
		},
		{
			name: "image pull of the init container",
			pod: newPod("p", initState(waiting("ImagePullBackOff", `Back-off pulling image "postgres:15"`), 0), func(p *corev1.Pod) {
				p.Status.ContainerStatuses[0].State = waiting("PodInitializing", "")
			}),
			phase: PhaseFailed, kind: KindImagePull, short: "ImagePullBackOff",
			contains: []string{`"postgres:15" isn't available`},
		},
		{
			name:  "InvalidImageName",
			pod:   newPod("p", mainState(waiting("InvalidImageName", `Failed to apply default image tag "Dagster:1": couldn't parse image name`), 0)),
			phase: PhaseFailed, kind: KindImagePull, short: "InvalidImageName",
			contains: []string{"not a valid image reference"},
		},
		{
			name:  "ErrImageNeverPull",
			pod:   newPod("p", mainState(waiting("ErrImageNeverPull", `Container image "x:1" is not present with pull policy of Never`), 0)),
			phase: PhaseFailed, kind: KindImagePull, short: "ErrImageNeverPull",
			contains: []string{"side-load it"},
		},
		{
			name:  "missing ConfigMap",
			pod:   newPod("p", envFrom("ConfigMap", "my-env"), mainState(waiting("CreateContainerConfigError", `configmap "my-env" not found`), 0)),
			phase: PhaseFailed, kind: KindConfig, short: "CreateContainerConfigError",
			contains: []string{"create ConfigMap my-env in namespace dagster or remove it from dagit.env_config_maps"},
		},
		{
			name: "subPath of a hostPath volume the node cannot see",
			pod: newPod("p", mainState(waiting("CreateContainerConfigError", `failed to create subPath directory for volumeMount "code" of container "user-code"`), 0), func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "code", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/dagster-dev/code"}}}}
			}),
			phase: PhaseFailed, kind: KindConfig, short: "CreateContainerConfigError",
			contains: []string{`below /dagster-dev/code (hostPath volume "code")`, "cluster.codeRoot", "dagster-dev down"},
		},
		{
			name:  "subPath of a volume that is not a hostPath keeps the generic hint",
			pod:   newPod("p", mainState(waiting("CreateContainerConfigError", `failed to create subPath directory for volumeMount "data" of container "c"`), 0)),
			phase: PhaseFailed, kind: KindConfig, short: "CreateContainerConfigError",
			contains: []string{"fix the container's configuration in the chart values"},
		},
		{
			name: "missing Secret of a celery worker",
			pod: newPod("celery-workers-dagster-7d9f", envFrom("Secret", "db-password"), mainState(waiting("CreateContainerConfigError", `secret "db-password" not found`), 0), func(p *corev1.Pod) {
				p.Labels["component"] = "celery"
			}),
			phase: PhaseFailed, kind: KindConfig, short: "CreateContainerConfigError",
			contains: []string{"create Secret db-password in namespace dagster or remove it from job_runner.env_secrets"},
		},
		{
			name: "missing ConfigMap of an unknown component",
			pod: newPod("dagster-flower-5c7", envFrom("ConfigMap", "x"), mainState(waiting("CreateContainerConfigError", `configmap "x" not found`), 0), func(p *corev1.Pod) {
				p.Labels["component"] = "flower"
			}),
			phase: PhaseFailed, kind: KindConfig, short: "CreateContainerConfigError",
			contains: []string{"create ConfigMap x in namespace dagster or remove it from the chart values that list it (dagit.env_config_maps / job_runner.env_config_maps)"},
		},
		{
			name: "missing Secret of the daemon (chart label)",
			pod: newPod("dagster-daemon-7d9f-x", envFrom("Secret", "s"), mainState(waiting("CreateContainerConfigError", `secret "s" not found`), 0), func(p *corev1.Pod) {
				delete(p.Labels, "component")
				p.Labels[kube.LabelComponent] = kube.ComponentDaemon
			}),
			phase: PhaseFailed, kind: KindConfig, short: "CreateContainerConfigError",
			contains: []string{"remove it from dagit.env_secrets"},
		},
		{
			name: "missing ConfigMap of user code (chart label)",
			pod: newPod("dagster-user-code-1-x", envFrom("ConfigMap", "c"), mainState(waiting("CreateContainerConfigError", `configmap "c" not found`), 0), func(p *corev1.Pod) {
				p.Labels[kube.LabelComponent] = kube.ComponentUserCode
			}),
			phase: PhaseFailed, kind: KindConfig, short: "CreateContainerConfigError",
			contains: []string{"remove it from job_runner.env_config_maps"},
		},
		{
			name: "missing Secret behind a single env entry is not an env_secrets entry",
			pod: newPod("p", envFrom("Secret", "other"), mainState(waiting("CreateContainerConfigError", `secret "dagster-postgresql-secret" not found`), 0), func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "DAGSTER_PG_PASSWORD", ValueFrom: &corev1.EnvVarSource{
					SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "dagster-postgresql-secret"}, Key: "postgresql-password"}}}}
			}),
			phase: PhaseFailed, kind: KindConfig, short: "CreateContainerConfigError",
			contains: []string{"create Secret dagster-postgresql-secret in namespace dagster, or change the chart values that reference it"},
		},
		{
			name:  "missing key",
			pod:   newPod("p", mainState(waiting("CreateContainerConfigError", "couldn't find key DAGSTER_HOME in ConfigMap dagster/my-env"), 0)),
			phase: PhaseFailed, kind: KindConfig, short: "CreateContainerConfigError",
			contains: []string{"add key DAGSTER_HOME to ConfigMap my-env in namespace dagster"},
		},
		{
			name:  "unparsable config error",
			pod:   newPod("p", mainState(waiting("CreateContainerConfigError", "container has runAsNonRoot and image will run as root"), 0)),
			phase: PhaseFailed, kind: KindConfig, short: "CreateContainerConfigError",
			contains: []string{"runAsNonRoot"},
		},
		{
			// Seen in CI on a loaded node: the kubelet retries this itself.
			name:  "kubelet configmap cache not synced yet",
			pod:   newPod("p", mainState(waiting("CreateContainerConfigError", "failed to sync configmap cache: timed out waiting for the condition"), 0)),
			phase: PhaseProgressing, short: "CreateContainerConfigError",
		},
		{
			// Seen in CI right after the node container restarted.
			name:  "kubelet has not listed Services yet",
			pod:   newPod("p", mainState(waiting("CreateContainerConfigError", "services have not yet been read at least once, cannot construct envvars"), 0)),
			phase: PhaseProgressing, short: "CreateContainerConfigError",
		},
		{
			name:  "kubelet secret cache not synced yet",
			pod:   newPod("p", mainState(waiting("CreateContainerConfigError", "failed to sync secret cache: timed out waiting for the condition"), 0)),
			phase: PhaseProgressing, short: "CreateContainerConfigError",
		},
		{
			name:  "unschedulable within the grace period",
			pod:   newPod("p", unschedulable(10*time.Second, "0/1 nodes are available: 1 Insufficient cpu.")),
			phase: PhaseProgressing, short: "Pending (unschedulable for 10s)",
		},
		{
			name:  "unschedulable past the grace period",
			pod:   newPod("p", unschedulable(31*time.Second, "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available")),
			phase: PhaseFailed, kind: KindUnschedulable, short: "Unschedulable",
			contains: []string{"Insufficient cpu", "lower resources.requests"},
		},
		{
			name:  "unschedulable, unbound PVC",
			pod:   newPod("p", unschedulable(time.Minute, "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.")),
			phase: PhaseFailed, kind: KindUnschedulable, short: "Unschedulable",
			contains: []string{"storageClassName"},
		},
		{
			name: "scheduling gated",
			pod: newPod("p", func(p *corev1.Pod) {
				setCond(p, corev1.PodScheduled, corev1.ConditionFalse, "SchedulingGated", "", ago(time.Hour))
			}),
			phase: PhaseProgressing, short: "Pending (SchedulingGated)",
		},
		{
			name:  "terminating",
			pod:   newPod("p", mainState(waiting("CrashLoopBackOff", ""), 9), deleting()),
			phase: PhaseProgressing, short: "Terminating",
		},
		{
			name: "sidecar init container started counts as done",
			pod: newPod("p", mainState(waiting("ContainerCreating", ""), 0), func(p *corev1.Pod) {
				p.Spec.InitContainers = append([]corev1.Container{{Name: "proxy", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways)}}, p.Spec.InitContainers...)
				p.Status.InitContainerStatuses = append([]corev1.ContainerStatus{{Name: "proxy", Started: ptr(true),
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Minute)}}}}, p.Status.InitContainerStatuses...)
			}),
			phase: PhaseProgressing, short: "ContainerCreating",
		},
		{
			name: "failure in one container decides over another still creating",
			pod: newPod("p", mainState(waiting("ContainerCreating", ""), 0), func(p *corev1.Pod) {
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar", Image: "busybox:1"})
				p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: "sidecar",
					State: waiting("ErrImagePull", "no such host")})
			}),
			phase: PhaseFailed, kind: KindImagePull, short: "ErrImagePull",
			contains: []string{`"busybox:1"`},
		},
		{
			name:  "containers ready, condition lagging",
			pod:   newPod("p", mainState(running, 0), func(p *corev1.Pod) { p.Status.ContainerStatuses[0].Ready = true }),
			phase: PhaseProgressing, short: "NotReady (containers ready, pod condition pending)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ClassifyPod(tt.pod, t0)
			if got.Phase != tt.phase {
				t.Fatalf("phase = %v, want %v (%+v)", got.Phase, tt.phase, got)
			}
			if got.Kind != tt.kind {
				t.Errorf("kind = %q, want %q", got.Kind, tt.kind)
			}
			if got.Short() != tt.short {
				t.Errorf("Short() = %q, want %q", got.Short(), tt.short)
			}
			if got.Logs != tt.logs {
				t.Errorf("logs = %v, want %v", got.Logs, tt.logs)
			}
			text := got.Message + "\n" + got.Hint
			for _, c := range tt.contains {
				if !strings.Contains(text, c) {
					t.Errorf("message/hint %q does not contain %q", text, c)
				}
			}
			if tt.phase == PhaseFailed && (got.Hint == "" || got.Container == "" && tt.kind != KindUnschedulable) {
				t.Errorf("failure without hint or container: %+v", got)
			}
		})
	}
}

func TestClassifyPodTerminal(t *testing.T) {
	p := newPod("p", ready(), func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodFailed
		p.Status.Reason = "Evicted"
		p.Status.Message = "The node was low on resource: memory."
	})
	got := ClassifyPod(p, t0)
	if !got.Terminal || got.Phase != PhaseProgressing || got.Reason != "Evicted" {
		t.Fatalf("evicted pod = %+v, want terminal Evicted", got)
	}
}

func TestParseMissingRef(t *testing.T) {
	tests := []struct {
		msg  string
		want MissingRef
		ok   bool
	}{
		{`configmap "dagster-pipeline-env" not found`, MissingRef{Kind: "ConfigMap", Name: "dagster-pipeline-env"}, true},
		{`configmaps "x" not found`, MissingRef{Kind: "ConfigMap", Name: "x"}, true},
		{`secret "test-env-secret" not found`, MissingRef{Kind: "Secret", Name: "test-env-secret"}, true},
		{`couldn't find key TEST_ENV_VAR in ConfigMap dagster/test-env-configmap`, MissingRef{Kind: "ConfigMap", Name: "test-env-configmap", Key: "TEST_ENV_VAR"}, true},
		{`Couldn't find key WORD_FACTOR in Secret dagster/test-deployment-env-secret`, MissingRef{Kind: "Secret", Name: "test-deployment-env-secret", Key: "WORD_FACTOR"}, true},
		{`container has runAsNonRoot and image will run as root`, MissingRef{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseMissingRef(tt.msg)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseMissingRef(%q) = %+v, %v; want %+v, %v", tt.msg, got, ok, tt.want, tt.ok)
		}
	}
}

func TestEffectivePullPolicy(t *testing.T) {
	tests := map[string]corev1.PullPolicy{
		"dagster/dagster:1.13.27":       corev1.PullIfNotPresent,
		"dagster/dagster:latest":        corev1.PullAlways,
		"dagster/dagster":               corev1.PullAlways,
		"localhost:5001/dagster":        corev1.PullAlways,
		"localhost:5001/dagster:1":      corev1.PullIfNotPresent,
		"postgres@sha256:0123456789abc": corev1.PullIfNotPresent,
	}
	for image, want := range tests {
		if got := effectivePullPolicy(&corev1.Container{Image: image}); got != want {
			t.Errorf("%s: %s, want %s", image, got, want)
		}
	}
	if got := effectivePullPolicy(&corev1.Container{Image: "x:latest", ImagePullPolicy: corev1.PullNever}); got != corev1.PullNever {
		t.Errorf("explicit policy ignored: %s", got)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                  "0s",
		95*time.Second + 400*1e6:      "95s",
		125 * time.Second:             "2m05s",
		time.Hour + 2*time.Minute + 1: "1h02m",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
