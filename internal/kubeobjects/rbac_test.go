package kubeobjects_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kubeobjects"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/schedule"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// grant binds a service account of ns to a Role with rules and returns
// clients acting as it.
func grant(t *testing.T, admin *kube.Clients, ns, sa string, rules []rbacv1.PolicyRule) *kube.Clients {
	t.Helper()
	ctx := context.Background()
	if _, err := admin.Typed.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Typed.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: sa}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Typed.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: sa},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: sa},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(testenv.KubeConfig(t))
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + sa}
	kc, err := kube.NewClients(cfg, ns)
	if err != nil {
		t.Fatal(err)
	}
	// The API server's RBAC authorizer learns of new Roles and bindings
	// through its informers, a moment after they are created: wait until
	// the service account holds the first rule.
	if len(rules) > 0 && len(rules[0].Verbs) > 0 && len(rules[0].Resources) > 0 && len(rules[0].APIGroups) > 0 {
		r := rules[0]
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: r.Verbs[0], Group: r.APIGroups[0], Resource: r.Resources[0]}}}
		deadline := time.Now().Add(30 * time.Second)
		for {
			res, err := kc.Typed.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err == nil && res.Status.Allowed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Role of %s in %s is not in force after 30 s: %v", sa, ns, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return kc
}

// without returns the generated Role's rules minus one resource.
func without(resource string) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range schedule.Rules() {
		r.Resources = slices.DeleteFunc(slices.Clone(r.Resources), func(s string) bool { return s == resource })
		if len(r.Resources) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// The nightly backup runs under the generated Role: every kind the
// operator serves (Applications and ApplicationAuths too) is readable.
func TestBackupUnderGeneratedRole(t *testing.T) {
	ns := testenv.Namespace(t)
	admin := clients(t, ns)
	fixture(t, admin, ns)
	sa := grant(t, admin, ns, schedule.Name, schedule.Rules())
	runs := backupAll(t, sa, ns, slog.New(slog.DiscardHandler))
	objs := strings.Join(runs["apimanager"].meta.Objects, " ")
	for _, want := range []string{"Tenant/acme", "Application/acme-app", "ApplicationAuth/acme-app-auth"} {
		if !strings.Contains(objs, want) {
			t.Errorf("backup under the Role lacks %s: %s", want, objs)
		}
	}
	if f := runs["apimanager"].meta.Forbidden; len(f) != 0 {
		t.Errorf("the generated Role leaves kinds unreadable: %v", f)
	}
	// And the restore runs under it too, into a namespace with the same Role.
	dst := testenv.Namespace(t)
	sd := grant(t, clients(t, dst), dst, schedule.Name, schedule.Rules())
	for _, name := range kubeobjects.Components {
		e, _ := kubeobjects.New(sd, dst, name, kubeobjects.Options{Logger: slog.New(slog.DiscardHandler)})
		if err := e.Preflight(context.Background(), runs[name].mem); err != nil {
			t.Fatalf("preflight %s under the Role: %v", name, err)
		}
		if _, err := e.Restore(context.Background(), runs[name].mem, nil); err != nil {
			t.Fatalf("restore %s under the Role: %v", name, err)
		}
	}
}

// A Forbidden read of an optional kind is a warning naming the kind and the
// missing rule, recorded in the snapshot; the backup goes on.
func TestForbiddenOptionalKindIsAWarning(t *testing.T) {
	ns := testenv.Namespace(t)
	admin := clients(t, ns)
	fixture(t, admin, ns)
	sa := grant(t, admin, ns, "partial", without("applications"))
	var logs bytes.Buffer
	e, _ := kubeobjects.New(sa, ns, kubeobjects.APIManager, kubeobjects.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	mem := artifact.NewMemory()
	if err := e.Backup(context.Background(), mem, progress.NewTask("apimanager")); err != nil {
		t.Fatalf("backup with an unreadable optional kind failed: %v", err)
	}
	var meta kubeobjects.Meta
	if err := mem.Get(kubeobjects.MetaKey, &meta); err != nil {
		t.Fatal(err)
	}
	if want := "Application (needs list applications.capabilities.3scale.net)"; !slices.Equal(meta.Forbidden, []string{want}) {
		t.Errorf("forbidden = %v, want [%s]", meta.Forbidden, want)
	}
	if objs := strings.Join(meta.Objects, " "); strings.Contains(objs, "Application/") || !strings.Contains(objs, "ApplicationAuth/acme-app-auth") {
		t.Errorf("objects = %s", objs)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "missing_rule=\"list applications.capabilities.3scale.net\"") {
		t.Errorf("no warning naming the rule: %s", logs.String())
	}
}

// A Forbidden read of a required kind fails, naming the rule to grant.
func TestForbiddenRequiredKindFails(t *testing.T) {
	ns := testenv.Namespace(t)
	admin := clients(t, ns)
	fixture(t, admin, ns)
	for _, c := range []struct{ resource, component, rule string }{
		{"secrets", kubeobjects.Secrets, "secrets"},
		{"configmaps", kubeobjects.ConfigMaps, "configmaps"},
		{"apimanagers", kubeobjects.APIManager, "list apimanagers.apps.3scale.net"},
	} {
		sa := grant(t, admin, ns, "no-"+c.resource, without(c.resource))
		e, _ := kubeobjects.New(sa, ns, c.component, kubeobjects.Options{Logger: slog.New(slog.DiscardHandler)})
		err := e.Backup(context.Background(), artifact.NewMemory(), nil)
		if err == nil || errs.Code(err) != errs.Failure || !strings.Contains(err.Error()+errs.Hint(err), c.rule) {
			t.Errorf("%s unreadable: err = %v (hint %q)", c.resource, err, errs.Hint(err))
		}
	}
}

// Without the operator's annotation, the version comes from the system-app image tag.
func TestVersionFromSystemAppImage(t *testing.T) {
	ns := testenv.Namespace(t)
	kc := clients(t, ns)
	r := int32(1)
	lbl := map[string]string{"deployment": "system-app"}
	if _, err := kc.Typed.AppsV1().Deployments(ns).Create(context.Background(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "system-app"},
		Spec: appsv1.DeploymentSpec{Replicas: &r, Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl}, Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "system-master", Image: "registry.redhat.io/3scale-amp2/system-rhel8:3scale2.14"}}}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	runs := backupAll(t, kc, ns, slog.New(slog.DiscardHandler))
	if m := runs["apimanager"].meta; m.Version != "2.14" || !strings.Contains(m.VersionSource, "system-app image") {
		t.Errorf("version = %q from %q, want 2.14 from the system-app image", m.Version, m.VersionSource)
	}
}

// Without the operator's annotation, the version comes from the
// system-environment ConfigMap's AMP_RELEASE (written by the operator and
// the templates), before any image tag.
func TestVersionFromSystemEnvironment(t *testing.T) {
	ns := testenv.Namespace(t)
	kc := clients(t, ns)
	ctx := context.Background()
	if _, err := kc.Typed.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "system-environment"},
		Data: map[string]string{"AMP_RELEASE": "2.14", "RAILS_ENV": "production"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := int32(1)
	lbl := map[string]string{"deployment": "system-app"}
	if _, err := kc.Typed.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "system-app"},
		Spec: appsv1.DeploymentSpec{Replicas: &r, Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl}, Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "system-master", Image: "quay.io/3scale/porta:2.13"}}}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	v, src := kubeobjects.InstallVersion(ctx, kc, ns)
	if v != "2.14" || !strings.Contains(src, "system-environment") || !strings.Contains(src, "AMP_RELEASE") {
		t.Errorf("version = %q from %q, want 2.14 from ConfigMap system-environment AMP_RELEASE", v, src)
	}
}
