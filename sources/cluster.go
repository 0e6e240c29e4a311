package sources

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// FieldManager owns the fields dagster-dev writes to sources, workloads
// and the watch lease, for server-side apply and patches alike, so
// `kubectl get -o yaml --show-managed-fields` tells who set what.
const FieldManager = "dagster-dev"

// SourceAnnotation records on each object the file it is built from.
const SourceAnnotation = "dagster-dev.io/source"

// getLive reads an object's current content; nil when it does not exist.
func getLive(ctx context.Context, client kubernetes.Interface, namespace, kind, name string) (*Object, error) {
	switch kind {
	case config.KindConfigMap:
		cm, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		data := map[string]string{}
		for k, v := range cm.Data {
			data[k] = v
		}
		for k, v := range cm.BinaryData {
			data[k] = string(v)
		}
		return &Object{Kind: kind, Name: name, Data: data}, nil
	case config.KindSecret:
		s, err := client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		data := map[string]string{}
		for k, v := range s.Data {
			data[k] = string(v)
		}
		return &Object{Kind: kind, Name: name, Type: string(s.Type), Data: data}, nil
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}

// applyObject writes obj with server-side apply, forcing conflicts: the
// files are the source of truth for a watched object, whoever wrote it
// before. Apply removes keys this manager set earlier but not keys another
// manager owns (say, the object was first made with kubectl), so those are
// removed with a patch afterwards; the file must be all the object holds.
func applyObject(ctx context.Context, client kubernetes.Interface, namespace string, obj *Object, origin string) error {
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	annotations := map[string]string{SourceAnnotation: origin}
	labels := kube.ManagedByLabels()
	var live map[string]bool
	switch obj.Kind {
	case config.KindConfigMap:
		ac := applycorev1.ConfigMap(obj.Name, namespace).WithLabels(labels).WithAnnotations(annotations).WithData(obj.Data)
		got, err := client.CoreV1().ConfigMaps(namespace).Apply(ctx, ac, opts)
		if err != nil {
			return err
		}
		live = keysOf(got.Data)
		for k := range got.BinaryData {
			live[k] = true
		}
	case config.KindSecret:
		data := make(map[string][]byte, len(obj.Data))
		for k, v := range obj.Data {
			data[k] = []byte(v)
		}
		ac := applycorev1.Secret(obj.Name, namespace).WithLabels(labels).WithAnnotations(annotations).
			WithType(secretType(obj.Type)).WithData(data)
		got, err := client.CoreV1().Secrets(namespace).Apply(ctx, ac, opts)
		if err != nil {
			return err
		}
		live = map[string]bool{}
		for k := range got.Data {
			live[k] = true
		}
	default:
		return fmt.Errorf("unknown kind %q", obj.Kind)
	}
	extra := map[string]any{}
	for k := range live {
		if _, ok := obj.Data[k]; !ok {
			extra[k] = nil
		}
	}
	if len(extra) == 0 {
		return nil
	}
	patch := map[string]any{"data": extra}
	if obj.Kind == config.KindConfigMap {
		patch["binaryData"] = extra
	}
	body, _ := json.Marshal(patch)
	popts := metav1.PatchOptions{FieldManager: FieldManager}
	var err error
	if obj.Kind == config.KindConfigMap {
		_, err = client.CoreV1().ConfigMaps(namespace).Patch(ctx, obj.Name, types.MergePatchType, body, popts)
	} else {
		_, err = client.CoreV1().Secrets(namespace).Patch(ctx, obj.Name, types.MergePatchType, body, popts)
	}
	return err
}

func keysOf(m map[string]string) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func secretType(t string) corev1.SecretType {
	if t == "" {
		return corev1.SecretTypeOpaque
	}
	return corev1.SecretType(t)
}

// patchTemplate sets HashAnnotation on a workload's pod template.
func patchTemplate(ctx context.Context, client kubernetes.Interface, namespace string, w Workload, hash string) error {
	body := templatePatch(hash)
	opts := metav1.PatchOptions{FieldManager: FieldManager}
	var err error
	switch w.Kind {
	case "Deployment":
		_, err = client.AppsV1().Deployments(namespace).Patch(ctx, w.Name, types.MergePatchType, body, opts)
	case "StatefulSet":
		_, err = client.AppsV1().StatefulSets(namespace).Patch(ctx, w.Name, types.MergePatchType, body, opts)
	default:
		err = fmt.Errorf("unknown workload kind %q", w.Kind)
	}
	return err
}
