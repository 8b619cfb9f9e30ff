package e2e

import (
	"strings"
	"testing"
)

// A --resume must write the rest of the snapshot where the interrupted
// run wrote its first steps. Given another system database than the first
// run (the --local journal key is a hash of the targets, so the journal
// is not even found under them), the resume is refused, exit 2, naming
// the component and both servers, and the other server stays empty.
func TestResumeRefusesOtherTargets(t *testing.T) {
	src := newInstall(t)
	src.seed(t)
	r := localRepo(t)
	id := backup(t, r, src)

	dst := newInstall(t)
	brokenSystemRedis(t, dst)
	if res := run(t, r, append(dst.flags(), "restore", id, "--yes")...); res.Code != 1 || !strings.Contains(res.Stderr, "restore step system-redis") {
		t.Fatalf("want the restore to stop at system-redis:\n%s", res)
	}
	other := newInstall(t)
	empty := other.state(t)
	flags := dst.flags()
	for i, f := range flags {
		if f == "--system-db-url" {
			flags[i+1] = other.MySQL.URL
		}
	}
	res := run(t, r, append(flags, "restore", id, "--resume", "--yes")...)
	if res.Code != 2 || !strings.Contains(res.Stderr, "system-mysql: first run") ||
		!strings.Contains(res.Stderr, dst.MySQL.Name) || !strings.Contains(res.Stderr, other.MySQL.Name) || !strings.Contains(res.Stderr, "--abandon") {
		t.Fatalf("--resume into another system database: want exit 2 naming system-mysql, both databases and --abandon\n%s", res)
	}
	requireEqual(t, "the other servers after the refused resume", empty, other.state(t))
	// The same targets resume (and stop again at the broken system-redis).
	if res := run(t, r, append(dst.flags(), "restore", id, "--resume", "--yes")...); res.Code != 1 || !strings.Contains(res.Stderr, "restore step system-redis") {
		t.Fatalf("--resume with the first run's targets: want it to continue to system-redis\n%s", res)
	}
}
