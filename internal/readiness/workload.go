package readiness

import (
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/text"
)

// revisionAnnotation is set by the Deployment controller on the Deployment
// and on each ReplicaSet; the ReplicaSet whose value equals the Deployment's
// is the new one. Comparing annotations avoids recomputing pod-template-hash.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// Workload is the set of controllers WorkloadProgress understands.
type Workload interface {
	*appsv1.Deployment | *appsv1.StatefulSet | *appsv1.DaemonSet
}

// WorkloadStatus is how far one workload is, as computed by WorkloadProgress.
type WorkloadStatus struct {
	Kind      string // "Deployment", "StatefulSet" or "DaemonSet"
	Namespace string
	Name      string
	// Desired is the replica count the rollout must reach; Ready counts the
	// Ready pods of the current revision.
	Desired int32
	Ready   int32
	Done    bool
	// State is a short reason for a spinner line, without the pod name:
	// "Init:0/1 (check-db-ready running 95s)". Empty when Done.
	State string
	// Waiting is State with the object it is about, for a timeout report:
	// "pod dagster-daemon-xyz Init:0/1 (check-db-ready running 95s)".
	Waiting string
	// Pods are the workload's pods (current and old revisions), by name.
	Pods []PodStatus
	// Failure is set when the workload cannot become ready without a change.
	// Events and Logs are left empty: filling them needs the API.
	Failure *FailureError

	// observed: the controller has seen the latest spec, so pod failures
	// are about it (see finish).
	observed bool
}

// setPodFailure makes a failed pod the workload's failure.
func (s *WorkloadStatus) setPodFailure(ps PodStatus) {
	st := ps.State
	s.Failure = &FailureError{
		Kind: st.Kind, WorkloadKind: s.Kind, Namespace: s.Namespace, Name: s.Name,
		Pod: ps.Name, Container: st.Container, InitContainer: st.InitContainer,
		Reason: st.Reason, Message: st.Message, Hint: st.Hint,
		logSource: st.Logs,
	}
	if !ps.Current {
		s.Failure.Hint += fmt.Sprintf("; a %s does not replace a pod that is not Ready during a rollout, so delete pod %s once the cause is fixed", s.Kind, ps.Name)
	}
	s.Done = false
	s.State, s.Waiting = st.Short(), "pod "+ps.Name+" "+st.Short()
}

// PodStatus is one pod of a workload.
type PodStatus struct {
	Name string
	// Current is false for pods of an older revision that the rollout must remove.
	Current bool
	State   PodState
}

// WorkloadProgress decides whether a workload is fully rolled out: the
// controller has seen the latest spec, every replica is updated, ready and
// available, no pod of an older revision is left, and every current pod is
// Ready. replicaSets and pods may hold the whole namespace; ownership is
// resolved through controller owner references (UIDs), not labels, because
// chart templates do not reliably copy the release labels onto pods.
func WorkloadProgress[W Workload](w W, replicaSets []appsv1.ReplicaSet, pods []corev1.Pod, now time.Time) WorkloadStatus {
	switch o := any(w).(type) {
	case *appsv1.Deployment:
		return deploymentProgress(o, replicaSets, pods, now)
	case *appsv1.StatefulSet:
		return statefulSetProgress(o, pods, now)
	case *appsv1.DaemonSet:
		return daemonSetProgress(o, pods, now)
	}
	panic(fmt.Sprintf("readiness: unsupported workload type %T", w))
}

// ProgressOf is WorkloadProgress for a workload as internal/kube lists it.
func ProgressOf(w kube.Workload, replicaSets []appsv1.ReplicaSet, pods []corev1.Pod, now time.Time) WorkloadStatus {
	switch o := w.Object.(type) {
	case *appsv1.Deployment:
		return deploymentProgress(o, replicaSets, pods, now)
	case *appsv1.StatefulSet:
		return statefulSetProgress(o, pods, now)
	case *appsv1.DaemonSet:
		return daemonSetProgress(o, pods, now)
	}
	panic(fmt.Sprintf("readiness: unsupported workload type %T", w.Object))
}

// progress collects the inputs every kind shares before finish() decides.
type progress struct {
	status WorkloadStatus
	pods   []PodStatus
	// generation is set while the controller has not observed the latest spec;
	// nothing else about the status can be trusted until then.
	generation string
	// counts are reasons from the controller's status counters, in order.
	counts []string
	// failOnOld: whether a failed pod of an older revision fails the workload.
	failOnOld bool
	// rollout is a controller-level failure (e.g. progress deadline).
	rollout *FailureError
}

func newProgress(kind string, meta *metav1.ObjectMeta, desired int32) *progress {
	return &progress{status: WorkloadStatus{Kind: kind, Namespace: meta.Namespace, Name: meta.Name, Desired: desired}}
}

