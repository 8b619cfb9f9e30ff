package schedule

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// kubectl (the same release as the API server) accepts `manifests all`
// and the deploy/ kustomize base, server-side.
func TestKubectlAcceptsManifests(t *testing.T) {
	ns := testenv.Namespace(t)
	b, err := Manifests("all", ManifestOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := testenv.Kubectl(t, b, "apply", "--dry-run=server", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply --dry-run=server of manifests all: %v\n%s", err, out)
	}
	// deploy/ through an overlay that only sets the namespace, as users do.
	dir := t.TempDir()
	base, err := filepath.Rel(dir, filepath.Join(testenv.RepoRoot(), "deploy"))
	if err != nil {
		t.Fatal(err)
	}
	overlay := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: %s\nresources:\n- %s\n", ns, base)
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(overlay), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := testenv.Kubectl(t, nil, "apply", "--dry-run=server", "-k", dir)
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server -k deploy/: %v\n%s", err, out)
	}
	for _, want := range []string{"serviceaccount/3scale-ops", "role.rbac.authorization.k8s.io/3scale-ops", "cronjob.batch/3scale-ops-backup",
		"deployment.apps/3scale-ops-schedule", "service/" + MetricsService} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kubectl apply -k deploy/ did not create %s:\n%s", want, out)
		}
	}
}

// Under the generated Role, `kubectl auth can-i` allows every verb the
// tool uses on every kind of the table, and nothing else on them.
func TestKubectlAuthCanIUnderRole(t *testing.T) {
	ns := testenv.Namespace(t)
	b, err := Manifests("rbac", ManifestOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := testenv.Kubectl(t, b, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply of manifests rbac: %v\n%s", err, out)
	}
	as := "--as=system:serviceaccount:" + ns + ":" + Name
	canI := func(verb string, k kube.Kind) (bool, string) {
		res, sub, _ := strings.Cut(k.Resource, "/")
		if k.Group != "" {
			res += "." + k.Group
		}
		args := []string{"auth", "can-i", verb, res, "-n", ns, as}
		if sub != "" {
			args = append(args, "--subresource="+sub)
		}
		out, err := testenv.Kubectl(t, nil, args...)
		answer := strings.TrimSpace(string(out))
		if err != nil && answer != "no" {
			t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return answer == "yes", strings.Join(args[:4], " ")
	}
	for _, k := range kube.Kinds {
		for _, verb := range k.Verbs {
			if ok, what := canI(verb, k); !ok {
				t.Errorf("%s: no, under the generated Role", what)
			}
		}
		for _, verb := range []string{"watch", "deletecollection", "escalate"} {
			if ok, what := canI(verb, k); ok {
				t.Errorf("%s: yes, the tool never does it", what)
			}
		}
	}
}
