package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/restore"
)

// killPoint says when to SIGKILL a restore: when step Step reaches Status
// in the journal, plus Delay (a kill in the middle of the step).
type killPoint struct {
	Step   string
	Status string // running or done
	Delay  time.Duration
}

func (k killPoint) String() string {
	if k.Delay > 0 {
		return fmt.Sprintf("%s+%s", k.Step, k.Delay)
	}
	return k.Step + "=" + k.Status
}

// localSteps are the steps of a --local restore with verification.
var localSteps = []string{restore.StepPreflight, restore.StepSystemMySQL, restore.StepStorage,
	restore.StepZyncPostgres, restore.StepBackendRedis, restore.StepSystemRedis, restore.StepVerify}

// journalFile is the path of the journal of restoring snapshot id in a
// local-directory repository: the namespace's, or with "local" the newest
// of those --local keys by their targets (each kill point restores into
// fresh targets, so the newest is the current run's).
func journalFile(repoDir, id, namespace string) string {
	if namespace == "local" {
		m, _ := filepath.Glob(filepath.Join(repoDir, "restores", id+"-local-*.json"))
		newest, newestTime := "", time.Time{}
		for _, f := range m {
			if fi, err := os.Stat(f); err == nil && fi.ModTime().After(newestTime) {
				newest, newestTime = f, fi.ModTime()
			}
		}
		if newest != "" {
			return newest
		}
	}
	return filepath.Join(repoDir, "restores", restore.JournalName(id, namespace)+".json")
}

// journalOf reads the restore journal of a local-directory repository
// (nil while there is none).
func journalOf(repoDir, id, namespace string) *restore.Journal {
	b, err := os.ReadFile(journalFile(repoDir, id, namespace))
	if err != nil {
		return nil
	}
	var j restore.Journal
	if json.Unmarshal(b, &j) != nil {
		return nil
	}
	return &j
}

func stepStatus(j *restore.Journal, step string) string {
	if j == nil {
		return ""
	}
	for _, s := range j.Steps {
		if s.Name == step {
			return s.Status
		}
	}
	return ""
}

// killAt runs `restore id --yes` and SIGKILLs it at kp. It reports
// whether the process was killed (false: it finished before the point).
func killAt(t *testing.T, r *repo, repoDir, id string, flags []string, kp killPoint, extra ...string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := command(ctx, r, append(append(append([]string{}, flags...), "restore", id, "--yes"), extra...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	// The journal of the previous kill point's (finished) restore is
	// still there until this run rewrites it: wait for a fresh one.
	start := time.Now()
	for {
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("restore exited (%v) before kill point %s:\n%s", err, kp, out.String())
			}
			return false
		case <-tick.C:
		}
		j := journalOf(repoDir, id, "local")
		if j == nil || j.Finished || j.Started.Before(start.Add(-time.Second)) {
			continue
		}
		st := stepStatus(j, kp.Step)
		if st == kp.Status || (kp.Status == restore.Running && st == restore.Done) {
			break
		}
	}
	if kp.Delay > 0 {
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("restore failed before kill point %s: %v\n%s", kp, err, out.String())
			}
			return false
		case <-time.After(kp.Delay):
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	err := <-exited
	if ee, ok := err.(interface{ Sys() any }); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return true
		}
	}
	return false // it finished (or failed) before the signal landed
}

// TestRestoreKillPoints SIGKILLs the restore at every step boundary
// (the moment the journal says a step is running, and the moment it says
// it is done) and in the middle of each data step, then runs
// `restore --resume`: every kill point must reach the same end state,
// equal to the source.
func TestRestoreKillPoints(t *testing.T) {
	src := newInstall(t)
	src.seed(t)
	want := src.state(t)
	r := localRepo(t)
	repoDir := r.Args[1]
	id := backup(t, r, src)

	var points []killPoint
	for _, s := range localSteps {
		points = append(points, killPoint{Step: s, Status: restore.Running}, killPoint{Step: s, Status: restore.Done})
		if s != restore.StepPreflight && s != restore.StepVerify {
			points = append(points, killPoint{Step: s, Status: restore.Running, Delay: 150 * time.Millisecond})
		}
	}
	killed, identical := 0, 0
	var report []string
	// A kill that lands after the journal says finished but before the
	// repository lock is released leaves the dead run's lock: the next
	// restore, like an operator's, removes it with --unlock-stale.
	var unlock []string
	for i, kp := range points {
		dst := newInstall(t)
		hit := killAt(t, r, repoDir, id, dst.flags(), kp, unlock...)
		unlock = nil
		note := ""
		if hit {
			j := journalOf(repoDir, id, "local")
			if j == nil {
				t.Fatalf("kill point %s: no journal after SIGKILL", kp)
			}
			if j.Finished {
				// The signal landed after the restore had recorded its
				// end (possible at the last steps): the restore is
				// complete, and a resume has nothing to do; only its
				// lock may be left.
				hit = false
				unlock = []string{"--unlock-stale"}
			}
		}
		if hit {
			killed++
			if i == 0 {
				// The operator's first try: the dead run's lock is reported
				// with the way out.
				res := run(t, r, append(dst.flags(), "restore", id, "--resume", "--yes")...)
				if res.Code != 4 || !strings.Contains(res.Stderr, "--unlock-stale") {
					t.Errorf("resume over a dead run's lock: want exit 4 naming --unlock-stale\n%s", res)
				}
			}
			res := run(t, r, append(dst.flags(), "restore", id, "--resume", "--yes", "--unlock-stale")...)
			if res.Code != 0 {
				t.Errorf("kill point %s: resume failed (exit %d): %s", kp, res.Code, lastLines(res.Stderr, 2))
				// Learn whether the operator's way out works, so the
				// report says what exactly is broken, and leave a
				// finished journal for the next kill point.
				res = run(t, r, append(dst.flags(), "restore", id, "--resume", "--yes", "--drop-existing")...)
				if res.Code != 0 {
					report = append(report, kp.String()+": resume FAILED, also with --drop-existing")
					_ = os.Remove(journalFile(repoDir, id, "local"))
					continue
				}
				note = "; plain --resume FAILED, --resume --drop-existing completed"
			}
		}
		got, err := dst.fingerprint()
		if err != nil {
			t.Fatal(err)
		}
		if d := diffLines(want, got); d != "" {
			t.Errorf("kill point %s (killed=%t): end state differs from the source:\n%s", kp, hit, d)
			report = append(report, kp.String()+": DIFFERENT"+note)
			continue
		}
		if note == "" {
			identical++
		}
		report = append(report, fmt.Sprintf("%s: killed=%t identical%s", kp, hit, note))
	}
	t.Logf("kill points: %d tried, %d killed mid-run, %d reached the identical end state\n  %s",
		len(points), killed, identical, strings.Join(report, "\n  "))
	if killed < len(points)/2 {
		t.Errorf("only %d of %d kill points landed before the restore finished", killed, len(points))
	}
}