func (p *progress) addPod(pod *corev1.Pod, current bool, now time.Time) {
	p.pods = append(p.pods, PodStatus{Name: pod.Name, Current: current, State: ClassifyPod(pod, now)})
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func controllerUID(obj metav1.Object) types.UID {
	if ref := metav1.GetControllerOf(obj); ref != nil {
		return ref.UID
	}
	return ""
}

func deploymentProgress(d *appsv1.Deployment, rss []appsv1.ReplicaSet, pods []corev1.Pod, now time.Time) WorkloadStatus {
	p := newProgress("Deployment", &d.ObjectMeta, replicas(d.Spec.Replicas))
	// Pods of old ReplicaSets may be crash looping (that may be why the user
	// changed the spec); they are scaled away, so only new pods can fail it.
	p.failOnOld = false

	rev := d.Annotations[revisionAnnotation]
	owned := map[types.UID]bool{}
	var newRS types.UID
	for i := range rss {
		rs := &rss[i]
		if controllerUID(rs) != d.UID {
			continue
		}
		owned[rs.UID] = true
		if rev != "" && rs.Annotations[revisionAnnotation] == rev {
			newRS = rs.UID
		}
	}
	for i := range pods {
		uid := controllerUID(&pods[i])
		if uid == "" || !owned[uid] {
			continue
		}
		p.addPod(&pods[i], newRS != "" && uid == newRS, now)
	}

	st := d.Status
	switch {
	case d.Spec.Paused:
		p.generation = "rollout paused"
	case d.Generation > st.ObservedGeneration:
		p.generation = fmt.Sprintf("waiting for the controller to see generation %d", d.Generation)
	default:
		if st.UpdatedReplicas < p.status.Desired {
			p.counts = append(p.counts, fmt.Sprintf("%d of %d pods updated", st.UpdatedReplicas, p.status.Desired))
		}
		if st.Replicas > st.UpdatedReplicas {
			p.counts = append(p.counts, fmt.Sprintf("%d old pods pending termination", st.Replicas-st.UpdatedReplicas))
		}
		if st.AvailableReplicas < st.UpdatedReplicas || st.AvailableReplicas < p.status.Desired {
			p.counts = append(p.counts, fmt.Sprintf("%d of %d pods available", st.AvailableReplicas, p.status.Desired))
		}
		if newRS == "" && p.status.Desired > 0 {
			p.counts = append(p.counts, "waiting for the new ReplicaSet")
		}
	}
	for _, c := range st.Conditions {
		switch {
		case c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded":
			p.rollout = &FailureError{
				Kind: KindRollout, Reason: c.Reason, Message: c.Message,
				Hint: "the Deployment made no progress within its progressDeadlineSeconds; the events below say what blocks it",
			}
		// ReplicaFailure (usually FailedCreate: a missing ServiceAccount, a
		// quota or an admission policy) can be a blip while Helm is still
		// creating objects, so it gets the same grace as unschedulable pods.
		case c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue:
			if now.Sub(c.LastTransitionTime.Time) >= UnschedulableGrace {
				p.rollout = &FailureError{
					Kind: KindRollout, Reason: c.Reason, Message: c.Message,
					Hint: "its ReplicaSet cannot create pods: fix what the message names (ServiceAccount, quota, admission policy)",
				}
			} else {
				p.counts = append(p.counts, "pod creation failing: "+text.FirstLine(c.Message))
			}
		}
	}
	return p.finish()
}

func statefulSetProgress(s *appsv1.StatefulSet, pods []corev1.Pod, now time.Time) WorkloadStatus {
	p := newProgress("StatefulSet", &s.ObjectMeta, replicas(s.Spec.Replicas))
	// With the default OrderedReady policy a StatefulSet stops at a pod that
	// is not Running and Ready, whatever its revision, so a broken old pod
	// blocks the rollout for good. With Parallel it replaces it by itself.
	p.failOnOld = s.Spec.PodManagementPolicy != appsv1.ParallelPodManagement

	st := s.Status
	rolling := s.Spec.UpdateStrategy.Type == "" || s.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType
	var partition int32
	if rolling && s.Spec.UpdateStrategy.RollingUpdate != nil && s.Spec.UpdateStrategy.RollingUpdate.Partition != nil {
		partition = *s.Spec.UpdateStrategy.RollingUpdate.Partition
	}
	// With OnDelete or a partition, pods at the old revision are expected to
	// stay, so only revision-complete rolling updates single out old pods.
	revisionMatters := rolling && partition == 0
	for i := range pods {
		if controllerUID(&pods[i]) != s.UID {
			continue
		}
		current := !revisionMatters || pods[i].Labels[appsv1.StatefulSetRevisionLabel] == st.UpdateRevision
		p.addPod(&pods[i], current, now)
	}

	if s.Generation > st.ObservedGeneration {
		p.generation = fmt.Sprintf("waiting for the controller to see generation %d", s.Generation)
	} else {
		if st.ReadyReplicas < p.status.Desired {
			p.counts = append(p.counts, fmt.Sprintf("%d of %d pods ready", st.ReadyReplicas, p.status.Desired))
		}
		switch {
		case !rolling:
		case partition > 0:
			if want := p.status.Desired - partition; st.UpdatedReplicas < want {
				p.counts = append(p.counts, fmt.Sprintf("%d of %d pods updated (partition %d)", st.UpdatedReplicas, want, partition))
			}
		case st.UpdateRevision != st.CurrentRevision:
			p.counts = append(p.counts, fmt.Sprintf("%d of %d pods at revision %s", st.UpdatedReplicas, p.status.Desired, st.UpdateRevision))
		}
		if st.AvailableReplicas < p.status.Desired {
			p.counts = append(p.counts, fmt.Sprintf("%d of %d pods available", st.AvailableReplicas, p.status.Desired))
		}
	}
	return p.finish()
}

func daemonSetProgress(ds *appsv1.DaemonSet, pods []corev1.Pod, now time.Time) WorkloadStatus {
	st := ds.Status
	p := newProgress("DaemonSet", &ds.ObjectMeta, st.DesiredNumberScheduled)
	p.failOnOld = true
	// The DaemonSet status does not name its current revision, so pods are
	// not split by revision; the updated/available counters cover old pods.
	for i := range pods {
		if controllerUID(&pods[i]) == ds.UID {
			p.addPod(&pods[i], true, now)
		}
	}
	if ds.Generation > st.ObservedGeneration {
		p.generation = fmt.Sprintf("waiting for the controller to see generation %d", ds.Generation)
	} else {
		if ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType && st.UpdatedNumberScheduled < st.DesiredNumberScheduled {
			p.counts = append(p.counts, fmt.Sprintf("%d of %d pods updated", st.UpdatedNumberScheduled, st.DesiredNumberScheduled))
		}
		if st.NumberReady < st.DesiredNumberScheduled {
			p.counts = append(p.counts, fmt.Sprintf("%d of %d pods ready", st.NumberReady, st.DesiredNumberScheduled))
		}
		if st.NumberAvailable < st.DesiredNumberScheduled {
			p.counts = append(p.counts, fmt.Sprintf("%d of %d pods available", st.NumberAvailable, st.DesiredNumberScheduled))
		}
	}
	return p.finish()
}

// finish turns the collected facts into a verdict and the texts explaining it.
func (p *progress) finish() WorkloadStatus {
	s := p.status
	order := make([]int, len(p.pods))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return p.pods[order[a]].Name < p.pods[order[b]].Name })

	var failed, waiting *PodStatus
	oldLeft := 0
	for _, i := range order {
		ps := &p.pods[i]
		s.Pods = append(s.Pods, *ps)
		st := ps.State
		if st.Terminal {
			continue
		}
		if st.Phase == PhaseFailed && (ps.Current || p.failOnOld) && failed == nil {
			failed = ps
		}
		if !ps.Current {
			oldLeft++
			continue
		}
		if st.Phase == PhaseReady {
			s.Ready++
		} else if waiting == nil {
			waiting = ps
		}
	}

	// Until the controller has seen the latest spec, the pods and conditions
	// describe the previous one: right after a patch that fixes a crash loop
	// the crashing pods are still there and must not fail the new rollout.
	observed := p.generation == ""
	s.observed = observed
	switch {
	case observed && failed != nil:
		s.setPodFailure(*failed)
	case observed && p.rollout != nil:
		f := p.rollout
		f.WorkloadKind, f.Namespace, f.Name = s.Kind, s.Namespace, s.Name
		s.Failure = f
		s.State, s.Waiting = f.Reason, f.Reason+": "+text.FirstLine(f.Message)
	case p.generation != "":
		s.State, s.Waiting = p.generation, p.generation
	case waiting != nil:
		s.State, s.Waiting = waiting.State.Short(), "pod "+waiting.Name+" "+waiting.State.Short()
	case len(p.counts) > 0:
		s.State, s.Waiting = p.counts[0], p.counts[0]
	case oldLeft > 0:
		s.State = fmt.Sprintf("%d old %s left", oldLeft, text.Plural(oldLeft, "pod", "pods"))
		s.Waiting = s.State
	case s.Ready < s.Desired:
		s.State = fmt.Sprintf("%d of %d pods ready", s.Ready, s.Desired)
		s.Waiting = s.State
	default:
		s.Done = true
	}
	return s
}
