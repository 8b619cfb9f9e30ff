package schedule

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/scale"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

func TestDeployBaseMatchesManifests(t *testing.T) {
	want, err := Manifests("all", ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "3scale-ops.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("deploy/3scale-ops.yaml differs from `3scale-ops -n 3scale manifests all`; regenerate it: go run ./cmd/3scale-ops -n 3scale manifests all > deploy/3scale-ops.yaml")
	}
}

func docs(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, d := range strings.Split(string(b), "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("invalid YAML document: %v\n%s", err, d)
		}
		out = append(out, m)
	}
	return out
}

func TestManifestShapes(t *testing.T) {
	b, err := Manifests("cronjob", ManifestOptions{Namespace: "prod-3scale", BackupSchedule: "30 1 * * *"})
	if err != nil {
		t.Fatal(err)
	}
	cj := docs(t, b)[0]
	spec := cj["spec"].(map[string]any)
	if spec["concurrencyPolicy"] != "Forbid" || spec["schedule"] != "30 1 * * *" || spec["successfulJobsHistoryLimit"] == nil || spec["failedJobsHistoryLimit"] == nil {
		t.Errorf("cronjob spec = %v", spec)
	}
	job := spec["jobTemplate"].(map[string]any)["spec"].(map[string]any)
	if job["backoffLimit"] == nil {
		t.Error("no backoffLimit")
	}
	if !strings.Contains(string(b), "namespace: prod-3scale") || !strings.Contains(string(b), "name: 3scale-ops-repo") || !strings.Contains(string(b), "memory: 1Gi") {
		t.Errorf("cronjob lacks namespace, repo secret or resources:\n%s", b)
	}
	s, _ := Manifests("schedule", ManifestOptions{})
	if !strings.Contains(string(s), "- --backup") || !strings.Contains(string(s), "kind: Service") {
		t.Errorf("schedule manifest:\n%s", s)
	}
	a, _ := Manifests("all", ManifestOptions{})
	if strings.Contains(string(a), "- --backup") {
		t.Error("all: the daemon must not back up too (the CronJob does)")
	}
	if _, err := Manifests("helm", ManifestOptions{}); errs.Code(err) != errs.Usage {
		t.Errorf("unknown kind: %v", err)
	}
}

// applyRBAC creates the ServiceAccount, Role and RoleBinding of `manifests rbac` in ns.
func applyRBAC(t *testing.T, kc *kube.Clients, ns string) {
	t.Helper()
	b, err := Manifests("rbac", ManifestOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, d := range strings.Split(string(b), "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatal(err)
		}
		switch u.GetKind() {
		case "ServiceAccount":
			var o corev1.ServiceAccount
			_ = yaml.Unmarshal([]byte(d), &o)
			_, err = kc.Typed.CoreV1().ServiceAccounts(ns).Create(ctx, &o, metav1.CreateOptions{})
		case "Role":
			var o rbacv1.Role
			_ = yaml.Unmarshal([]byte(d), &o)
			_, err = kc.Typed.RbacV1().Roles(ns).Create(ctx, &o, metav1.CreateOptions{})
		case "RoleBinding":
			var o rbacv1.RoleBinding
			_ = yaml.Unmarshal([]byte(d), &o)
			_, err = kc.Typed.RbacV1().RoleBindings(ns).Create(ctx, &o, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatalf("create %s: %v", u.GetKind(), err)
		}
	}
	// The API server's RBAC authorizer follows new bindings a moment later.
	user := "system:serviceaccount:" + ns + ":" + Name
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r, err := kc.Typed.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authv1.SubjectAccessReview{Spec: authv1.SubjectAccessReviewSpec{
			User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
			ResourceAttributes: &authv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: "secrets"}}}, metav1.CreateOptions{})
		if err == nil && r.Status.Allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Role of %s is not in force after 30 s: %v", user, err)
		}
	}
}

func as(t *testing.T, user string, ns string) *kube.Clients {
	t.Helper()
	cfg := rest.CopyConfig(testenv.KubeConfig(t))
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	kc, err := kube.NewClients(cfg, ns)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

func TestToolWorksUnderItsRole(t *testing.T) {
	ns := testenv.Namespace(t)
	admin, err := kube.NewClients(testenv.KubeConfig(t), ns)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	applyRBAC(t, admin, ns)
	for _, name := range []string{"apicast-production", "system-app"} {
		r := int32(2)
		lbl := map[string]string{"deployment": name}
		_, err := admin.Typed.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{Replicas: &r, Selector: &metav1.LabelSelector{MatchLabels: lbl},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "img"}}}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = admin.Dynamic.Resource(kube.DeploymentConfigGVR).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig", "metadata": map[string]any{"name": "backend-worker"},
		"spec": map[string]any{"replicas": int64(1), "template": map[string]any{}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	sa := as(t, "system:serviceaccount:"+ns+":"+Name, ns)
	s := scale.New(sa, ns)
	if _, err := s.Status(ctx); err != nil {
		t.Fatalf("status under the role: %v", err)
	}
	if err := s.Scale(ctx, map[string]int32{"apicast-production": 3, "backend-worker": 2}); err != nil {
		t.Fatalf("scale under the role: %v", err)
	}
	rec, err := s.DownAll(ctx)
	if err != nil || rec["apicast-production"] != 3 || rec["backend-worker"] != 2 {
		t.Fatalf("down-all under the role: %v, %v", rec, err)
	}
	if _, err := s.Resume(ctx); err != nil {
		t.Fatalf("resume under the role: %v", err)
	}
	if _, err := sa.RestartWorkload(ctx, ns, kube.KindDeploymentConfig, "backend-worker", time.Now()); err != nil {
		t.Fatalf("rollout under the role: %v", err)
	}
	// Least privilege: what the tool never does stays forbidden.
	for _, ra := range []authv1.ResourceAttributes{
		{Verb: "delete", Group: "apps", Resource: "deployments"},
		{Verb: "create", Group: "apps", Resource: "deployments"},
		{Verb: "watch", Resource: "secrets"},
		{Verb: "delete", Resource: "pods"},
		{Verb: "delete", Group: "route.openshift.io", Resource: "routes"},
	} {
		ra.Namespace = ns
		r, err := sa.Typed.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &ra}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed {
			t.Errorf("the role allows %s %s.%s", ra.Verb, ra.Resource, ra.Group)
		}
	}

	// Without the role: a clear error naming the object and the fix.
	other := scale.New(as(t, "system:serviceaccount:"+ns+":nobody", ns), ns)
	_, err = other.Status(ctx)
	if err == nil || !strings.Contains(err.Error(), "forbidden") || !strings.Contains(errs.Hint(err), "manifests rbac") {
		t.Fatalf("without the role: err = %v (hint %q)", err, errs.Hint(err))
	}
}
