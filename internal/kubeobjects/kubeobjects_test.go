package kubeobjects_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kubeobjects"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const (
	secretPassword = "s3cr3t-Passw0rd-for-mysql"
	secretToken    = "tok-0123456789abcdef0123456789abcdef"
)

func clients(t *testing.T, ns string) *kube.Clients {
	t.Helper()
	kc, err := kube.NewClients(testenv.KubeConfig(t), ns)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

func cr(apiVersion, kind, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name}, "spec": spec}}
}

// fixture creates a small 3scale namespace: the guide's secrets and
// configmaps, labelled extras, an unrelated object, an APIManager with
// status and a referenced S3 secret, and capability CRs.
func fixture(t *testing.T, kc *kube.Clients, ns string) {
	t.Helper()
	ctx := context.Background()
	amObj := cr("apps.3scale.net/v1alpha1", "APIManager", "apimanager-sample", map[string]any{
		"wildcardDomain": "apps.example.com",
		"system": map[string]any{"fileStorage": map[string]any{"simpleStorageService": map[string]any{
			"configurationSecretRef": map[string]any{"name": "aws-auth"}}}},
	})
	amObj.SetAnnotations(map[string]string{kubeobjects.VersionAnnotation: "2.15"})
	am, err := kc.Dynamic.Resource(kubeobjects.APIManagerGVR).Namespace(ns).Create(ctx, amObj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	am.Object["status"] = map[string]any{"deployments": map[string]any{"ready": []any{"system-app"}}}
	if _, err := kc.Dynamic.Resource(kubeobjects.APIManagerGVR).Namespace(ns).UpdateStatus(ctx, am, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	owner := []metav1.OwnerReference{{APIVersion: "apps.3scale.net/v1alpha1", Kind: "APIManager", Name: am.GetName(), UID: am.GetUID()}}
	secrets := []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "system-database", OwnerReferences: owner},
			StringData: map[string]string{"URL": "mysql2://root:" + secretPassword + "@system-mysql/system", "DB_USER": "mysql", "DB_PASSWORD": secretPassword}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system-seed"}, StringData: map[string]string{"MASTER_ACCESS_TOKEN": secretToken, "MASTER_USER": "master"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "backend-internal-api"}, StringData: map[string]string{"username": "3scale_api_user", "password": "internal-api-pw-xyz"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "custom-tls", Labels: map[string]string{"threescale_component": "system"}},
			Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"tls.crt": []byte("CERT-DATA"), "tls.key": []byte("KEY-DATA-private")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "aws-auth"}, StringData: map[string]string{"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "aws-secret-key-value", "AWS_BUCKET": "bucket"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "unrelated"}, StringData: map[string]string{"x": "not ours"}},
	}
	secrets = append(secrets, referencedSecrets...)
	for _, s := range secrets {
		if _, err := kc.Typed.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cms := []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "system-environment", Labels: map[string]string{"app": "3scale-api-management"}},
			Data: map[string]string{"THREESCALE_SUPERDOMAIN": "apps.example.com", "RAILS_ENV": "production"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "apicast-environment"}, Data: map[string]string{"APICAST_MANAGEMENT_API": "status"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "custom-policies", Labels: map[string]string{"app": "3scale-api-management"}},
			Data: map[string]string{"policy.lua": "return {}"}, BinaryData: map[string][]byte{"blob": {0, 1, 2, 255}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca-like"}, Data: map[string]string{"ca.crt": "x"}},
	}
	for _, c := range cms {
		if _, err := kc.Typed.CoreV1().ConfigMaps(ns).Create(ctx, c, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range capabilityObjects(ns) {
		if _, err := kc.Dynamic.Resource(gvrOf(t, o)).Namespace(ns).Create(ctx, o, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s/%s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

// capabilityObjects are capability CRs, valid for the operator's CRDs, at
// their real versions, referring to secrets through every kind of
// reference the operator has.
func capabilityObjects(ns string) []*unstructured.Unstructured {
	const caps = "capabilities.3scale.net/"
	return []*unstructured.Unstructured{
		cr(caps+"v1beta1", "Product", "petstore", map[string]any{"name": "Petstore", "systemName": "petstore",
			"providerAccountRef": map[string]any{"name": "petstore-provider"}}),
		cr(caps+"v1beta1", "Backend", "petstore-api", map[string]any{"name": "Petstore API", "privateBaseURL": "https://api.example.com"}),
		cr(caps+"v1alpha1", "Tenant", "acme", map[string]any{"username": "admin", "organizationName": "ACME", "email": "admin@acme.example.com",
			"systemMasterUrl": "https://master.apps.example.com", "masterCredentialsRef": map[string]any{"name": "system-seed"},
			"passwordCredentialsRef": map[string]any{"name": "acme-admin-password"}, "tenantSecretRef": map[string]any{"name": "acme-tenant", "namespace": ns}}),
		cr(caps+"v1beta1", "DeveloperAccount", "acme-dev", map[string]any{"orgName": "ACME developers"}),
		cr(caps+"v1beta1", "DeveloperUser", "acme-dev-user", map[string]any{"username": "dev", "email": "dev@acme.example.com",
			"developerAccountRef": map[string]any{"name": "acme-dev"}, "passwordCredentialsRef": map[string]any{"name": "acme-dev-password", "namespace": "elsewhere"}}),
		cr(caps+"v1beta1", "Application", "acme-app", map[string]any{"name": "ACME app", "description": "the app", "applicationPlanName": "basic",
			"accountCR": map[string]any{"name": "acme-dev"}, "productCR": map[string]any{"name": "petstore"}}),
		cr(caps+"v1beta1", "ApplicationAuth", "acme-app-auth", map[string]any{"applicationCRName": "acme-app",
			"authSecretRef": map[string]any{"name": "acme-app-keys"}, "providerAccountRef": map[string]any{"name": "petstore-provider"}}),
	}
}

// referencedSecrets are the secrets capabilityObjects refer to in their namespace.
var referencedSecrets = []*corev1.Secret{
	{ObjectMeta: metav1.ObjectMeta{Name: "petstore-provider"}, StringData: map[string]string{"adminURL": "https://acme-admin.apps.example.com", "token": "provider-token-value-1"}},
	{ObjectMeta: metav1.ObjectMeta{Name: "acme-admin-password"}, StringData: map[string]string{"password": "tenant-admin-pw-2"}},
	{ObjectMeta: metav1.ObjectMeta{Name: "acme-tenant"}, StringData: map[string]string{"adminURL": "https://acme-admin.apps.example.com", "token": "tenant-token-value-3"}},
	{ObjectMeta: metav1.ObjectMeta{Name: "acme-app-keys"}, StringData: map[string]string{"UserKey": "user-key-value-4"}},
}

// gvrOf is the resource of an object's kind in the table of kinds.
func gvrOf(t *testing.T, o *unstructured.Unstructured) schema.GroupVersionResource {
	t.Helper()
	gvk := o.GroupVersionKind()
	k, ok := kube.LookupKind(gvk.Group, gvk.Kind)
	if !ok {
		t.Fatalf("%s is not in the table of kinds", gvk)
	}
	return schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: k.Resource}
}

type run struct {
	mem  *artifact.Memory
	meta kubeobjects.Meta
}

func backupAll(t *testing.T, kc *kube.Clients, ns string, log *slog.Logger) map[string]run {
	t.Helper()
	out := map[string]run{}
	for _, e := range kubeobjects.All(kc, ns, kubeobjects.Options{Logger: log}) {
		mem := artifact.NewMemory()
		if err := e.Backup(context.Background(), mem, progress.NewTask(e.Name())); err != nil {
			t.Fatalf("backup %s: %v", e.Name(), err)
		}
		var meta kubeobjects.Meta
		if err := mem.Get(kubeobjects.MetaKey, &meta); err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = run{mem, meta}
	}
	return out
}

func TestBackupAndRestoreToFreshNamespace(t *testing.T) {
	ctx := context.Background()
	src := testenv.Namespace(t)
	kc := clients(t, src)
	fixture(t, kc, src)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	runs := backupAll(t, kc, src, log)

	if got := strings.Join(runs["secrets"].meta.Objects, " "); got != "Secret/acme-admin-password Secret/acme-app-keys Secret/acme-tenant Secret/aws-auth "+
		"Secret/backend-internal-api Secret/custom-tls Secret/petstore-provider Secret/system-database Secret/system-seed" {
		t.Fatalf("secrets = %s", got)
	}
	if m := runs["secrets"].meta.Missing; !contains(m, "system-smtp") || contains(m, "system-seed") {
		t.Fatalf("missing = %v", m)
	}
	if got := strings.Join(runs["configmaps"].meta.Objects, " "); got != "ConfigMap/apicast-environment ConfigMap/custom-policies ConfigMap/system-environment" {
		t.Fatalf("configmaps = %s", got)
	}
	// Table order: what others refer to first; every kind at the version served.
	if got := strings.Join(runs["apimanager"].meta.Objects, " "); got != "APIManager/apimanager-sample Tenant/acme Backend/petstore-api Product/petstore "+
		"DeveloperAccount/acme-dev DeveloperUser/acme-dev-user Application/acme-app ApplicationAuth/acme-app-auth" {
		t.Fatalf("apimanager = %s", got)
	}
	if sk := runs["apimanager"].meta.Skipped; contains(sk, "Tenant") || contains(sk, "Application") || contains(sk, "ApplicationAuth") {
		t.Fatalf("served kinds recorded as skipped: %v", sk)
	}
	if m := runs["apimanager"].meta; m.Version != "2.15" || !strings.Contains(m.VersionSource, kubeobjects.VersionAnnotation) {
		t.Errorf("installation version = %q from %q, want 2.15 from the APIManager annotation", m.Version, m.VersionSource)
	}
	if !strings.Contains(string(runs["apimanager"].mem.Bytes("apimanager.json")), `"apiVersion":"capabilities.3scale.net/v1alpha1","kind":"Tenant"`) {
		t.Fatal("the Tenant is not stored at capabilities.3scale.net/v1alpha1")
	}
	for name, r := range runs {
		raw := string(r.mem.Bytes(kubeobjects.FileName(name)))
		for _, field := range []string{`"uid"`, `"resourceVersion"`, `"creationTimestamp"`, `"managedFields"`, `"ownerReferences"`, `"status":`, `"generation"`} {
			if strings.Contains(raw, field) {
				t.Errorf("%s: stored list still has %s", name, field)
			}
		}
		var list struct{ Items []unstructured.Unstructured }
		if err := json.Unmarshal([]byte(raw), &list); err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			if o.GetNamespace() != "" {
				t.Errorf("%s: %s/%s stored with its namespace", name, o.GetKind(), o.GetName())
			}
		}
		if r.mem.Files()[0].Count != int64(r.meta.Count) {
			t.Errorf("%s: file count %d, meta %d", name, r.mem.Files()[0].Count, r.meta.Count)
		}
	}

	// kubectl-compatible: every exported List (`backups export ID
	// secrets|configmaps|apimanager`) is what `kubectl apply -f` takes.
	applyNS := testenv.Namespace(t)
	for _, name := range kubeobjects.Components {
		var out bytes.Buffer
		if err := kubeobjects.Export(ctx, runs[name].mem, &out); err != nil {
			t.Fatal(err)
		}
		if msg, err := testenv.Kubectl(t, out.Bytes(), "apply", "--dry-run=server", "-n", applyNS, "-f", "-"); err != nil {
			t.Fatalf("kubectl apply --dry-run=server of the exported %s: %v: %s", name, err, msg)
		}
	}

	dst := testenv.Namespace(t)
	kd := clients(t, dst)
	for _, name := range kubeobjects.Components {
		e, _ := kubeobjects.New(kd, dst, name, kubeobjects.Options{Logger: log})
		if err := e.Preflight(ctx, runs[name].mem); err != nil {
			t.Fatalf("preflight %s: %v", name, err)
		}
		rep, err := e.RestoreReport(ctx, runs[name].mem, nil)
		if err != nil {
			t.Fatalf("restore %s: %v", name, err)
		}
		if len(rep.Created) != runs[name].meta.Count || len(rep.Updated)+len(rep.Unchanged) != 0 {
			t.Fatalf("%s report = %+v", name, rep)
		}
	}
	// Same data in the new namespace.
	for _, n := range []string{"system-database", "system-seed", "backend-internal-api", "custom-tls", "aws-auth", "petstore-provider", "acme-admin-password", "acme-tenant", "acme-app-keys"} {
		a, _ := kc.Typed.CoreV1().Secrets(src).Get(ctx, n, metav1.GetOptions{})
		b, err := kd.Typed.CoreV1().Secrets(dst).Get(ctx, n, metav1.GetOptions{})
		if err != nil || !equalBytesMap(a.Data, b.Data) || a.Type != b.Type || len(b.OwnerReferences) != 0 {
			t.Fatalf("secret %s differs after restore (err %v)", n, err)
		}
	}
	for _, n := range []string{"system-environment", "apicast-environment", "custom-policies"} {
		a, _ := kc.Typed.CoreV1().ConfigMaps(src).Get(ctx, n, metav1.GetOptions{})
		b, err := kd.Typed.CoreV1().ConfigMaps(dst).Get(ctx, n, metav1.GetOptions{})
		if err != nil || !equalStringMap(a.Data, b.Data) || !equalBytesMap(a.BinaryData, b.BinaryData) || b.Labels["app"] != a.Labels["app"] {
			t.Fatalf("configmap %s differs after restore (err %v)", n, err)
		}
	}
	for _, o := range append(capabilityObjects(src), cr("apps.3scale.net/v1alpha1", "APIManager", "apimanager-sample", nil)) {
		gvr := gvrOf(t, o)
		a, _ := kc.Dynamic.Resource(gvr).Namespace(src).Get(ctx, o.GetName(), metav1.GetOptions{})
		b, err := kd.Dynamic.Resource(gvr).Namespace(dst).Get(ctx, o.GetName(), metav1.GetOptions{})
		if o.GetKind() == "Tenant" && err == nil { // its own namespace, named in the reference, differs by design
			_ = unstructured.SetNestedField(a.Object, dst, "spec", "tenantSecretRef", "namespace")
		}
		if err != nil || !jsonEqual(a.Object["spec"], b.Object["spec"]) {
			t.Fatalf("%s %s differs after restore (err %v)", gvr.Resource, o.GetName(), err)
		}
	}

	// A second restore changes nothing and says so.
	e, _ := kubeobjects.New(kd, dst, kubeobjects.Secrets, kubeobjects.Options{Logger: log})
	rep, err := e.RestoreReport(ctx, runs["secrets"].mem, nil)
	if err != nil || len(rep.Unchanged) != 9 || len(rep.Created)+len(rep.Updated) != 0 {
		t.Fatalf("second restore: %+v %v", rep, err)
	}

	// Drift: change, add and remove keys; the restore lists key names only.
	s, _ := kd.Typed.CoreV1().Secrets(dst).Get(ctx, "system-database", metav1.GetOptions{})
	s.Data["DB_PASSWORD"] = []byte("changed-by-someone")
	s.Data["EXTRA"] = []byte("added")
	delete(s.Data, "DB_USER")
	if _, err := kd.Typed.CoreV1().Secrets(dst).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kd.Typed.CoreV1().Secrets(dst).Delete(ctx, "aws-auth", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err = e.RestoreReport(ctx, runs["secrets"].mem, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Updated) != 1 || rep.Updated[0].Object != "Secret/system-database" ||
		strings.Join(rep.Updated[0].Keys, ",") != "data.DB_PASSWORD,data.DB_USER,data.EXTRA" ||
		strings.Join(rep.Created, ",") != "Secret/aws-auth" || len(rep.Unchanged) != 7 {
		t.Fatalf("drift report = %+v", rep)
	}
	got, _ := kd.Typed.CoreV1().Secrets(dst).Get(ctx, "system-database", metav1.GetOptions{})
	if string(got.Data["DB_PASSWORD"]) != secretPassword || got.Data["DB_USER"] == nil || got.Data["EXTRA"] != nil {
		t.Fatalf("secret not restored: keys %v", keysOf(got.Data))
	}

	// CR drift is reported by spec field.
	am, _ := kd.Dynamic.Resource(kubeobjects.APIManagerGVR).Namespace(dst).Get(ctx, "apimanager-sample", metav1.GetOptions{})
	_ = unstructured.SetNestedField(am.Object, "other.example.com", "spec", "wildcardDomain")
	if _, err := kd.Dynamic.Resource(kubeobjects.APIManagerGVR).Namespace(dst).Update(ctx, am, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ea, _ := kubeobjects.New(kd, dst, kubeobjects.APIManager, kubeobjects.Options{Logger: log})
	rep, err = ea.RestoreReport(ctx, runs["apimanager"].mem, nil)
	if err != nil || len(rep.Updated) != 1 || strings.Join(rep.Updated[0].Keys, ",") != "spec.wildcardDomain" {
		t.Fatalf("apimanager drift report = %+v %v", rep, err)
	}

	// No value ever reaches logs or reports.
	repJSON, _ := json.Marshal(rep)
	for _, v := range []string{secretPassword, secretToken, "changed-by-someone", "internal-api-pw-xyz", "aws-secret-key-value", "KEY-DATA-private",
		"provider-token-value-1", "tenant-admin-pw-2", "tenant-token-value-3", "user-key-value-4"} {
		if strings.Contains(logs.String(), v) || strings.Contains(string(repJSON), v) {
			t.Errorf("secret value %q leaked into logs or report", v)
		}
	}
	if !strings.Contains(logs.String(), "data.DB_PASSWORD") {
		t.Errorf("the update was not logged by key name: %s", logs.String())
	}
}

func TestExport(t *testing.T) {
	ns := testenv.Namespace(t)
	kc := clients(t, ns)
	fixture(t, kc, ns)
	runs := backupAll(t, kc, ns, slog.New(slog.DiscardHandler))
	var out bytes.Buffer
	if err := kubeobjects.Export(context.Background(), runs["configmaps"].mem, &out); err != nil {
		t.Fatal(err)
	}
	var list struct {
		Kind  string
		Items []map[string]any
	}
	if err := json.Unmarshal(out.Bytes(), &list); err != nil || list.Kind != "List" || len(list.Items) != 3 {
		t.Fatalf("export: %v %+v", err, list)
	}
}

func TestPreflightFailures(t *testing.T) {
	ctx := context.Background()
	ns := testenv.Namespace(t)
	kc := clients(t, ns)
	fixture(t, kc, ns)
	runs := backupAll(t, kc, ns, slog.New(slog.DiscardHandler))

	// Corrupt artifact.
	bad := artifact.NewMemory()
	f, _ := bad.Create(ctx, "secrets.json", "kube-list")
	_, _ = f.Write([]byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Secret"`))
	_ = f.Close()
	_ = bad.Set(kubeobjects.MetaKey, kubeobjects.Meta{Count: 1})
	e, _ := kubeobjects.New(kc, ns, kubeobjects.Secrets, kubeobjects.Options{})
	if err := e.Preflight(ctx, bad); err == nil || errs.Code(err) != errs.Mismatch || !strings.Contains(err.Error(), "secrets.json") {
		t.Fatalf("corrupt: %v", err)
	}

	// Namespace that does not exist.
	e, _ = kubeobjects.New(kc, "no-such-namespace-3s", kubeobjects.Secrets, kubeobjects.Options{})
	if err := e.Preflight(ctx, runs["secrets"].mem); err == nil || !strings.Contains(err.Error(), "no-such-namespace-3s does not exist") {
		t.Fatalf("missing namespace: %v", err)
	}

	// A user without rights in the namespace.
	cfg := testenv.KubeConfig(t)
	cfg.Impersonate.UserName = "nobody"
	nobody, err := kube.NewClients(cfg, ns)
	if err != nil {
		t.Fatal(err)
	}
	e, _ = kubeobjects.New(nobody, ns, kubeobjects.Secrets, kubeobjects.Options{})
	err = e.Preflight(ctx, runs["secrets"].mem)
	if err == nil || errs.Code(err) != errs.Usage || !strings.Contains(err.Error(), "create secrets") || errs.Hint(err) == "" {
		t.Fatalf("rbac: %v", err)
	}
	// Nothing was changed by the failed preflights: the restore target is untouched.
	if _, err := kc.Typed.CoreV1().Secrets(ns).Get(ctx, "system-database", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = secretToken
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func equalBytesMap(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func equalStringMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
