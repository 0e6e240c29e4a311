package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/util/validation"
)

// dnsLabel reports whether name is an RFC 1123 label (what Kubernetes
// accepts for namespaces, and kind for cluster names, which become
// container and host names) of at most max characters.
func dnsLabel(name string, max int) bool {
	return len(validation.IsDNS1123Label(name)) == 0 && len(name) <= max
}

// dnsSubdomain reports whether name is an RFC 1123 subdomain: what
// Kubernetes accepts for ConfigMap and Secret names.
func dnsSubdomain(name string) bool { return len(validation.IsDNS1123Subdomain(name)) == 0 }

func validate(c *Config, file string, lines map[string]int) Errors {
	var errs Errors
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{File: file, Line: lineOf(lines, key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}

	if !dnsLabel(c.Cluster.Name, 50) {
		bad("cluster.name", "%q is not a valid cluster name: use lowercase letters, digits and '-', at most 50 characters", c.Cluster.Name)
	}
	if c.Cluster.Nodes < 1 || c.Cluster.Nodes > 10 {
		bad("cluster.nodes", "must be between 1 and 10 (got %d)", c.Cluster.Nodes)
	}
	if c.ExistingCluster() {
		if c.Cluster.NodeImage != "" {
			bad("cluster.nodeImage", "has no effect with cluster.context (an existing cluster); remove one of them")
		}
		if _, set := lines["cluster.nodes"]; set {
			bad("cluster.nodes", "has no effect with cluster.context (an existing cluster); remove one of them")
		}
	}
	if c.Dagit.HostPort < 1 || c.Dagit.HostPort > 65535 {
		bad("dagit.hostPort", "must be a TCP port between 1 and 65535 (got %d)", c.Dagit.HostPort)
	}
	if c.Dagit.NodePort < 30000 || c.Dagit.NodePort > 32767 {
		bad("dagit.nodePort", "must be in Kubernetes' NodePort range 30000-32767 (got %d)", c.Dagit.NodePort)
	}
	if !dnsLabel(c.Namespace, validation.DNS1123LabelMaxLength) {
		bad("namespace", "%q is not a valid namespace: use lowercase letters, digits and '-', at most 63 characters", c.Namespace)
	}
	// Helm limits release names to 53 characters.
	if !dnsLabel(c.Release, 53) {
		bad("release", "%q is not a valid Helm release name: use lowercase letters, digits and '-', at most 53 characters", c.Release)
	}
	switch c.RunLauncher {
	case "", RunLauncherCelery, RunLauncherK8s:
	default:
		bad("runLauncher", "%q is not a run launcher: use %s (Celery workers and RabbitMQ, the default) or %s (a Job per run and per step, no broker)", c.RunLauncher, RunLauncherCelery, RunLauncherK8s)
	}
	if c.Timeout.Duration <= 0 {
		bad("timeout", "must be positive (got %s)", c.Timeout.Duration)
	}
	for i, img := range c.Images {
		key := fmt.Sprintf("images[%d]", i)
		if strings.TrimSpace(img) == "" {
			bad(key, "is empty")
			continue
		}
		if err := pinnedImage(img); err != nil {
			bad(key, "%q %v", img, err)
		}
	}
	for i, f := range c.ValuesFiles {
		if strings.TrimSpace(f) == "" {
			bad(fmt.Sprintf("valuesFiles[%d]", i), "is empty")
		}
	}
	if c.Watch.Debounce.Duration < 0 {
		bad("watch.debounce", "must not be negative")
	}
	seen := map[string]string{}
	for i, s := range c.Watch.Sources {
		key := fmt.Sprintf("watch.sources[%d]", i)
		if !dnsSubdomain(s.Name) {
			bad(key+".name", "%q is not a valid object name: use lowercase letters, digits, '-' and '.'", s.Name)
		}
		if s.Kind != KindConfigMap && s.Kind != KindSecret {
			bad(key+".kind", "must be %s or %s (got %q)", KindConfigMap, KindSecret, s.Kind)
		}
		id := s.Kind + "/" + s.Name
		if prev, dup := seen[id]; dup {
			bad(key+".name", "%s is declared twice (also at %s)", id, prev)
		}
		seen[id] = key
		if s.Path == "" {
			bad(key+".path", "is required: the file or directory the %s is built from", s.Kind)
		}
		switch s.Format {
		case FormatAuto, FormatDotenv, FormatYAML, FormatDir, FormatManifest:
		default:
			bad(key+".format", "must be one of auto, dotenv, yaml, dir, manifest (got %q)", s.Format)
		}
		if len(s.Attach) == 0 {
			bad(key+".attach", "must list at least one of %s, %s", TargetDagit, TargetJobRunner)
		}
		for j, a := range s.Attach {
			if a != TargetDagit && a != TargetJobRunner {
				bad(fmt.Sprintf("%s.attach[%d]", key, j), "must be %s or %s (got %q)", TargetDagit, TargetJobRunner, a)
			}
		}
	}
	validateCodeLocations(c, bad)
	return errs
}

// lineOf finds the line of key, or of its closest parent that has one.
func lineOf(lines map[string]int, key string) int {
	for k := key; k != ""; {
		if n, ok := lines[k]; ok {
			return n
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

var errUnpinned = errors.New("needs an explicit tag other than latest: Kubernetes always pulls :latest images, which ignores the side-loaded copy")

// pinnedImage checks ref is an image reference (Docker's own grammar, with
// its short forms: "app:1" is docker.io/library/app:1) that names a tag
// other than latest, or a digest. An untagged or :latest image gets
// imagePullPolicy Always, which makes the kubelet ignore the side-loaded
// copy.
func pinnedImage(ref string) error {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return fmt.Errorf("is not an image reference: %w", err)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil
	}
	if t, ok := named.(reference.Tagged); ok && t.Tag() != "latest" {
		return nil
	}
	return errUnpinned
}
