package scale

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// This file simulates, for tests only, what the cluster's controllers would
// do: the 3scale operator copying APIManager replicas into its Deployments,
// and the deployment controllers bringing status in line with spec. No
// kubelet or controller runs in the test environment.

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

// reconcile is one pass of the simulated operator and deployment controllers.
func reconcile(ctx context.Context, kc *kube.Clients, ns string) error {
	apim, err := kc.GetAPIManager(ctx, ns)
	if err != nil {
		return err
	}
	for _, gvr := range []struct {
		kind string
	}{{kube.KindDeployment}, {kube.KindDeploymentConfig}} {
		res := kube.DeploymentGVR
		if gvr.kind == kube.KindDeploymentConfig {
			res = kube.DeploymentConfigGVR
		}
		rc := kc.Dynamic.Resource(res).Namespace(ns)
		l, err := rc.List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for i := range l.Items {
			u := &l.Items[i]
			if c, ok := Lookup(u.GetName()); ok && apim != nil && c.CRPath != nil {
				if n, found, _ := unstructured.NestedInt64(apim.Object, append(append([]string{}, c.CRPath...), "replicas")...); found {
					if cur, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas"); cur != n {
						_ = unstructured.SetNestedField(u.Object, n, "spec", "replicas")
						if u, err = rc.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
							return err
						}
					}
				}
			}
			n, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
			st, _, _ := unstructured.NestedMap(u.Object, "status")
			if st == nil {
				st = map[string]any{}
			}
			og, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
			if og < u.GetGeneration() && gvr.kind == kube.KindDeploymentConfig {
				lv, _, _ := unstructured.NestedInt64(u.Object, "status", "latestVersion")
				st["latestVersion"] = lv + 1
			}
			st["observedGeneration"] = u.GetGeneration()
			for _, k := range []string{"replicas", "readyReplicas", "availableReplicas", "updatedReplicas"} {
				st[k] = n
			}
			u.Object["status"] = st
			if _, err := rc.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// runControllers reconciles every 50ms until the test ends, starting after delay.
func runControllers(t *testing.T, kc *kube.Clients, ns string, delay time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		for ctx.Err() == nil {
			_ = reconcile(ctx, kc, ns) // conflicts retry on the next pass
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
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
