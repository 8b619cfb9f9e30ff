package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/fixture"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// capabilities are capability objects of the kinds the real operator
// serves (Tenant v1alpha1, the others v1beta1), valid under the project's
// CRDs, and the secrets they refer to (none carries a 3scale label: they
// are backed up because they are referenced).
func capabilities(ns string) ([]*unstructured.Unstructured, []*corev1.Secret) {
	cr := func(kind, version, name string, spec map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": kube.CapabilitiesGroup + "/" + version, "kind": kind,
			"metadata": map[string]any{"name": name}, "spec": spec}}
	}
	objs := []*unstructured.Unstructured{
		cr("Tenant", "v1alpha1", "acme", map[string]any{"username": "admin", "organizationName": "ACME", "email": "admin@acme.example.com",
			"systemMasterUrl": "https://master.apps.example.com", "masterCredentialsRef": map[string]any{"name": "system-seed"},
			"passwordCredentialsRef": map[string]any{"name": "acme-admin-password"}, "tenantSecretRef": map[string]any{"name": "acme-tenant", "namespace": ns}}),
		cr("Backend", "v1beta1", "petstore-api", map[string]any{"name": "Petstore API", "privateBaseURL": "https://api.example.com",
			"providerAccountRef": map[string]any{"name": "acme-tenant"}}),
		cr("Product", "v1beta1", "petstore", map[string]any{"name": "Petstore", "systemName": "petstore",
			"providerAccountRef": map[string]any{"name": "acme-tenant"}}),
		cr("DeveloperAccount", "v1beta1", "acme-dev", map[string]any{"orgName": "ACME developers",
			"providerAccountRef": map[string]any{"name": "acme-tenant"}}),
		cr("Application", "v1beta1", "acme-app", map[string]any{"name": "ACME app", "description": "the app", "applicationPlanName": "basic",
			"accountCR": map[string]any{"name": "acme-dev"}, "productCR": map[string]any{"name": "petstore"}}),
		cr("ApplicationAuth", "v1beta1", "acme-app-auth", map[string]any{"applicationCRName": "acme-app",
			"authSecretRef": map[string]any{"name": "acme-app-keys"}, "providerAccountRef": map[string]any{"name": "acme-tenant"}}),
	}
	secrets := []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "acme-admin-password"}, StringData: map[string]string{"password": "tenant-admin-pw-2"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "acme-tenant"}, StringData: map[string]string{"adminURL": "https://acme-admin.apps.example.com", "token": "tenant-token-value-3"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "acme-app-keys"}, StringData: map[string]string{"UserKey": "user-key-value-4"}},
	}
	return objs, secrets
}

// capabilityGVR is the resource of a capability object in the table of kinds.
func capabilityGVR(t *testing.T, o *unstructured.Unstructured) schema.GroupVersionResource {
	t.Helper()
	gvk := o.GroupVersionKind()
	k, ok := kube.LookupKind(gvk.Group, gvk.Kind)
	if !ok {
		t.Fatalf("%s is not in the table of kinds", gvk)
	}
	return schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: k.Resource}
}

// capabilitySpecs reads the spec of each capability object (Kind/name → JSON).
func (c *cluster) capabilitySpecs(t *testing.T, objs []*unstructured.Unstructured) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, o := range objs {
		got, err := c.KC.Dynamic.Resource(capabilityGVR(t, o)).Namespace(c.NS).Get(context.Background(), o.GetName(), metav1.GetOptions{})
		if err != nil {
			out[o.GetKind()+"/"+o.GetName()] = "missing: " + err.Error()
			continue
		}
		b, _ := json.Marshal(got.Object["spec"])
		out[o.GetKind()+"/"+o.GetName()] = string(b)
	}
	return out
}

