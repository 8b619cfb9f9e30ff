package schedule

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	canIRes := func(verb, res, sub string) (bool, string) {
		args := []string{"auth", "can-i", verb, res, "-n", ns, as}
		if sub != "" {
			args = append(args, "--subresource="+sub)
		}
		out, err := testenv.Kubectl(t, nil, args...)
		answer := strings.TrimSpace(string(out))
		if err != nil && answer != "no" {
			t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
		}
		what := strings.Join(args[:4], " ")
		if sub != "" {
			what += " --subresource=" + sub
		}
		return answer == "yes", what
	}
	canI := func(verb string, k kube.Kind) (bool, string) {
		res, sub, _ := strings.Cut(k.Resource, "/")
		if k.Group != "" {
			res += "." + k.Group
		}
		return canIRes(verb, res, sub)
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
	// The exec paths, asked as the API server asks them (the exec
	// subresource of a named pod of system-app or system-sidekiq): exactly
	// the verbs of the code's exec transports (kube.ExecVerbs, from
	// exec.go's WebSocket GET and SPDY POST) and of FindPod's pod listing
	// (kube.PodVerbs).
	if len(kube.ExecVerbs) == 0 || len(kube.PodVerbs) == 0 {
		t.Fatalf("no exec verbs derived: exec %v, pods %v", kube.ExecVerbs, kube.PodVerbs)
	}
	for _, pod := range []string{"system-app-1-x7k2p", "system-sidekiq-1-q9z4w"} {
		for _, verb := range []string{"get", "create", "update", "patch", "delete"} {
			ok, what := canIRes(verb, "pods/"+pod, "exec")
			if want := slices.Contains(kube.ExecVerbs, verb); ok != want {
				t.Errorf("%s: %v, want %v (exec needs %v)", what, ok, want, kube.ExecVerbs)
			}
		}
	}
	for _, verb := range []string{"get", "list", "watch", "create", "update", "patch", "delete"} {
		ok, what := canIRes(verb, "pods", "")
		if want := slices.Contains(kube.PodVerbs, verb); ok != want {
			t.Errorf("%s: %v, want %v (finding a pod needs %v)", what, ok, want, kube.PodVerbs)
		}
	}
}
