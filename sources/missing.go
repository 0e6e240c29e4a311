package sources

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/config"
)

// Reader is a pod template about to be deployed, as far as the
// ConfigMaps and Secrets it reads go.
type Reader struct {
	ID   string // "Deployment/name"
	Spec *corev1.PodSpec
}

// MissingRef is one ConfigMap or Secret that readers require and that
// does not exist.
type MissingRef struct {
	Ref    string   // "Secret/name"
	ReadBy []string // reader IDs, sorted
}

// MissingRefsError says pods about to be deployed require ConfigMaps or
// Secrets that neither the same apply nor the namespace has. The kubelet
// would find out only when it creates their containers, after the init
// containers ran, and leave them in CreateContainerConfigError.
type MissingRefsError struct {
	Namespace string
	Missing   []MissingRef
}

func (e *MissingRefsError) Error() string {
	parts := make([]string, len(e.Missing))
	for i, m := range e.Missing {
		kind, name, _ := strings.Cut(m.Ref, "/")
		parts[i] = fmt.Sprintf("%s %q (read by %s)", kind, name, strings.Join(m.ReadBy, ", "))
	}
	verb := "does"
	if len(parts) > 1 {
		verb = "do"
	}
	return fmt.Sprintf("%s %s not exist in namespace %s", strings.Join(parts, ", "), verb, e.Namespace)
}

// Fix names the three ways out, with the first missing object's command.
func (e *MissingRefsError) Fix() string {
	kind, name, _ := strings.Cut(e.Missing[0].Ref, "/")
	create := fmt.Sprintf("kubectl --namespace %s create configmap %s --from-env-file=FILE", e.Namespace, name)
	if kind == config.KindSecret {
		create = fmt.Sprintf("kubectl --namespace %s create secret generic %s --from-env-file=FILE", e.Namespace, name)
	}
	return fmt.Sprintf("create it (`%s`), or declare it under watch.sources in %s so dagster-dev creates it from your file, or remove it from the chart values (env_config_maps / env_secrets); then try again", create, config.DefaultFile)
}

// CheckRefs returns a *MissingRefsError when a reader requires (not
// optionally) a ConfigMap or Secret that is neither in provided ("Kind/name"
// objects the same apply creates) nor in the namespace. Only the object's
// existence is checked, never its content.
func CheckRefs(ctx context.Context, client kubernetes.Interface, namespace string, readers []Reader, provided map[string]bool) error {
	readBy := map[string][]string{}
	for _, r := range readers {
		for ref := range RequiredRefs(r.Spec) {
			if !provided[ref] {
				readBy[ref] = append(readBy[ref], r.ID)
			}
		}
	}
	refs := make([]string, 0, len(readBy))
	for ref := range readBy {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	var missing []MissingRef
	for _, ref := range refs {
		kind, name, _ := strings.Cut(ref, "/")
		live, err := getLive(ctx, client, namespace, kind, name)
		switch {
		case err != nil:
			return fmt.Errorf("reading %s %s: %w", kind, name, err)
		case live == nil:
			by := readBy[ref]
			sort.Strings(by)
			missing = append(missing, MissingRef{Ref: ref, ReadBy: by})
		}
	}
	if len(missing) > 0 {
		return &MissingRefsError{Namespace: namespace, Missing: missing}
	}
	return nil
}
