package e2e

import (
	"database/sql"
	"strings"
	"testing"
)

// Probes are best-effort at backup time: a backup of a system database
// without service_tokens succeeds and records why it holds no probes;
// verify, drill and restore of that snapshot then fail naming the reason
// (restore before it changes anything).
func TestBackupWithoutServiceTokensRecordsWhyItHasNoProbes(t *testing.T) {
	src := newInstall(t)
	src.seedWith(t, 42, 1<<20)
	db, err := sql.Open("mysql", src.MySQL.DSN)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DROP TABLE service_tokens"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r := localRepo(t)

	res := mustRun(t, r, append(src.flags(), "backup")...)
	id := strings.TrimSpace(res.Stdout)
	if !strings.Contains(res.Stderr, "no verification probes recorded") || !strings.Contains(res.Stderr, "service_tokens") {
		t.Errorf("the backup does not warn why it recorded no probes:\n%s", res)
	}
	show := mustRun(t, r, "-o", "json", "backups", "show", id)
	if !strings.Contains(show.Stdout, "not_recorded") || !strings.Contains(show.Stdout, "service_tokens") {
		t.Errorf("the manifest does not record why there are no probes:\n%s", show.Stdout)
	}

	named := func(what string, res result) {
		t.Helper()
		if res.Code == 0 || !strings.Contains(res.Stdout+res.Stderr, "service_tokens") || !strings.Contains(res.Stdout+res.Stderr, "no verification probes") {
			t.Fatalf("%s of a snapshot without probes: want a failure naming service_tokens\n%s", what, res)
		}
		t.Logf("%s: exit %d: %s", what, res.Code, lastLines(res.Stdout+res.Stderr, 2))
	}
	named("verify", run(t, r, append(src.flags(), "verify", "--snapshot", id)...))

	dst := newInstall(t)
	before := dst.state(t)
	named("restore", run(t, r, append(dst.flags(), "restore", id, "--yes")...))
	requireEqual(t, "a restore refused for want of probes changed the target", before, dst.state(t))

	named("drill", run(t, r, append(src.flags(), "drill", "--snapshot", id,
		"--target-system-db-url", dst.MySQL.URL, "--target-backend-redis-url", "redis://"+dst.Backend.Addr+"/0")...))

	// The consistency checks alone do not need the probes.
	if res := run(t, r, append(src.flags(), "verify", "--consistency-only")...); strings.Contains(res.Stdout+res.Stderr, "no verification probes") {
		t.Errorf("verify --consistency-only needs the probes:\n%s", res)
	}
}
