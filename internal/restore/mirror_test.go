package restore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// The journal mirror is a ConfigMap written with the generated Role's
// verbs alone; a namespace an older version annotated is still read (when
// the caller may read Namespaces), and the ConfigMap wins over it.
func TestJournalMirror(t *testing.T) {
	ctx := context.Background()
	ns := testenv.Namespace(t)
	admin, err := kube.NewClients(testenv.KubeConfig(t), ns)
	if err != nil {
		t.Fatal(err)
	}
	// An older version's annotation.
	legacy := `{"metadata":{"annotations":{"` + JournalAnnotation + `":"snapshot=20261123T020000Z-a1b2c3 step=system-mysql=failed finished=false updated=2026-11-23T02:10:00Z"}}}`
	if _, err := admin.Typed.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, []byte(legacy), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	m, ok, err := ReadMirror(ctx, admin, ns)
	if err != nil || !ok || m.Snapshot != "20261123T020000Z-a1b2c3" || m.Step != "system-mysql=failed" || m.Finished || m.Source != "namespace annotation "+JournalAnnotation {
		t.Fatalf("legacy annotation: %+v %t %v", m, ok, err)
	}

	// A namespaced Role with the configmaps rule only, as generated.
	sa := "mirror"
	if _, err := admin.Typed.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "create", "update", "delete"}}}
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
	// The API server's RBAC cache learns the binding shortly after it is made.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := kc.Typed.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the Role never took effect: %v", err)
		}
	}
	if _, ok, err := ReadMirror(ctx, kc, ns); ok || err != nil {
		t.Fatalf("the Role cannot read the Namespace: want nothing known, got %t %v", ok, err)
	}
	now := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	j := &Journal{Snapshot: "20261124T020000Z-d4e5f6", Namespace: ns, Started: now, Updated: now,
		Steps: []StepState{{Name: StepPreflight, Status: Done}, {Name: StepQuiesce, Status: Running}, {Name: StepSystemMySQL, Status: Pending}}}
	for range 2 { // create, then update
		if err := MirrorJournal(ctx, kc, j); err != nil {
			t.Fatalf("mirror under the Role: %v", err)
		}
		j.Steps[1].Status = Done
	}
	m, ok, err = ReadMirror(ctx, admin, ns)
	if err != nil || !ok || m.Snapshot != j.Snapshot || m.Step != "quiesce=done" || m.Source != "ConfigMap "+JournalConfigMap {
		t.Fatalf("mirror: %+v %t %v", m, ok, err)
	}
	cm, err := admin.Typed.CoreV1().ConfigMaps(ns).Get(ctx, JournalConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["steps"] != "preflight=done quiesce=done system-mysql=pending" || cm.Data["journal"] != "restores/"+j.Name()+".json" ||
		cm.Labels["app.kubernetes.io/managed-by"] != "3scale-ops" || cm.Labels["app"] != "" || cm.Labels["threescale_component"] != "" {
		t.Errorf("mirror ConfigMap: labels %v data %v", cm.Labels, cm.Data)
	}
	if hint := mirrorHint(ctx, admin, ns, "20261125T020000Z-000000"); hint == "" || !strings.Contains(hint, "restore 20261124T020000Z-d4e5f6 --resume") {
		t.Errorf("hint for another snapshot: %q", hint)
	}
}
