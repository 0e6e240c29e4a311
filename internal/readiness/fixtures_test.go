package readiness

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// Fixtures model what the API server returns for the Dagster chart's pods:
// a webserver with a check-db-ready init container waiting for Postgres.

const ns = "dagster"

var t0 = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(t0.Add(-d)) }

func ptr[T any](v T) *T { return &v }

type podOpt func(*corev1.Pod)

// newPod is a freshly scheduled pod whose init container has not started.
func newPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, UID: types.UID("uid-" + name),
			CreationTimestamp: ago(2 * time.Minute),
			Labels:            map[string]string{kube.LabelInstance: "dagster", "component": "dagit"},
		},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{
				Name: "check-db-ready", Image: "postgres:15", ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sh", "-c", "until pg_isready -h dagster-postgresql; do sleep 2; done"},
			}},
			Containers: []corev1.Container{{
				Name: "dagit", Image: "dagster/dagster-celery-k8s:1.13.27", ImagePullPolicy: corev1.PullIfNotPresent,
			}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodPending,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: ago(2 * time.Minute)},
				{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady"},
			},
			InitContainerStatuses: []corev1.ContainerStatus{{
				Name: "check-db-ready", Image: "postgres:15",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}},
			}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "dagit", Image: "dagster/dagster-celery-k8s:1.13.27",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}},
			}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func initRunning(d time.Duration) podOpt {
	return func(p *corev1.Pod) {
		p.Status.InitContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(d)}}
	}
}

func initState(s corev1.ContainerState, restarts int32) podOpt {
	return func(p *corev1.Pod) {
		p.Status.InitContainerStatuses[0].State = s
		p.Status.InitContainerStatuses[0].RestartCount = restarts
	}
}

func initCompleted() podOpt {
	return initState(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}, 0)
}

func waiting(reason, msg string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
}

// mainState sets the dagit container's state; it implies init is done.
func mainState(s corev1.ContainerState, restarts int32) podOpt {
	return func(p *corev1.Pod) {
		initCompleted()(p)
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses[0].State = s
		p.Status.ContainerStatuses[0].RestartCount = restarts
	}
}

func lastExit(code int32, reason string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason},
		}
	}
}

func ready() podOpt {
	return func(p *corev1.Pod) {
		mainState(corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Minute)}}, 0)(p)
		p.Status.ContainerStatuses[0].Ready = true
		p.Status.ContainerStatuses[0].Started = ptr(true)
		setCond(p, corev1.PodReady, corev1.ConditionTrue, "", "", ago(30*time.Second))
	}
}

func unschedulable(since time.Duration, msg string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.InitContainerStatuses = nil
		p.Status.ContainerStatuses = nil
		setCond(p, corev1.PodScheduled, corev1.ConditionFalse, corev1.PodReasonUnschedulable, msg, ago(since))
	}
}

func setCond(p *corev1.Pod, t corev1.PodConditionType, s corev1.ConditionStatus, reason, msg string, at metav1.Time) {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			p.Status.Conditions[i] = corev1.PodCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: at}
			return
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: at})
}

func ownedBy(kind string, uid types.UID, labels ...string) podOpt {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: string(uid), UID: uid, Controller: ptr(true)}}
		for i := 0; i+1 < len(labels); i += 2 {
			p.Labels[labels[i]] = labels[i+1]
		}
	}
}

// envFrom imports a whole ConfigMap or Secret into the dagit container, as
// the chart does for each entry of env_config_maps / env_secrets.
func envFrom(kind, name string) podOpt {
	return func(p *corev1.Pod) {
		var e corev1.EnvFromSource
		if kind == "Secret" {
			e.SecretRef = &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}
		} else {
			e.ConfigMapRef = &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}
		}
		p.Spec.Containers[0].EnvFrom = append(p.Spec.Containers[0].EnvFrom, e)
	}
}

func deleting() podOpt {
	return func(p *corev1.Pod) { p.DeletionTimestamp = ptr(ago(time.Second)) }
}

// deployment returns a Deployment whose controller has caught up with
// generation 1 at revision "1", with all counters at replicas.
func deployment(name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, UID: types.UID("uid-" + name), Generation: 1,
			Labels:      map[string]string{kube.LabelInstance: "dagster"},
			Annotations: map[string]string{revisionAnnotation: "1"},
		},
		Spec: appsv1.DeploymentSpec{Replicas: ptr(replicas)},
		Status: appsv1.DeploymentStatus{
			ObservedGeneration: 1, Replicas: replicas, UpdatedReplicas: replicas,
			ReadyReplicas: replicas, AvailableReplicas: replicas,
		},
	}
}

func replicaSet(d *appsv1.Deployment, hash, rev string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
		Name: d.Name + "-" + hash, Namespace: ns, UID: types.UID("uid-" + d.Name + "-" + hash),
		Annotations: map[string]string{revisionAnnotation: rev},
		Labels:      map[string]string{"pod-template-hash": hash},
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: ptr(true),
		}},
	}}
}

func statefulSet(name string, replicas int32, current, update string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, UID: types.UID("uid-" + name), Generation: 1,
			Labels: map[string]string{kube.LabelInstance: "dagster"},
		},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr(replicas)},
		Status: appsv1.StatefulSetStatus{
			ObservedGeneration: 1, Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas,
			CurrentReplicas: replicas, UpdatedReplicas: replicas, CurrentRevision: current, UpdateRevision: update,
		},
	}
}

func daemonSet(name string, desired int32) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, UID: types.UID("uid-" + name), Generation: 1,
			Labels: map[string]string{kube.LabelInstance: "dagster"},
		},
		Status: appsv1.DaemonSetStatus{
			ObservedGeneration: 1, DesiredNumberScheduled: desired, CurrentNumberScheduled: desired,
			UpdatedNumberScheduled: desired, NumberReady: desired, NumberAvailable: desired,
		},
	}
}

func pods(ps ...*corev1.Pod) []corev1.Pod {
	out := make([]corev1.Pod, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out
}

func rsList(rs ...*appsv1.ReplicaSet) []appsv1.ReplicaSet {
	out := make([]appsv1.ReplicaSet, len(rs))
	for i, r := range rs {
		out[i] = *r
	}
	return out
}
