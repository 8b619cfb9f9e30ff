package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/fixture"
	"github.com/3scale-ops/3scale-ops/internal/kube/kubetest"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// hidingKubeconfig is a kubeconfig for namespace ns through a proxy in
// front of the real API server that hides the API groups: a cluster
// without their CRDs (the shared test server keeps them for the others).
func hidingKubeconfig(t *testing.T, ns string, groups ...string) string {
	t.Helper()
	srv := kubetest.NewServer(t, testenv.KubeConfig(t), kubetest.LocalCommand(nil), kubetest.Options{HideGroups: groups})
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster: {server: %q, insecure-skip-tls-verify: true}\nusers:\n- name: e2e\n  user: {}\ncontexts:\n- name: e2e\n  context: {cluster: e2e, user: e2e, namespace: %q}\ncurrent-context: e2e\n", srv.URL, ns)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A snapshot of an operator install restored into a cluster where the
// 3scale operator is not installed (no apps.3scale.net CRDs) stops at
// plan time, dry run or not, exit 2, naming the APIManager kind and how
// to install the operator, before anything is written: no object in the
// namespace, no journal and no lock in the repository.
func TestRestoreWithoutOperatorCRDsStopsAtPlan(t *testing.T) {
	src := newInstall(t)
	rep := src.seed(t)
	a := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := fixture.Install(ctx, a.KC, a.NS, fixture.Options{Kind: fixture.Operator, Dataset: rep, Conns: src.conns()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "workloads settled", func() bool { return a.Sim.Reconcile(ctx) == nil })
	a.setStorage(src.Storage)
	r := localRepo(t)
	id := strings.TrimSpace(mustRun(t, r, append(a.flags(src), "backup")...).Stdout)

	b := newCluster(t) // an empty namespace of a cluster without the operator
	before := b.state(t)
	dst := newInstall(t)
	flags := b.flags(dst)
	flags[1] = hidingKubeconfig(t, b.NS, "apps.3scale.net")
	for _, extra := range [][]string{{"--dry-run"}, {"--yes"}} {
		res := run(t, r, append(append(flags, "restore", id), extra...)...)
		if res.Code != 2 || !strings.Contains(res.Stderr, "APIManager (apps.3scale.net/v1alpha1)") ||
			!strings.Contains(res.Stderr, "3scale-operator") || !strings.Contains(res.Stderr, "oc apply") || !strings.Contains(res.Stderr, "nothing was changed") {
			t.Fatalf("restore %v of an operator snapshot into a cluster without the operator: want exit 2 naming the CRD and the install\n%s", extra, res)
		}
	}
	requireEqual(t, "the namespace after the refused restore", before, b.state(t))
	for _, dir := range []string{"restores", "locks"} {
		if got, _ := filepath.Glob(filepath.Join(r.Args[1], dir, "*")); len(got) != 0 {
			t.Errorf("the refused restore wrote %v", got)
		}
	}
	// The same restore through the unfiltered API plans (the check reads the real discovery).
	mustRun(t, r, append(b.flags(dst), "restore", id, "--dry-run")...)
}