// asServiceAccount is a kubeconfig for the binary that reaches the exec
// endpoint (and through it the API server) as the service account sa of
// the namespace: every request is authorised by that account's RBAC.
func (c *cluster) asServiceAccount(t *testing.T, sa string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig-"+sa)
	kcfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: %s
  user: {as: %q}
contexts:
- name: e2e
  context: {cluster: e2e, user: %s, namespace: %q}
current-context: e2e
`, c.Exec.URL, sa, "system:serviceaccount:"+c.NS+":"+sa, sa, c.NS)
	if err := os.WriteFile(p, []byte(kcfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// withToken is a kubeconfig for the binary that reaches the exec endpoint
// (and through it the API server) with a token of the service account sa
// (TokenRequest, as `kubectl create token` gets one): the API server
// authenticates the account itself, and the endpoint authorises each exec
// for it.
func (c *cluster) withToken(t *testing.T, sa string) string {
	t.Helper()
	out, err := testenv.Kubectl(t, nil, "create", "token", sa, "-n", c.NS, "--duration=1h")
	if err != nil {
		t.Fatalf("kubectl create token %s: %v\n%s", sa, err, out)
	}
	p := filepath.Join(t.TempDir(), "kubeconfig-token-"+sa)
	kcfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: %s
  user: {token: %q}
contexts:
- name: e2e
  context: {cluster: e2e, user: %s, namespace: %q}
current-context: e2e
`, c.Exec.URL, sa, strings.TrimSpace(string(out)), sa, c.NS)
	if err := os.WriteFile(p, []byte(kcfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkCallsAllowed asks `kubectl auth can-i`, as the service account, for
// every call the binary made through the endpoint (what the code really
// does, not a list written by hand): each must be granted and in the
// table of kinds, and on pods and pods/exec the verbs used must be
// exactly those the Role grants.
func (c *cluster) checkCallsAllowed(t *testing.T, sa string) {
	t.Helper()
	used := map[string][]string{} // resource[/sub] → verbs
	for _, call := range c.Exec.Calls() {
		if why, ok := outsideTheRole[call.Rule()]; ok {
			t.Logf("%s: outside the Role (%s)", call.Rule(), why)
			continue
		}
		res := call.Resource
		if call.Subresource != "" {
			res += "/" + call.Subresource
		}
		if !slices.Contains(used[res], call.Verb) {
			used[res] = append(used[res], call.Verb)
		}
		k, ok := kindOf(call.Group, res)
		if !ok || !slices.Contains(k.Verbs, call.Verb) {
			t.Errorf("the binary did %s, which the table of kinds (and so the Role) does not list", call.Rule())
			continue
		}
		q := call.Resource
		if call.Group != "" {
			q += "." + call.Group
		}
		args := []string{"auth", "can-i", call.Verb, q, "-n", c.NS, "--as=system:serviceaccount:" + c.NS + ":" + sa}
		if call.Subresource != "" {
			args = append(args, "--subresource="+call.Subresource)
		}
		if out, _ := testenv.Kubectl(t, nil, args...); strings.TrimSpace(string(out)) != "yes" {
			t.Errorf("kubectl %s: %s", strings.Join(args, " "), out)
		}
	}
	for _, res := range []string{"pods", "pods/exec"} {
		k, _ := kindOf("", res)
		got, want := slices.Sorted(slices.Values(used[res])), slices.Sorted(slices.Values(k.Verbs))
		if !slices.Equal(got, want) {
			t.Errorf("%s: the binary used %v, the Role grants %v: the Role must allow exactly what the exec paths need", res, got, want)
		}
	}
}

// outsideTheRole are the calls a namespaced Role cannot or need not
// grant, which the code makes knowing so.
var outsideTheRole = map[string]string{
	"get namespaces": "cluster-scoped; an optional read, Forbidden is \"not known\" (kube.NamespaceAnnotation, the kube-objects preflight)",
	"create selfsubjectaccessreviews.authorization.k8s.io": "allowed to every authenticated user (ClusterRole system:basic-user)",
}

func kindOf(group, resource string) (kube.Kind, bool) {
	for _, k := range kube.Kinds {
		if k.Group == group && k.Resource == resource {
			return k, true
		}
	}
	return kube.Kind{}, false
}

// TestKubeRoundTripUnderRole runs the nightly backup and the full restore
// of an operator installation with Tenants, Products, Applications and
// ApplicationAuths as the ServiceAccount of `manifests rbac`, applied with
// kubectl and nothing else granted: every read and write the tool does
// (discovery, capability kinds, quiesce through the APIManager, the
// journal's mirror, scale back, rollout, routes, exec) passes the real API
// server's authorisation, and the result equals the original.
func TestKubeRoundTripUnderRole(t *testing.T) {
	src := newInstall(t)
	rep := src.seed(t)
	want := src.state(t)
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := fixture.Install(ctx, c.KC, c.NS, fixture.Options{Kind: fixture.Operator, Dataset: rep, Conns: src.conns()}); err != nil {
		t.Fatalf("install the operator fixture: %v", err)
	}
	objs, refs := capabilities(c.NS)
	for _, s := range refs {
		if _, err := c.KC.Typed.CoreV1().Secrets(c.NS).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range objs {
		if _, err := c.KC.Dynamic.Resource(capabilityGVR(t, o)).Namespace(c.NS).Create(ctx, o, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s/%s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	waitFor(t, "workloads settled", func() bool { return c.Sim.Reconcile(ctx) == nil })
	kwant := c.state(t)
	capsWant := c.capabilitySpecs(t, objs)

	// The generated Role, applied as a user would.
	r := localRepo(t)
	rbac := mustRun(t, r, "-n", c.NS, "manifests", "rbac")
	if out, err := testenv.Kubectl(t, []byte(rbac.Stdout), "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply of manifests rbac: %v\n%s", err, out)
	}
	asSA := c.asServiceAccount(t, "3scale-ops")
	saFlags := func(in *install) []string {
		f := c.flags(in)
		f[1] = asSA // --kubeconfig
		return f
	}
	// The API server's RBAC cache learns the new binding shortly after it is made.
	waitFor(t, "the Role in effect", func() bool {
		out, _ := testenv.Kubectl(t, nil, "auth", "can-i", "get", "secrets", "-n", c.NS, "--as=system:serviceaccount:"+c.NS+":3scale-ops")
		return strings.TrimSpace(string(out)) == "yes"
	})
	// And it is the only grant: the account cannot touch the Namespace.
	if out, _ := testenv.Kubectl(t, nil, "auth", "can-i", "patch", "namespaces/"+c.NS, "--as=system:serviceaccount:"+c.NS+":3scale-ops"); !strings.HasSuffix(strings.TrimSpace(string(out)), "no") {
		t.Fatalf("the service account may patch namespaces (%s): the test would not prove the Role suffices", out)
	}

	c.setStorage(src.Storage)
	res := mustRun(t, r, append(saFlags(src), "backup")...)
	id := strings.TrimSpace(res.Stdout)
	if strings.Contains(res.Stderr, "forbidden") || strings.Contains(res.Stderr, "Forbidden") {
		t.Errorf("the backup under the Role was refused something:\n%s", res.Stderr)
	}
	comp := mustRun(t, r, append(saFlags(src), "-o", "json", "backups", "show", id, "apimanager")...)
	for _, o := range objs {
		if !strings.Contains(comp.Stdout, o.GetKind()+"/"+o.GetName()) {
			t.Errorf("the snapshot's apimanager component lacks %s/%s:\n%s", o.GetKind(), o.GetName(), comp.Stdout)
		}
	}
	if strings.Contains(comp.Stdout, `"forbidden"`) {
		t.Errorf("the generated Role left kinds unreadable:\n%s", comp.Stdout)
	}

	// The disaster: secrets, configmaps and capability objects gone, new
	// empty data stores.
	c.wipe(t)
	for _, o := range objs {
		if err := c.KC.Dynamic.Resource(capabilityGVR(t, o)).Namespace(c.NS).Delete(ctx, o.GetName(), metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dst := newInstall(t)
	c.setStorage(dst.Storage)
	if err := os.MkdirAll(dst.Storage, 0o755); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.providers = len(rep.Tenants) + 1
	c.mu.Unlock()
	res = run(t, r, append(saFlags(dst), "restore", id, "--yes", "--timeout", "2m")...)
	if res.Code != 0 {
		t.Fatalf("restore under the generated Role failed (simulator: %q):\n%s", c.Sim.LastError(), res)
	}
	if strings.Contains(res.Stderr, "could not mirror") {
		t.Errorf("the journal's mirror was refused under the Role:\n%s", res.Stderr)
	}
	if d := diffLines(want, dst.state(t)); d != "" {
		t.Errorf("restored data differs from the source:\n%s", d)
	}
	if d := diffLines(kwant, c.state(t)); d != "" {
		t.Errorf("restored secrets, configmaps, APIManager or replicas differ from the originals:\n%s", d)
	}
	got := c.capabilitySpecs(t, objs)
	for k, v := range capsWant {
		if got[k] != v {
			t.Errorf("capability object %s after the restore: %s, want %s", k, got[k], v)
		}
	}
	for _, step := range []string{"quiesce", "apimanager", "scale-back", "rollout", "zync-resync", "backend-sync", "searchd-reindex", "verify"} {
		if !strings.Contains(res.Stdout, step+" ") {
			t.Errorf("the restore report has no step %s:\n%s", step, res.Stdout)
		}
	}
	c.mu.Lock()
	reindexes := len(c.reindexes)
	c.mu.Unlock()
	if reindexes != 1 {
		t.Errorf("the search index rebuild ran %d times, want 1", reindexes)
	}
	c.checkCallsAllowed(t, "3scale-ops")

	// The exec paths with the account's own token: zync resync execs into
	// system-sidekiq. With the generated Role it runs; without its
	// pods/exec rule the exec is refused, and the error names the rule.
	tokenFlags := func(in *install) []string {
		f := c.flags(in)
		f[1] = c.withToken(t, "3scale-ops")
		return f
	}
	resyncs := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.resyncs
	}
	before := resyncs()
	res = mustRun(t, r, append(tokenFlags(dst), "zync", "resync")...)
	if resyncs() != before+1 {
		t.Fatalf("zync resync with the account's token did not run the rake task in a pod:\n%s", res)
	}
	role, err := c.KC.Typed.RbacV1().Roles(c.NS).Get(ctx, "3scale-ops", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	role.Rules = slices.DeleteFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "pods/exec") })
	if _, err := c.KC.Typed.RbacV1().Roles(c.NS).Update(ctx, role, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Role without pods/exec in effect", func() bool {
		out, _ := testenv.Kubectl(t, nil, "auth", "can-i", "create", "pods", "--subresource=exec", "-n", c.NS, "--as=system:serviceaccount:"+c.NS+":3scale-ops")
		return strings.TrimSpace(string(out)) == "no"
	})
	res = run(t, r, append(tokenFlags(dst), "zync", "resync")...)
	if res.Code == 0 || !strings.Contains(res.Stderr, `cannot create resource \"pods/exec\"`) && !strings.Contains(res.Stderr, `cannot create resource "pods/exec"`) ||
		!strings.Contains(res.Stderr, "may create pods/exec") {
		t.Errorf("zync resync without the pods/exec rule: want a failure naming the rule and the fix:\n%s", res)
	}
	if resyncs() != before+1 {
		t.Errorf("the refused exec reached the pod")
	}
}
