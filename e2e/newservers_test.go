package e2e

import (
	"context"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/fixture"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// secrets reads every secret of the namespace, key by key.
func (c *cluster) secrets(t *testing.T) map[string]map[string]string {
	t.Helper()
	list, err := c.KC.Typed.CoreV1().Secrets(c.NS).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, s := range list.Items {
		if s.Type == "kubernetes.io/service-account-token" {
			continue
		}
		m := map[string]string{}
		for k, v := range s.Data {
			m[k] = string(v)
		}
		out[s.Name] = m
	}
	return out
}

// connectionKeys are the keys of the fixture's secrets that name in's servers.
func (in *install) connectionKeys() map[string]map[string]string {
	u, _ := url.Parse(in.MySQL.URL)
	pw, _ := u.User.Password()
	pu, _ := url.Parse(in.PG.URL)
	zpw, _ := pu.User.Password()
	return map[string]map[string]string{
		"system-database": {"URL": in.MySQL.URL, "DB_USER": u.User.Username(), "DB_PASSWORD": pw},
		"zync":            {"DATABASE_URL": in.PG.URL, "ZYNC_DATABASE_PASSWORD": zpw},
		"backend-redis":   {"REDIS_STORAGE_URL": "redis://" + in.Backend.Addr + "/0", "REDIS_QUEUES_URL": "redis://" + in.Backend.Addr + "/1"},
		"system-redis":    {"URL": "redis://" + in.System.Addr + "/1"},
	}
}

// requireSecrets compares the namespace's secrets key by key with before,
// where the keys of set are expected to hold set's values instead.
func requireSecrets(t *testing.T, what string, got, before map[string]map[string]string, set map[string]map[string]string) {
	t.Helper()
	var diffs []string
	for name, keys := range before {
		for k, v := range keys {
			want := v
			if nv, ok := set[name][k]; ok {
				want = nv
			}
			if g, ok := got[name][k]; !ok || g != want {
				diffs = append(diffs, "secret "+name+" key "+k+" = "+redactedDiff(g, want))
			}
		}
		for k := range got[name] {
			if _, ok := keys[k]; !ok {
				diffs = append(diffs, "secret "+name+" has an extra key "+k)
			}
		}
	}
	for name := range got {
		if _, ok := before[name]; !ok {
			diffs = append(diffs, "extra secret "+name)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("%s: %d differences:\n  %s", what, len(diffs), strings.Join(diffs, "\n  "))
	}
}

// warnedKeys parses the plan's warning about connection keys into secret → keys (sorted).
func warnedKeys(t *testing.T, plan string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, line := range strings.Split(plan, "\n") {
		const head = "warning: after the restore these secret keys will not name the servers given by flags that the data is restored into: "
		if !strings.HasPrefix(line, head) {
			continue
		}
		list, _, _ := strings.Cut(strings.TrimPrefix(line, head), "; ")
		for _, part := range strings.Split(list, "), ") {
			name, keys, ok := strings.Cut(strings.TrimSuffix(part, ")"), " (")
			if !ok {
				t.Fatalf("cannot parse %q in %q", part, line)
			}
			ks := strings.Split(keys, ", ")
			sort.Strings(ks)
			out[name] = ks
		}
		return out
	}
	t.Fatalf("the plan has no warning about connection keys:\n%s", plan)
	return nil
}

// redactedDiff shows two values without their passwords.
func redactedDiff(got, want string) string {
	short := func(s string) string {
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			return u.Redacted()
		}
		if len(s) > 6 {
			return s[:3] + "…"
		}
		return s
	}
	return short(got) + ", want " + short(want)
}

// TestRestoreIntoNewServersRewritesConnections restores an operator
// installation into new database and Redis servers given by flags. The
// plan warns naming every secret key that would still name the source's
// servers; with --rewrite-connections the restored secrets name the new
// servers key by key (every other key as backed up), verify passes with
// no connection flag at all (the secrets alone lead to the new servers),
// and a restore of one store into yet another server sets its keys in
// the namespace's secrets through the connections step.
func TestRestoreIntoNewServersRewritesConnections(t *testing.T) {
	src := newInstall(t)
	rep := src.seed(t)
	want := src.state(t)
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c.installFixture(ctx, t, fixture.Operator, rep, src)
	before := c.secrets(t)
	r := localRepo(t)
	id := strings.TrimSpace(mustRun(t, r, append(c.flags(src), "backup")...).Stdout)

	dst := newInstall(t)
	if err := os.MkdirAll(dst.Storage, 0o755); err != nil {
		t.Fatal(err)
	}
	c.setStorage(dst.Storage)
	plan := mustRun(t, r, append(c.flags(dst), "restore", id, "--dry-run")...)
	warned := warnedKeys(t, plan.Stdout)
	for name, keys := range dst.connectionKeys() {
		var differ []string
		for k, v := range keys {
			if before[name][k] != v {
				differ = append(differ, k)
			}
		}
		sort.Strings(differ)
		if len(differ) == 0 || strings.Join(warned[name], ",") != strings.Join(differ, ",") {
			t.Errorf("secret %s: the plan warns about keys %v, want %v:\n%s", name, warned[name], differ, plan.Stdout)
		}
	}
	res := run(t, r, append(c.flags(dst), "restore", id, "--yes", "--rewrite-connections", "--timeout", "2m")...)
	if res.Code != 0 {
		t.Fatalf("restore into new servers failed (simulator: %q):\n%s", c.Sim.LastError(), res)
	}
	if !strings.Contains(res.Stdout, "set to the restore's targets") {
		t.Errorf("the report does not list the keys it set:\n%s", res.Stdout)
	}
	requireEqual(t, "data restored into the new servers", want, dst.state(t))
	requireSecrets(t, "secrets after a restore into new servers", c.secrets(t), before, dst.connectionKeys())
	// The secrets alone now lead to the new servers.
	mustRun(t, r, "--kubeconfig", c.Kubeconfig, "-n", c.NS, "verify", "--snapshot", id)

	// One store into yet another server: its secret is not restored, the
	// connections step sets its keys in the namespace.
	third := newInstall(t)
	flags := c.flags(dst)
	for i, f := range flags {
		if f == "--system-db-url" {
			flags[i+1] = third.MySQL.URL
		}
	}
	res = run(t, r, append(flags, "restore", id, "--components", "system-mysql", "--rewrite-connections", "--yes", "--timeout", "2m")...)
	if res.Code != 0 || !strings.Contains(res.Stdout, "connections") {
		t.Fatalf("restore of system-mysql into a third server:\n%s", res)
	}
	set := dst.connectionKeys()
	set["system-database"] = third.connectionKeys()["system-database"]
	requireSecrets(t, "secrets after a restore of system-mysql into a third server", c.secrets(t), before, set)
}

// TestDrillIntoNamespaceWithNewServers drills into a scratch namespace
// with scratch servers given by --target-* flags: the drill passes and
// the scratch namespace's restored secrets name the scratch servers, never
// the source's. A scratch namespace without secrets of its own is refused
// (its servers would come from the snapshot's secrets: the source's).
func TestDrillIntoNamespaceWithNewServers(t *testing.T) {
	src := newInstall(t)
	rep := src.seed(t)
	want := src.state(t)
	a := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conns := fixture.Conns{SystemDatabaseURL: src.MySQL.URL, ZyncDatabaseURL: src.PG.URL,
		BackendRedisStorageURL: "redis://" + src.Backend.Addr + "/0", BackendRedisQueuesURL: "redis://" + src.Backend.Addr + "/1",
		SystemRedisURL: "redis://" + src.System.Addr + "/1"}
	if _, err := fixture.Install(ctx, a.KC, a.NS, fixture.Options{Kind: fixture.Template, Dataset: rep, Conns: conns}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "source settled", func() bool { return a.Sim.Reconcile(ctx) == nil })
	a.setStorage(src.Storage)
	r := localRepo(t)
	id := strings.TrimSpace(mustRun(t, r, append(a.flags(src), "backup")...).Stdout)
	before := a.secrets(t)

	b := newCluster(t) // the scratch namespace, as 3scale installed it: its secrets name servers of its own (unused here)
	if _, err := fixture.Install(ctx, b.KC, b.NS, fixture.Options{Kind: fixture.Template, Dataset: rep, Conns: fixture.Conns{
		SystemDatabaseURL: "mysql2://root:scratchpw@scratch-mysql:3306/system", ZyncDatabaseURL: "postgresql://zync:scratchzpw@scratch-pg:5432/zync_production",
		BackendRedisStorageURL: "redis://scratch-redis:6379/0", BackendRedisQueuesURL: "redis://scratch-redis:6379/1", SystemRedisURL: "redis://scratch-redis2:6379/1"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "scratch settled", func() bool { return b.Sim.Reconcile(ctx) == nil })
	dst := newInstall(t)
	if err := os.MkdirAll(dst.Storage, 0o755); err != nil {
		t.Fatal(err)
	}
	b.setStorage(dst.Storage)
	// Through b's exec endpoint: the restore's pod steps reach the scratch storage.
	srcFlags := []string{"--kubeconfig", b.Kubeconfig, "-n", a.NS, "--system-storage", "pod"}
	res := run(t, r, append(srcFlags, "drill", "--snapshot", id, "--target-namespace", b.NS, "--require-all",
		"--target-system-db-url", dst.MySQL.URL, "--target-zync-db-url", dst.PG.URL,
		"--target-backend-redis-url", "redis://"+dst.Backend.Addr+"/0", "--target-backend-redis-queues-url", "redis://"+dst.Backend.Addr+"/1",
		"--target-system-redis-url", "redis://"+dst.System.Addr+"/1")...)
	if res.Code != 0 || !strings.Contains(res.Stdout, "drill PASSED") {
		t.Fatalf("drill into a namespace with new servers (simulator %q):\n%s", b.Sim.LastError(), res)
	}
	requireEqual(t, "drilled data", want, dst.state(t))
	requireSecrets(t, "the scratch namespace's secrets after the drill", b.secrets(t), before, dst.connectionKeys())

	empty := newCluster(t)
	res = run(t, r, append(srcFlags, "drill", "--snapshot", id, "--target-namespace", empty.NS, "--target-system-db-url", dst.MySQL.URL)...)
	if res.Code != 2 || !strings.Contains(res.Stderr, "--target-zync-db-url") || !strings.Contains(res.Stderr, "the source's") {
		t.Fatalf("a drill into a namespace without secrets: want a refusal naming the missing target\n%s", res)
	}
}
