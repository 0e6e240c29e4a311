package readiness

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/text"
)

// The hints ClassifyPod attaches to a failure: what to change, in the
// user's terms (chart values, dagster-dev.yaml), and the parsing of the
// kubelet messages they are drawn from.

func imagePullHint(c *corev1.Container, reason string) string {
	switch reason {
	case "InvalidImageName":
		return fmt.Sprintf("%q is not a valid image reference: check the image name and tag in the chart values", c.Image)
	case "ErrImageNeverPull":
		return fmt.Sprintf("imagePullPolicy is Never and %q is not on the node: side-load it by listing it under images: in dagster-dev.yaml", c.Image)
	}
	hint := fmt.Sprintf("the image %q isn't available in the cluster: side-load it by listing it under images: in dagster-dev.yaml, or check the name/tag", c.Image)
	if effectivePullPolicy(c) == corev1.PullAlways {
		hint += "; its imagePullPolicy is Always, so side-loaded images are ignored: set imagePullPolicy: IfNotPresent and use a tag other than latest"
	}
	return hint
}

// effectivePullPolicy mirrors the API server's defaulting, for pods that were
// built by hand (tests) or by clients that skip defaulting.
func effectivePullPolicy(c *corev1.Container) corev1.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	ref := c.Image
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		return corev1.PullIfNotPresent
	}
	if i := strings.LastIndex(ref, ":"); i >= 0 && !strings.Contains(ref[i:], "/") {
		if ref[i+1:] == "latest" {
			return corev1.PullAlways
		}
		return corev1.PullIfNotPresent
	}
	return corev1.PullAlways
}

var (
	missingObjectRE = regexp.MustCompile(`(?i)\b(configmap|secret)s? "([^"]+)" not found`)
	missingKeyRE    = regexp.MustCompile(`(?i)couldn't find key (\S+) in (ConfigMap|Secret) ([^/\s]+)/(\S+)`)
	cacheNotSynced  = regexp.MustCompile(`(?i)failed to sync (configmap|secret) cache|services have not yet been read at least once`)
)

// kubeletCacheNotSynced reports a CreateContainerConfigError message that
// says the kubelet's object cache timed out, or that a kubelet that has just
// started has not listed Services yet (it needs them for the pods' service
// env vars): both it retries on its own.
func kubeletCacheNotSynced(message string) bool {
	return cacheNotSynced.MatchString(message)
}

// MissingRef is what a CreateContainerConfigError message says is missing.
type MissingRef struct {
	Kind string // "ConfigMap" or "Secret"
	Name string
	Key  string // empty when the whole object is missing
}

// ParseMissingRef extracts the missing ConfigMap/Secret (and key) from a
// kubelet CreateContainerConfigError message such as `configmap "x" not found`
// or `couldn't find key K in Secret ns/x`.
func ParseMissingRef(message string) (MissingRef, bool) {
	if m := missingKeyRE.FindStringSubmatch(message); m != nil {
		return MissingRef{Kind: refKind(m[2]), Name: m[4], Key: m[1]}, true
	}
	if m := missingObjectRE.FindStringSubmatch(message); m != nil {
		return MissingRef{Kind: refKind(m[1]), Name: m[2]}, true
	}
	return MissingRef{}, false
}

func refKind(s string) string {
	if strings.EqualFold(s, "secret") {
		return "Secret"
	}
	return "ConfigMap"
}

// subPathRE matches the kubelet's error for a volumeMount whose subPath it
// cannot create or prepare in the volume.
var subPathRE = regexp.MustCompile(`failed to (?:create|prepare) subPath (?:directory )?for volumeMount "([^"]+)"`)

func configErrorHint(pod *corev1.Pod, message string) string {
	if m := subPathRE.FindStringSubmatch(message); m != nil {
		if hint := subPathHint(pod, m[1]); hint != "" {
			return hint
		}
	}
	ref, ok := ParseMissingRef(message)
	if !ok {
		return "fix the container's configuration in the chart values: " + text.FirstLine(message)
	}
	if ref.Key != "" {
		return fmt.Sprintf("add key %s to %s %s in namespace %s, or stop referencing that key", ref.Key, ref.Kind, ref.Name, pod.Namespace)
	}
	// Only whole-object references through envFrom come from the
	// env_config_maps / env_secrets lists; a single env entry (such as the
	// chart's own Postgres password) or a volume is set elsewhere.
	if !inEnvFrom(pod, ref) {
		return fmt.Sprintf("create %s %s in namespace %s, or change the chart values that reference it", ref.Kind, ref.Name, pod.Namespace)
	}
	field := "env_config_maps"
	if ref.Kind == "Secret" {
		field = "env_secrets"
	}
	where := "the chart values that list it"
	if comp := chartComponent(pod); comp != "" {
		where = comp + "." + field
	} else {
		where += fmt.Sprintf(" (dagit.%s / job_runner.%s)", field, field)
	}
	return fmt.Sprintf("create %s %s in namespace %s or remove it from %s", ref.Kind, ref.Name, pod.Namespace, where)
}

