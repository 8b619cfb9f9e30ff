package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/fixture"
	"github.com/3scale-ops/3scale-ops/e2e/internal/fingerprint"
)

func only(st fingerprint.State, prefixes ...string) fingerprint.State {
	out := fingerprint.State{}
	for k, v := range st {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				out[k] = v
			}
		}
	}
	return out
}

// The cluster is gone: into a new, empty namespace the secrets and
// configmaps are restored first (the guide's 7.5.1/7.5.2), with a plan
// (also --dry-run) instead of "no 3scale workloads"; a restore of the data
// there is refused with the way in.
func TestRestoreSecretsIntoEmptyNamespace(t *testing.T) {
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
	want := only(a.state(t), "secret:", "configmap:")
	if want.Count("secret:") < 5 || want.Count("configmap:") < 1 {
		t.Fatalf("fixture too small: %v", want)
	}

	b := newCluster(t) // a new namespace: nothing of 3scale in it
	// The full restore plans the guide's §7.5.2 (TestRestoreWipedOperatorNamespaceInOneCommand runs it).
	res := mustRun(t, r, append(b.flags(src), "restore", id, "--dry-run")...)
	if !strings.Contains(res.Stdout, "await-operator") || strings.Contains(res.Stdout, "quiesce") {
		t.Fatalf("a full restore of an operator snapshot into an empty namespace: want the operator plan\n%s", res)
	}
	// Without the APIManager there is nothing to build 3scale: refused with the way in.
	res = run(t, r, append(b.flags(src), "restore", id, "--dry-run", "--components", "secrets,configmaps,system-mysql")...)
	if res.Code == 0 || !strings.Contains(res.Stderr, "--components secrets,configmaps") {
		t.Fatalf("a data restore into an empty namespace without the APIManager: want a refusal naming the way in\n%s", res)
	}
	plan := mustRun(t, r, append(b.flags(src), "restore", id, "--components", "secrets,configmaps", "--dry-run")...)
	if !strings.Contains(plan.Stdout, "no 3scale workloads") || strings.Contains(plan.Stdout, "quiesce") {
		t.Fatalf("dry-run in an empty namespace:\n%s", plan.Stdout)
	}
	mustRun(t, r, append(b.flags(src), "restore", id, "--components", "secrets,configmaps", "--yes")...)
	got := only(b.state(t), "secret:", "configmap:")
	requireEqual(t, "secrets and configmaps restored into the empty namespace", want, got)
}
