package e2e

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/fixture"
	"github.com/redis/go-redis/v9"
)

// TestKubeRestoreAfterTheNamespaceLostItsSecrets is the worst day: the
// namespace's secrets and configmaps are gone and the data is damaged.
// The restore is given no connection flags at all: it must find the
// databases and Redis servers through the secrets held in the snapshot
// (which it re-creates first), and bring the data back to the backup.
func TestKubeRestoreAfterTheNamespaceLostItsSecrets(t *testing.T) {
	in := newInstall(t)
	rep := in.seed(t)
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c.installFixture(ctx, t, fixture.Template, rep, in)
	kwant := c.state(t)
	want := in.state(t)
	base := []string{"--kubeconfig", c.Kubeconfig, "-n", c.NS}
	r := localRepo(t)
	id := strings.TrimSpace(mustRun(t, r, append(base, "backup")...).Stdout)

	// The disaster: secrets and configmaps deleted, data damaged.
	c.wipe(t)
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
	if d := diffLines(want, in.state(t)); d == "" {
		t.Fatal("the damage did not change the fingerprint")
	}

	plan := mustRun(t, r, append(base, "restore", id, "--dry-run")...)
	if !strings.Contains(plan.Stdout, in.MySQL.Name) || !strings.Contains(plan.Stdout, in.Backend.Addr) {
		t.Fatalf("the plan does not target the databases the snapshot's secrets name:\n%s", plan.Stdout)
	}
	res := run(t, r, append(base, "restore", id, "--yes", "--drop-existing", "--timeout", "2m")...)
	if res.Code != 0 {
		t.Fatalf("restore into the namespace without secrets failed:\n%s", res)
	}
	if d := diffLines(want, in.state(t)); d != "" {
		t.Errorf("restored data differs from the backup:\n%s", d)
	}
	if d := diffLines(kwant, c.state(t)); d != "" {
		t.Errorf("restored secrets, configmaps or replicas differ:\n%s", d)
	}
}