// inEnvFrom reports whether any container of the pod imports ref through envFrom.
func inEnvFrom(pod *corev1.Pod, ref MissingRef) bool {
	cs := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range cs {
		for _, e := range c.EnvFrom {
			switch {
			case ref.Kind == "ConfigMap" && e.ConfigMapRef != nil && e.ConfigMapRef.Name == ref.Name,
				ref.Kind == "Secret" && e.SecretRef != nil && e.SecretRef.Name == ref.Name:
				return true
			}
		}
	}
	return false
}

// chartComponent names the top-level values key whose env_config_maps /
// env_secrets feed the pod, so a hint can name the exact list to edit. The
// mapping mirrors chart/dagster/templates: dagit and the daemon include
// dagster.dagit.envFrom, celery workers and user code dagster.jobRunner.envFrom.
// It returns "" when unsure rather than pointing at the wrong key.
func chartComponent(pod *corev1.Pod) string {
	switch pod.Labels[kube.LabelComponent] {
	case kube.ComponentDagit, kube.ComponentDaemon:
		return "dagit"
	case kube.ComponentWorker, kube.ComponentUserCode:
		return "job_runner"
	}
	// Pods from other charts or older templates: fall back to names.
	for _, n := range []string{pod.Labels["component"], pod.Name} {
		n = strings.ToLower(n)
		switch {
		case n == "":
		case strings.Contains(n, "dagit") || strings.Contains(n, "webserver") || strings.Contains(n, "daemon"):
			return "dagit"
		case strings.Contains(n, "celery") || strings.Contains(n, "user-code") || strings.Contains(n, "job-runner"):
			return "job_runner"
		}
	}
	return ""
}

func crashLoopHint(c *corev1.Container, st *corev1.ContainerStatus, init bool) string {
	if t := st.LastTerminationState.Terminated; t != nil {
		switch {
		case t.Reason == "OOMKilled":
			return "it was killed for exceeding its memory limit: raise resources.limits.memory for it in the chart values, or give Docker more memory"
		case t.ExitCode == 127:
			return "its command was not found in the image: check the image and the container's command/args"
		case t.ExitCode == 126:
			return "its command is not executable: check the image and the container's command/args"
		}
	}
	if init {
		return fmt.Sprintf("init container %s usually waits for a dependency (such as the database): check that dependency's pod and the log lines below", c.Name)
	}
	return "the log lines below show why it exits; fix the cause and run dagster-dev up again"
}

func unschedulableHint(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "insufficient cpu") || strings.Contains(m, "insufficient memory"):
		return "the kind node(s) lack the CPU or memory the pod requests: lower resources.requests in the chart values or give Docker more CPU/memory"
	case strings.Contains(m, "persistentvolumeclaim"):
		return "its PersistentVolumeClaim cannot be bound: check the claim's storageClassName (kind provides \"standard\") and size"
	case strings.Contains(m, "taint"):
		return "the nodes carry taints the pod does not tolerate: add tolerations in the chart values or remove the taint"
	case strings.Contains(m, "affinity") || strings.Contains(m, "selector"):
		return "no node matches the pod's nodeSelector/affinity: adjust them in the chart values"
	}
	return "the scheduler cannot place the pod; see its message and events"
}

// subPathHint explains a subPath failure on a hostPath volume: the path is
// on the node, and on kind the node sees the host only through the code
// mount made when the cluster was created.
func subPathHint(pod *corev1.Pod, volume string) string {
	for _, v := range pod.Spec.Volumes {
		if v.Name != volume || v.HostPath == nil {
			continue
		}
		return fmt.Sprintf("the node has no usable directory below %s (hostPath volume %q): a path code location must be below the directory the kind cluster mounts (cluster.codeRoot), and a cluster created from another directory's config mounts that one: run `dagster-dev down`, then `dagster-dev up`", v.HostPath.Path, volume)
	}
	return ""
}
