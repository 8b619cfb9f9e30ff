package restore

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TemplateParams reads §7.5.1's pieces of system-database's URL, the app
// label of system-environment, and lists what the objects lack instead of
// writing an empty value for it; WriteParamFile leaves a 0600 file even
// over an older, world-readable one.
func TestTemplateParamsAndParamFile(t *testing.T) {
	secrets := []corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "system-database"}, Data: map[string][]byte{
			"URL": []byte("mysql2://root:s3cr%3At@system-mysql:3306/system_prod"), "DB_USER": []byte("mysql"), "DB_PASSWORD": []byte("pw")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system-recaptcha"}, Data: map[string][]byte{"PUBLIC_KEY": {}, "PRIVATE_KEY": {}}},
	}
	cms := []corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Name: "system-environment", Labels: map[string]string{"app": "my-3scale"}},
		Data: map[string]string{"THREESCALE_SUPERDOMAIN": "apps.example.com"}}}
	params, absent := TemplateParams(secrets, cms)
	got := map[string]string{}
	for _, p := range params {
		got[p.Name] = p.Value
	}
	want := map[string]string{"APP_LABEL": "my-3scale", "SYSTEM_DATABASE_USER": "mysql", "SYSTEM_DATABASE_PASSWORD": "pw",
		"SYSTEM_DATABASE": "system_prod", "SYSTEM_DATABASE_ROOT_PASSWORD": "s3cr:t", "WILDCARD_DOMAIN": "apps.example.com",
		"RECAPTCHA_PUBLIC_KEY": "", "RECAPTCHA_PRIVATE_KEY": ""}
	if len(got) != len(want) {
		t.Errorf("parameters %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %q (present %v), want %q", k, g, ok, v)
		}
	}
	if !slices.ContainsFunc(absent, func(s string) bool {
		return strings.HasPrefix(s, "ADMIN_PASSWORD (secret system-seed key ADMIN_PASSWORD)")
	}) ||
		len(absent) != len(templateParams)-len(want) {
		t.Errorf("absent = %v", absent)
	}

	dir := t.TempDir()
	old := filepath.Join(dir, "new-app-ID-ns.env")
	if err := os.WriteFile(old, []byte("stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path, err := WriteParamFile(dir, "ID", "ns", params)
	if err != nil || path != old {
		t.Fatalf("WriteParamFile = %q, %v", path, err)
	}
	fi, _ := os.Stat(path)
	b, _ := os.ReadFile(path)
	if fi.Mode().Perm() != 0o600 || strings.Contains(string(b), "stale") || !strings.Contains(string(b), "\nSYSTEM_DATABASE_ROOT_PASSWORD=s3cr:t\n") {
		t.Fatalf("param file mode %v:\n%s", fi.Mode().Perm(), b)
	}
}
