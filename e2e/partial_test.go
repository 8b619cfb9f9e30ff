package e2e

import (
	"strings"
	"testing"
)

// A restore of only some components, in --local mode without the
// connections the verification reads, restores them and exits 0: the plan
// and the report say "verify skipped" and what it needs. --require-verify
// turns that into a failure before anything is changed.
func TestPartialRestoreSkipsVerifyItCannotRun(t *testing.T) {
	src := newInstall(t)
	src.seedWith(t, 42, 1<<20)
	r := localRepo(t)
	id := backup(t, r, src)
	dst := newInstall(t)

	for _, c := range []struct {
		name, components, needs string
		flags                   []string
		restored                string // the fingerprint prefix that must equal the source's
	}{
		{
			name: "system-mysql and zync-postgres without --backend-redis-url", components: "system-mysql,zync-postgres",
			needs: "backend-redis (--backend-redis-url is not set)", restored: "system-mysql/",
			flags: []string{"--local", "--system-db-url", dst.MySQL.URL, "--zync-db-url", dst.PG.URL},
		},
		{
			name: "backend-redis without --system-db-url", components: "backend-redis",
			needs: "system-mysql (--system-db-url is not set)", restored: "backend-redis/",
			flags: []string{"--local", "--backend-redis-url", "redis://" + dst.Backend.Addr + "/0",
				"--backend-redis-queues-url", "redis://" + dst.Backend.Addr + "/1"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{}, c.flags...), "restore", id, "--components", c.components, "--yes")

			// --require-verify: refused before the first step, nothing changed.
			before := dst.state(t)
			res := run(t, r, append(args, "--require-verify")...)
			if res.Code != 2 || !strings.Contains(res.Stderr, "--require-verify") || !strings.Contains(res.Stderr, c.needs) {
				t.Fatalf("--require-verify without what verify needs: want exit 2 naming %q\n%s", c.needs, res)
			}
			requireEqual(t, "a refused --require-verify restore changed the target", before, dst.state(t))
			// The same with the environment variable.
			env := &repo{Args: r.Args, Env: append(append([]string{}, r.Env...), "THREESCALE_OPS_REQUIRE_VERIFY=true")}
			if res := run(t, env, args...); res.Code != 2 || !strings.Contains(res.Stderr, "--require-verify") {
				t.Fatalf("THREESCALE_OPS_REQUIRE_VERIFY=true: want exit 2\n%s", res)
			}

			res = run(t, r, args...)
			if res.Code != 0 {
				t.Fatalf("partial restore without what verify needs: want exit 0\n%s", res)
			}
			if !strings.Contains(res.Stdout, "verify: skipped, needs "+c.needs) {
				t.Errorf("the plan does not say verify is skipped and what it needs (%s):\n%s", c.needs, res.Stdout)
			}
			if !strings.Contains(res.Stdout, "verify skipped: needs "+c.needs) || !strings.Contains(res.Stderr, "verify skipped") {
				t.Errorf("the report does not say verify was skipped:\n%s", res)
			}
			t.Logf("%s", res)
			want, got := src.state(t), dst.state(t)
			requireEqual(t, "restored "+strings.TrimSuffix(c.restored, "/"), only(want, c.restored), only(got, c.restored))

			// The JSON output carries the reason too.
			res = run(t, r, append(append(append([]string{}, c.flags...), "-o", "json"), "restore", id, "--components", c.components, "--dry-run")...)
			if res.Code != 0 || !strings.Contains(res.Stdout, `"verify_skipped"`) {
				t.Errorf("the JSON plan has no verify_skipped:\n%s", res)
			}
		})
	}
}
