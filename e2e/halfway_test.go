package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/e2e/internal/fingerprint"
	"github.com/3scale-ops/3scale-ops/internal/restore"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// brokenSystemRedis gives dst a system-redis that refuses RESTORE: the
// restore passes preflight and then fails, every time, at step
// system-redis — a step that keeps failing.
func brokenSystemRedis(t *testing.T, dst *install) {
	dst.System = testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true,
		ExtraConf: []string{"enable-debug-command local", `rename-command RESTORE ""`}})
}

func without(st fingerprint.State, prefix string) fingerprint.State {
	out := fingerprint.State{}
	for k, v := range st {
		if !strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// Out of a half-finished restore: a step that keeps failing is left out
// with --resume --skip-step (recorded, reported, named by verify), and
// `restore --abandon` removes a journal (S3) and a dead run's lock (disk).
func TestRestoreSkipStepAndAbandon(t *testing.T) {
	src := newInstall(t)
	src.seed(t)
	want := src.state(t)
	r := s3Repo(t)
	id := backup(t, r, src)

	dst := newInstall(t)
	brokenSystemRedis(t, dst)
	res := run(t, r, append(dst.flags(), "restore", id, "--yes")...)
	if res.Code != 1 || !strings.Contains(res.Stderr, "restore step system-redis") || !strings.Contains(res.Stderr, "--skip-step system-redis") {
		t.Fatalf("restore into a system-redis that refuses RESTORE: want exit 1 at step system-redis naming --skip-step\n%s", res)
	}
	res = run(t, r, append(dst.flags(), "restore", id, "--yes")...)
	if res.Code != 2 || !strings.Contains(res.Stderr, "restore --abandon "+id) {
		t.Fatalf("a new restore over the unfinished one: want exit 2 naming --abandon\n%s", res)
	}
	res = run(t, r, append(dst.flags(), "restore", id, "--resume", "--yes", "--skip-step", "no-such-step")...)
	if res.Code != 2 || !strings.Contains(res.Stderr, "system-redis") {
		t.Fatalf("--skip-step of an unknown step: want exit 2 listing the steps\n%s", res)
	}
	res = mustRun(t, r, append(dst.flags(), "-o", "json", "restore", id, "--resume", "--yes", "--skip-step", "system-redis")...)
	var doc struct {
		Report struct {
			Skipped []string
			Steps   []restore.StepState
		}
	}
	if err := json.Unmarshal([]byte(res.Stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	if strings.Join(doc.Report.Skipped, ",") != "system-redis" {
		t.Fatalf("report skipped: %v", doc.Report.Skipped)
	}
	for _, s := range doc.Report.Steps {
		switch s.Name {
		case "system-redis":
			if s.Status != restore.Skipped || !strings.Contains(s.Summary, "--skip-step") {
				t.Errorf("skipped step: %+v", s)
			}
		case "verify":
			if s.Status != restore.Done || !strings.Contains(s.Summary, "(skipped): system-redis") {
				t.Errorf("verify does not name the skipped step: %+v", s)
			}
		default:
			if s.Status != restore.Done {
				t.Errorf("step %s: %s", s.Name, s.Status)
			}
		}
	}
	requireEqual(t, "restored stores but the skipped one", without(want, "system-redis/"), without(dst.state(t), "system-redis/"))

	// --abandon on S3: the journal of a failed run.
	dst2 := newInstall(t)
	brokenSystemRedis(t, dst2)
	if res := run(t, r, append(dst2.flags(), "restore", id, "--yes")...); res.Code != 1 {
		t.Fatalf("want the restore to stop at system-redis:\n%s", res)
	}
	if res := run(t, r, append(dst2.flags(), "restore", "--abandon", id)...); res.Code != 2 || !strings.Contains(res.Stderr, "--yes") {
		t.Fatalf("--abandon without confirmation in a non-interactive run: want exit 2\n%s", res)
	}
	res = mustRun(t, r, append(dst2.flags(), "restore", "--abandon", id, "--yes")...)
	if !strings.Contains(res.Stdout, "abandoned: "+id+"-local-") {
		t.Fatalf("abandon output:\n%s", res)
	}
	if res := run(t, r, append(dst2.flags(), "restore", id, "--yes", "--drop-existing")...); res.Code == 2 || strings.Contains(res.Stderr, "unfinished restore") {
		t.Fatalf("a new restore after --abandon is still refused:\n%s", res)
	}

	// --abandon on disk: a SIGKILLed run leaves its journal and its lock.
	lr := localRepo(t)
	lid := backup(t, lr, src)
	dst3 := newInstall(t)
	if !killAt(t, lr, lr.Args[1], lid, dst3.flags(), killPoint{Step: restore.StepBackendRedis, Status: restore.Running}) {
		t.Fatal("the restore finished before it could be killed")
	}
	if locks, _ := filepath.Glob(filepath.Join(lr.Args[1], "locks", "*.json")); len(locks) != 1 {
		t.Fatalf("locks after SIGKILL: %v", locks)
	}
	mustRun(t, lr, append(dst3.flags(), "restore", "--abandon", lid, "--yes")...)
	if j, _ := filepath.Glob(filepath.Join(lr.Args[1], "restores", lid+"-*.json")); len(j) != 0 {
		t.Fatalf("journal left after --abandon: %v", j)
	}
	if locks, _ := filepath.Glob(filepath.Join(lr.Args[1], "locks", "*.json")); len(locks) != 0 {
		t.Fatalf("lock left after --abandon: %v", locks)
	}
	mustRun(t, lr, append(dst3.flags(), "restore", lid, "--yes", "--drop-existing")...)
	requireEqual(t, "restore after --abandon", want, dst3.state(t))
}
