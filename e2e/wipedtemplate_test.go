package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/fixture"
	"github.com/redis/go-redis/v9"
)

// readParamFile reads an `oc new-app --param-file` file: NAME=VALUE lines.
func readParamFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not NAME=VALUE: %q", path, line)
		}
		out[k] = v
	}
	return out
}

// TestRestoreWipedTemplateNamespacePausesForNewApp is the guide's §7.5.1:
// the namespace of a template install lost every secret, configmap,
// DeploymentConfig and pod (and the data is damaged). `restore latest
// --yes` puts the secrets and configmaps back, writes the amp.yml
// parameters read from them to a 0600 file (values equal to the original
// secrets, none of them on the terminal), prints the `oc new-app`
// command and pauses, exit 0. A resume before 3scale is deployed names
// the missing workloads; once the test has applied the template's
// workloads (as `oc new-app` would), `--resume` quiesces them, restores
// the data and scales back: secrets, configmaps, replicas and data equal
// the originals and verify passes.
func TestRestoreWipedTemplateNamespacePausesForNewApp(t *testing.T) {
	in := newInstall(t)
	rep := in.seed(t)
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c.installFixture(ctx, t, fixture.Template, rep, in)
	kwant := c.state(t)
	want := in.state(t)
	before := c.secrets(t)
	base := []string{"--kubeconfig", c.Kubeconfig, "-n", c.NS}
	r := localRepo(t)
	stateHome := t.TempDir()
	r.Env = append(r.Env, "XDG_STATE_HOME="+stateHome)
	id := strings.TrimSpace(mustRun(t, r, append(base, "backup")...).Stdout)

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

	plan := mustRun(t, r, append(base, "restore", "latest", "--dry-run")...).Stdout
	t.Logf("plan:\n%s", plan)
	at := func(step string) int { return strings.Index(plan, ". "+step+" ") }
	for _, w := range []string{"template, new", "deploy-template", "quiesce", "scale-back", "verify"} {
		if !strings.Contains(plan, w) {
			t.Errorf("the plan into the wiped namespace has no %q", w)
		}
	}
	if !(at("secrets") < at("configmaps") && at("configmaps") < at("deploy-template") && at("deploy-template") < at("quiesce") &&
		at("quiesce") < at("system-mysql") && at("system-mysql") < at("scale-back")) || at("secrets") < 0 {
		t.Fatalf("the plan is not secrets → configmaps → deploy-template → quiesce → data → scale-back:\n%s", plan)
	}

	res := run(t, r, append(base, "restore", "latest", "--yes", "--drop-existing", "--timeout", "2m")...)
	if res.Code != 0 || !strings.Contains(res.Stdout, "restore paused at step deploy-template") || !strings.Contains(res.Stdout, "--resume") {
		t.Fatalf("the restore into the wiped namespace: want exit 0, paused at deploy-template\n%s", res)
	}
	t.Logf("paused:\n%s", res.Stdout)
	file := filepath.Join(stateHome, "3scale-ops", "new-app-"+id+"-"+c.NS+".env")
	if !strings.Contains(res.Stdout, "oc new-app --file amp.yml --param-file "+file) {
		t.Errorf("the output does not print the oc new-app command with %s", file)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("parameter file mode %v, want 0600", fi.Mode().Perm())
	}
	params := readParamFile(t, file)
	u, _ := url.Parse(in.MySQL.URL)
	rootPW, _ := u.User.Password()
	expect := map[string]string{
		"APP_LABEL": "3scale-api-management", "WILDCARD_DOMAIN": rep.WildcardDomain, "TENANT_NAME": before["system-seed"]["TENANT_NAME"],
		"SYSTEM_DATABASE_USER": before["system-database"]["DB_USER"], "SYSTEM_DATABASE_PASSWORD": before["system-database"]["DB_PASSWORD"],
		"SYSTEM_DATABASE": in.MySQL.Name, "SYSTEM_DATABASE_ROOT_PASSWORD": rootPW,
		"SYSTEM_BACKEND_USERNAME": before["backend-internal-api"]["username"], "SYSTEM_BACKEND_PASSWORD": before["backend-internal-api"]["password"],
		"SYSTEM_BACKEND_SHARED_SECRET": before["system-events-hook"]["PASSWORD"], "SYSTEM_APP_SECRET_KEY_BASE": before["system-app"]["SECRET_KEY_BASE"],
		"ADMIN_PASSWORD": before["system-seed"]["ADMIN_PASSWORD"], "ADMIN_USERNAME": before["system-seed"]["ADMIN_USER"],
		"ADMIN_EMAIL": before["system-seed"]["ADMIN_EMAIL"], "ADMIN_ACCESS_TOKEN": before["system-seed"]["ADMIN_ACCESS_TOKEN"],
		"MASTER_NAME": before["system-seed"]["MASTER_DOMAIN"], "MASTER_USER": before["system-seed"]["MASTER_USER"],
		"MASTER_PASSWORD": before["system-seed"]["MASTER_PASSWORD"], "MASTER_ACCESS_TOKEN": before["system-seed"]["MASTER_ACCESS_TOKEN"],
		"RECAPTCHA_PUBLIC_KEY": "", "RECAPTCHA_PRIVATE_KEY": "", "SYSTEM_REDIS_URL": before["system-redis"]["URL"], "SYSTEM_REDIS_NAMESPACE": "",
		"ZYNC_DATABASE_PASSWORD": before["zync"]["ZYNC_DATABASE_PASSWORD"], "ZYNC_SECRET_KEY_BASE": before["zync"]["SECRET_KEY_BASE"],
		"ZYNC_AUTHENTICATION_TOKEN": before["zync"]["ZYNC_AUTHENTICATION_TOKEN"], "APICAST_ACCESS_TOKEN": before["system-master-apicast"]["ACCESS_TOKEN"],
		"APICAST_MANAGEMENT_API": "status", "APICAST_OPENSSL_VERIFY": "false", "APICAST_RESPONSE_CODES": "true",
		"APICAST_REGISTRY_URL": "http://apicast-staging:8090/policies",
	}
	for k, v := range expect {
		if got, ok := params[k]; !ok || got != v {
			t.Errorf("parameter %s = %s", k, redactedDiff(got, v))
		}
	}
	for k := range params {
		if _, ok := expect[k]; !ok {
			t.Errorf("unexpected parameter %s", k)
		}
	}
	for k, v := range params {
		secret := strings.Contains(k, "PASSWORD") || strings.Contains(k, "TOKEN") || strings.Contains(k, "SECRET")
		if secret && len(v) >= 4 && strings.Contains(res.Stdout+res.Stderr, v) {
			t.Errorf("the value of %s is on the terminal", k)
		}
	}
	if j, err := os.ReadFile(filepath.Join(r.Args[1], "restores", id+"-"+c.NS+".json")); err != nil || !strings.Contains(string(j), `"status": "paused"`) && !strings.Contains(string(j), `"status":"paused"`) {
		t.Errorf("the journal does not record the pause (%v):\n%s", err, j)
	}

	// Resumed before 3scale is deployed: what is missing.
	res = run(t, r, append(base, "restore", id, "--resume", "--yes", "--drop-existing", "--timeout", "2m")...)
	if res.Code != 1 || !strings.Contains(res.Stderr, "system-app") || !strings.Contains(res.Stderr, "missing") || !strings.Contains(res.Stderr, "oc new-app") {
		t.Fatalf("--resume before oc new-app: want exit 1 naming the missing workloads\n%s", res)
	}

	// oc new-app: the template's workloads.
	if _, err := fixture.Workloads(ctx, c.KC, c.NS, fixture.Options{Kind: fixture.Template}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the template's workloads settled", func() bool { return c.Sim.Reconcile(ctx) == nil })
	res = run(t, r, append(base, "restore", id, "--resume", "--yes", "--drop-existing", "--timeout", "2m")...)
	if res.Code != 0 {
		t.Fatalf("--resume after oc new-app failed (simulator %q):\n%s", c.Sim.LastError(), res)
	}
	t.Logf("resumed:\n%s", res.Stdout)
	if d := diffLines(want, in.state(t)); d != "" {
		t.Errorf("restored data differs from the backup:\n%s", d)
	}
	if d := diffLines(kwant, c.state(t)); d != "" {
		t.Errorf("restored secrets, configmaps or replicas differ:\n%s", d)
	}
	mustRun(t, r, append(base, "verify", "--snapshot", id)...)
}
