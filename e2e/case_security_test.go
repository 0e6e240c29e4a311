package e2e

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestContainerHardening(t *testing.T) {
	yes, no := true, false
	uid, root := int64(1001), int64(0)
	hardened := func() *corev1.SecurityContext {
		return &corev1.SecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, AllowPrivilegeEscalation: &no,
			ReadOnlyRootFilesystem: &yes, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	}
	if got := containerHardening(nil, hardened()); len(got) != 0 {
		t.Errorf("hardened container: %v", got)
	}
	// Pod-level user and seccomp profile count for the container.
	c := hardened()
	c.RunAsUser, c.SeccompProfile, c.RunAsNonRoot = nil, nil, nil
	pod := &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	if got := containerHardening(pod, c); len(got) != 0 {
		t.Errorf("pod-level settings: %v", got)
	}
	for name, mutate := range map[string]func(*corev1.SecurityContext){
		"runAsNonRoot":       func(c *corev1.SecurityContext) { c.RunAsNonRoot = &no },
		"non-root user":      func(c *corev1.SecurityContext) { c.RunAsUser = &root },
		"escalation":         func(c *corev1.SecurityContext) { c.AllowPrivilegeEscalation = nil },
		"capabilities":       func(c *corev1.SecurityContext) { c.Capabilities.Add = []corev1.Capability{"NET_RAW"} },
		"root filesystem":    func(c *corev1.SecurityContext) { c.ReadOnlyRootFilesystem = &no },
		"seccomp":            func(c *corev1.SecurityContext) { c.SeccompProfile = nil },
		"no securityContext": nil,
	} {
		c := hardened()
		if mutate != nil {
			mutate(c)
		} else {
			c = nil
		}
		if got := containerHardening(nil, c); len(got) == 0 {
			t.Errorf("%s: not reported", name)
		} else if mutate != nil && len(got) != 1 {
			t.Errorf("%s: %s", name, strings.Join(got, "; "))
		}
	}
}
