package dagitconn

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/dagster-dev/dagster-dev/internal/kube"
)

func dagitPod(name string, created time.Time) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "dagster", UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(created),
			Labels: map[string]string{kube.LabelInstance: "dagster", kube.LabelComponent: kube.ComponentDagit}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "dagit",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 3000}, {Name: "metrics", ContainerPort: 9000}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func dagitService(target intstr.IntOrString) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "dagster-dagit", Namespace: "dagster", Labels: map[string]string{kube.LabelInstance: "dagster", kube.LabelComponent: kube.ComponentDagit}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: target}}},
	}
}

func TestTargetIsTheNewestReadyPodAndTheServicesPort(t *testing.T) {
	now := time.Now()
	old, cur := dagitPod("dagster-dagit-old", now.Add(-time.Hour)), dagitPod("dagster-dagit-new", now)
	rel := Release{Client: fake.NewClientset(old, cur, dagitService(intstr.FromString("http"))), Namespace: "dagster", Name: "dagster"}
	pod, port, err := rel.Target(context.Background())
	if err != nil || pod.Name != "dagster-dagit-new" || port != 3000 {
		t.Errorf("named targetPort: pod %v, port %d, %v", pod, port, err)
	}

	rel.Client = fake.NewClientset(cur, dagitService(intstr.FromInt32(8080)))
	if port, err := rel.Port(context.Background(), cur); err != nil || port != 8080 {
		t.Errorf("numeric targetPort: %d, %v", port, err)
	}
	rel.Client = fake.NewClientset(cur, dagitService(intstr.FromString("web")))
	if _, err := rel.Port(context.Background(), cur); err == nil {
		t.Error("a targetPort name the pod lacks resolved to a port")
	}
	rel.Client = fake.NewClientset()
	var np *NoPodError
	if _, _, err := rel.Target(context.Background()); !errors.As(err, &np) {
		t.Errorf("no pod: %v", err)
	}
}
