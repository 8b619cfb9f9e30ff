package scale

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kube/kubetest/controller"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// No kubelet or controller runs in the test environment: the tests run
// the module's simulator of them (internal/kube/kubetest/controller): the
// 3scale operator copying APIManager replicas into its Deployments, and
// the deployment controllers bringing status in line with spec.

func newScaler(t *testing.T) (*Scaler, *kube.Clients, string) {
	t.Helper()
	ns := testenv.Namespace(t)
	kc, err := kube.NewClients(testenv.KubeConfig(t), ns)
	if err != nil {
		t.Fatal(err)
	}
	s := New(kc, ns)
	s.Poll = 50 * time.Millisecond
	s.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	return s, kc, ns
}

func mkDeployment(t *testing.T, kc *kube.Clients, ns, name string, replicas int32, apim string) {
	t.Helper()
	labels := map[string]string{"deployment": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "3scale-api-management"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "registry.example/3scale/" + name}}},
			},
		},
	}
	if apim != "" {
		d.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps.3scale.net/v1alpha1", Kind: "APIManager", Name: apim, UID: "0c5a2cd6-1111-2222-3333-444455556666"}}
	}
	if _, err := kc.Typed.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s: %v", name, err)
	}
}

func mkDC(t *testing.T, kc *kube.Clients, ns, name string, replicas int64) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"replicas": replicas,
			"selector": map[string]any{"deploymentConfig": name},
			"triggers": []any{map[string]any{"type": "ConfigChange"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"deploymentConfig": name}},
				"spec":     map[string]any{"containers": []any{map[string]any{"name": name, "image": "registry.example/3scale/" + name}}},
			},
		},
	}}
	if _, err := kc.Dynamic.Resource(kube.DeploymentConfigGVR).Namespace(ns).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deploymentconfig %s: %v", name, err)
	}
}

func mkAPIManager(t *testing.T, kc *kube.Clients, ns string, spec map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.3scale.net/v1alpha1", "kind": "APIManager",
		"metadata": map[string]any{"name": "apimanager"},
		"spec":     spec,
	}}
	if _, err := kc.Dynamic.Resource(kube.APIManagerGVR).Namespace(ns).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create apimanager: %v", err)
	}
}

// simulator is the test simulator of the operator and the deployment
// controllers (package controller), with this package's CR paths.
func simulator(delay time.Duration) controller.Options {
	return controller.Options{Delay: delay, CRPaths: CRPaths()}
}

// reconcile is one pass of the simulated operator and deployment controllers.
func reconcile(ctx context.Context, kc *kube.Clients, ns string) error {
	return controller.New(kc, ns, simulator(0)).Reconcile(ctx)
}

// runControllers reconciles every 50ms until the test ends, starting after delay.
func runControllers(t *testing.T, kc *kube.Clients, ns string, delay time.Duration) {
	controller.Run(t, kc, ns, simulator(delay))
}

func specReplicas(t *testing.T, kc *kube.Clients, ns, kind, name string) int32 {
	t.Helper()
	w, err := kc.GetWorkloadKind(context.Background(), ns, kind, name)
	if err != nil {
		t.Fatal(err)
	}
	return w.Desired
}

func crReplicas(t *testing.T, kc *kube.Clients, ns string, path ...string) (int64, bool) {
	t.Helper()
	apim, err := kc.GetAPIManager(context.Background(), ns)
	if err != nil || apim == nil {
		t.Fatalf("get apimanager: %v", err)
	}
	n, found, _ := unstructured.NestedInt64(apim.Object, append(path, "replicas")...)
	return n, found
}
