package e2e

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/fixture"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/redis/go-redis/v9"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// wipeAll deletes what the cluster loses on the worst day: every secret
// and configmap (wipe), every workload and pod, and the APIManager.
func (c *cluster) wipeAll(t *testing.T) {
	t.Helper()
	c.wipe(t)
	ctx := context.Background()
	if err := c.KC.Dynamic.Resource(kube.APIManagerGVR).Namespace(c.NS).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if err := c.KC.Dynamic.Resource(kube.DeploymentGVR).Namespace(c.NS).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.KC.Dynamic.Resource(kube.DeploymentConfigGVR).Namespace(c.NS).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.KC.Typed.CoreV1().Pods(c.NS).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if ws, err := c.KC.ListWorkloads(ctx, c.NS); err != nil || len(ws) > 0 {
		t.Fatalf("workloads left after the wipe: %v %v", ws, err)
	}
}

// TestRestoreWipedOperatorNamespaceInOneCommand is the guide's §7.5.2 in
// one `restore latest`: the namespace of an operator install lost every
// secret, configmap, workload and its APIManager (and the data is
// damaged). The restore puts the secrets and configmaps back, creates the
// APIManager held at zero replicas, waits for the operator (the
// controller simulator) to build the workloads, restores the data before
// anything starts, scales up to the snapshot's replicas and verifies. The
// secrets, configmaps, APIManager, replicas and data equal the originals.
func TestRestoreWipedOperatorNamespaceInOneCommand(t *testing.T) {
	in := newInstall(t)
	rep := in.seed(t)
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c.installFixture(ctx, t, fixture.Operator, rep, in)
	kwant := c.state(t)
	want := in.state(t)
	base := []string{"--kubeconfig", c.Kubeconfig, "-n", c.NS}
	r := localRepo(t)
	mustRun(t, r, append(base, "backup")...)

	c.wipeAll(t)
	db, err := sql.Open("mysql", in.MySQL.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("DELETE FROM cinstances"); err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(&redis.Options{Addr: in.Backend.Addr})
	defer rc.Close()
	if err := rc.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	plan := mustRun(t, r, append(base, "restore", "latest", "--dry-run")...)
	t.Logf("plan:\n%s", plan.Stdout)
	for _, w := range []string{"operator, new", "await-operator", "scale-back", "backend-sync", "verify"} {
		if !strings.Contains(plan.Stdout, w) {
			t.Errorf("the plan into the wiped namespace has no %q:\n%s", w, plan.Stdout)
		}
	}
	if strings.Contains(plan.Stdout, "quiesce") || strings.Index(plan.Stdout, "apimanager ") > strings.Index(plan.Stdout, "await-operator") ||
		strings.Index(plan.Stdout, "secrets ") > strings.Index(plan.Stdout, "apimanager ") {
		t.Errorf("the plan is not secrets → APIManager → operator → data:\n%s", plan.Stdout)
	}
	res := run(t, r, append(base, "restore", "latest", "--yes", "--drop-existing", "--timeout", "2m")...)
	if res.Code != 0 {
		t.Fatalf("one-command restore of the wiped namespace failed (simulator %q):\n%s", c.Sim.LastError(), res)
	}
	t.Logf("restore:\n%s", res.Stdout)
	if d := diffLines(want, in.state(t)); d != "" {
		t.Errorf("restored data differs from the backup:\n%s", d)
	}
	if d := diffLines(kwant, c.state(t)); d != "" {
		t.Errorf("restored secrets, configmaps, APIManager or replicas differ:\n%s", d)
	}
}
