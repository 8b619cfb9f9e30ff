package kube_test

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kube/kubetest"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The exec endpoint authorises each exec as the API server would, for the
// caller's identity: with no pods/exec rule the exec is refused with the
// API server's message and the tool's hint; with create only, the
// WebSocket upgrade (get and create) is refused and the SPDY fallback
// (create) runs; with kube.ExecVerbs the WebSocket runs; a pod that does
// not exist is a 404.
func TestExecIsAuthorisedAsTheCaller(t *testing.T) {
	ns := testenv.Namespace(t)
	cfg := testenv.KubeConfig(t)
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	makePod(t, admin, ns, "system-app-1-x", map[string]string{"deployment": "system-app"}, corev1.PodRunning, true)
	var ran atomic.Int64
	local := kubetest.LocalCommand(nil)
	srv := kubetest.NewServer(t, cfg, func(ctx context.Context, req kubetest.Request, stdin io.Reader, stdout, stderr io.Writer) int {
		ran.Add(1)
		return local(ctx, req, stdin, stdout, stderr)
	})
	user := "system:serviceaccount:" + ns + ":runner"

	grant := func(execVerbs []string) {
		t.Helper()
		rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: kube.PodVerbs}}
		if len(execVerbs) > 0 {
			rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: execVerbs})
		}
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "runner"}, Rules: rules}
		if _, err := admin.RbacV1().Roles(ns).Update(ctx, role, metav1.UpdateOptions{}); err != nil {
			if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		// The authorizer's cache follows the Role shortly after.
		deadline := time.Now().Add(30 * time.Second)
		for {
			ok := true
			for _, v := range []string{"get", "create"} {
				r, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authv1.SubjectAccessReview{Spec: authv1.SubjectAccessReviewSpec{
					User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
					ResourceAttributes: &authv1.ResourceAttributes{Namespace: ns, Verb: v, Resource: "pods", Subresource: "exec"}}}, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				ok = ok && r.Status.Allowed == slices.Contains(execVerbs, v)
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Role with pods/exec %v is not in effect after 30s", execVerbs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "runner"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "runner"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "runner", Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	asRunner := srv.Config()
	asRunner.Impersonate = rest.ImpersonationConfig{UserName: user}
	exec := func(pod string) (string, error) {
		var out bytes.Buffer
		err := kube.Exec(ctx, asRunner, ns, pod, "c", []string{"echo", "hello"}, nil, &out, nil)
		return out.String(), err
	}
	last := func() kubetest.Request {
		r := srv.Requests()
		if len(r) == 0 {
			return kubetest.Request{}
		}
		return r[len(r)-1]
	}

	grant(nil)
	_, err = exec("system-app-1-x")
	if err == nil || !strings.Contains(err.Error(), `User "`+user+`" cannot create resource "pods/exec"`) || !strings.Contains(errs.Hint(err), "may create pods/exec") {
		t.Fatalf("exec without a pods/exec rule: %v (hint %q)", err, errs.Hint(err))
	}
	if n := ran.Load(); n != 0 {
		t.Errorf("%d refused execs reached the container", n)
	}
	if r := srv.Requests(); len(r) != 2 || r[0].Transport != "websocket" || r[1].Transport != "spdy" || r[0].Protocol != "" {
		t.Errorf("refused execs: %+v, want a WebSocket one, then the SPDY fallback, neither negotiated", r)
	}

	grant([]string{"create"})
	if out, err := exec("system-app-1-x"); err != nil || out != "hello\n" {
		t.Fatalf("exec with create only: %q, %v", out, err)
	}
	if tr := last().Transport; tr != "spdy" {
		t.Errorf("with create only the exec ran over %q; the WebSocket upgrade needs get too, so it must fall back to spdy", tr)
	}

	grant(kube.ExecVerbs)
	if out, err := exec("system-app-1-x"); err != nil || out != "hello\n" {
		t.Fatalf("exec with %v: %q, %v", kube.ExecVerbs, out, err)
	}
	if tr := last().Transport; tr != "websocket" {
		t.Errorf("with %v the exec ran over %q, want websocket", kube.ExecVerbs, tr)
	}
	if _, err := exec("system-app-1-gone"); err == nil || !strings.Contains(err.Error(), `pods "system-app-1-gone" not found`) {
		t.Errorf("exec into a missing pod: %v", err)
	}

	// What the endpoint saw is what the API server authorises: the exec
	// verbs the code needs, and nothing else on pods/exec.
	var seen []string
	for _, c := range srv.Calls() {
		if c.Resource == "pods" && c.Subresource == "exec" && !slices.Contains(seen, c.Verb) {
			seen = append(seen, c.Verb)
		}
	}
	slices.Sort(seen)
	want := slices.Sorted(slices.Values(kube.ExecVerbs))
	if !slices.Equal(seen, want) {
		t.Errorf("verbs checked on pods/exec %v, want kube.ExecVerbs %v", seen, want)
	}
}
