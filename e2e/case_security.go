package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// caseSecurity checks, on the live release, what the chart's hardening promises: every container
// of the release's pods and of the run case's run and step pods runs as a non-root user without
// privilege escalation or capabilities, with the runtime's seccomp profile and a read-only root
// filesystem; and the run and step pods' ServiceAccount may not create Jobs or pods or read
// Secrets, while the one that launches runs may create Jobs (so the check can fail). The
// authorisation questions go to the API server as SubjectAccessReviews.
func (s *suite) caseSecurity(ctx context.Context, t *T) error {
	ns, err := s.kube.client.CoreV1().Namespaces().Get(ctx, s.kube.namespace, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if level := ns.Labels["pod-security.kubernetes.io/enforce"]; level != "" {
		t.Logf("namespace %s enforces the %s Pod Security Standard", ns.Name, level)
	} else {
		t.Logf("namespace %s enforces no Pod Security Standard (not created by dagster-dev); checking the pods themselves", ns.Name)
	}

	pods, err := kube.ListPods(ctx, s.kube.client, s.kube.namespace, kube.ReleaseSelector(s.kube.release))
	if err != nil {
		return err
	}
	var runPods []corev1.Pod
	if s.runID != "" {
		if runPods, err = s.kube.podsOfRun(ctx, s.runID); err != nil {
			return err
		}
	}
	if len(runPods) == 0 {
		return fmt.Errorf("no run or step pods of run %q to check (the run case keeps its Jobs)", s.runID)
	}
	var problems []string
	checked := 0
	for _, p := range append(pods, runPods...) {
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			checked++
			for _, problem := range containerHardening(p.Spec.SecurityContext, c.SecurityContext) {
				problems = append(problems, fmt.Sprintf("pod %s container %s: %s", p.Name, c.Name, problem))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d containers not hardened:\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	t.Logf("%d containers of %d pods (%d of run %s) hardened", checked, len(pods)+len(runPods), len(runPods), s.runID)

	// Dagster labels its pods by role: run_worker (the run) and step_worker (a step).
	runSA, stepSA := "", ""
	for _, p := range runPods {
		sa := p.Spec.ServiceAccountName
		switch p.Labels[kube.LabelComponent] {
		case "run_worker":
			runSA = sa
		case "step_worker":
			stepSA = sa
		}
	}
	if runSA == "" || stepSA == "" {
		return fmt.Errorf("run %s: no run_worker or no step_worker pod among %d", s.runID, len(runPods))
	}
	celery, err := s.celery()
	if err != nil {
		return err
	}
	// The launcher: the workers create step Jobs with Celery; the daemon creates run Jobs in both.
	launchers, err := s.kube.componentPods(ctx, "daemon")
	if err != nil {
		return err
	}
	if len(launchers) == 0 {
		return errors.New("no daemon pod to compare the run pods' identity with")
	}
	launcherSA := launchers[0].Spec.ServiceAccountName
	if runSA == launcherSA || stepSA == launcherSA {
		return fmt.Errorf("run/step pods run as %s/%s, the ServiceAccount that launches runs", runSA, stepSA)
	}
	type question struct {
		sa            string
		group, res    string
		verb          string
		allowedWanted bool
	}
	questions := []question{
		{launcherSA, "batch", "jobs", "create", true},
		{stepSA, "batch", "jobs", "create", false},
		{stepSA, "", "pods", "create", false},
		{stepSA, "", "secrets", "get", false},
		{stepSA, "batch", "jobs", "delete", false},
		{runSA, "", "pods", "create", false},
		{runSA, "", "secrets", "get", false},
	}
	if celery {
		// The workers start the steps: the run pod needs no API rights at all.
		questions = append(questions, question{runSA, "batch", "jobs", "create", false})
	} else {
		// k8s_job_executor: the run pod starts its steps, under another ServiceAccount than theirs.
		if runSA == stepSA {
			return fmt.Errorf("run and step pods share ServiceAccount %s, which may create Jobs", runSA)
		}
		questions = append(questions, question{runSA, "batch", "jobs", "create", true})
	}
	for _, q := range questions {
		allowed, err := s.kube.canI(ctx, q.sa, q.verb, q.group, q.res)
		if err != nil {
			return err
		}
		t.Logf("ServiceAccount %s %s %s: allowed=%v", q.sa, q.verb, q.res, allowed)
		if allowed != q.allowedWanted {
			return fmt.Errorf("ServiceAccount %s may %s %s: %v, want %v", q.sa, q.verb, q.res, allowed, q.allowedWanted)
		}
	}
	return nil
}

// containerHardening lists what a container lacks of the hardened settings (restricted Pod
// Security Standard plus a read-only root filesystem), given its pod's settings.
func containerHardening(pod *corev1.PodSecurityContext, c *corev1.SecurityContext) []string {
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	if c == nil {
		c = &corev1.SecurityContext{}
	}
	var out []string
	nonRoot := c.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = pod.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		out = append(out, "runAsNonRoot not true")
	}
	uid := c.RunAsUser
	if uid == nil {
		uid = pod.RunAsUser
	}
	if uid == nil || *uid == 0 {
		out = append(out, "no fixed non-root user")
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		out = append(out, "privilege escalation allowed")
	}
	if c.Capabilities == nil || len(c.Capabilities.Drop) != 1 || c.Capabilities.Drop[0] != "ALL" || len(c.Capabilities.Add) > 0 {
		out = append(out, "capabilities not dropped")
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		out = append(out, "writable root filesystem")
	}
	profile := c.SeccompProfile
	if profile == nil {
		profile = pod.SeccompProfile
	}
	if profile == nil || profile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		out = append(out, "no RuntimeDefault seccomp profile")
	}
	return out
}

// canI asks the API server whether a ServiceAccount of the namespace may do verb on resource.
func (k *kubeClient) canI(ctx context.Context, serviceAccount, verb, group, resource string) (bool, error) {
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   fmt.Sprintf("system:serviceaccount:%s:%s", k.namespace, serviceAccount),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + k.namespace, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: k.namespace, Verb: verb, Group: group, Resource: resource,
		},
	}}
	out, err := k.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("SubjectAccessReview for %s: %w", serviceAccount, err)
	}
	return out.Status.Allowed, nil
}
