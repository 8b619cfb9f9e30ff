package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/restore"
)

// Two restores into the same targets, out of two copies of one
// repository (the repository locks cannot see each other): the second
// exits 4 naming the first and leaves the targets alone; the first,
// frozen while the second tried, finishes and the targets match the
// source.
func TestTwoRestoresIntoOneTarget(t *testing.T) {
	src := newInstall(t)
	src.seed(t)
	want := src.state(t)
	dir := t.TempDir()
	r1 := &repo{Args: []string{"-r", filepath.Join(dir, "copy1")}}
	id := backup(t, r1, src)
	if out, err := exec.Command("cp", "-a", filepath.Join(dir, "copy1"), filepath.Join(dir, "copy2")).CombinedOutput(); err != nil {
		t.Fatalf("copy the repository: %v %s", err, out)
	}
	r2 := &repo{Args: []string{"-r", filepath.Join(dir, "copy2")}}

	dst := newInstall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	first := command(ctx, r1, append(dst.flags(), "restore", id, "--yes")...)
	var out bytes.Buffer
	first.Stdout, first.Stderr = &out, &out
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- first.Wait() }()
	// Freeze the first restore once it loads system-mysql: its locks stay
	// held (sessions open, the Redis key within its TTL).
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for stepStatus(journalOf(filepath.Join(dir, "copy1"), id, "local"), restore.StepSystemMySQL) == "" {
		select {
		case err := <-exited:
			t.Fatalf("the first restore ended (%v) before loading system-mysql:\n%s", err, out.String())
		case <-tick.C:
		}
	}
	if err := first.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	res := run(t, r2, append(dst.flags(), "restore", id, "--yes")...)
	if err := first.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if res.Code != 4 || !strings.Contains(res.Stderr, "locked for a restore by") || !strings.Contains(res.Stderr, "KILL ") {
		t.Fatalf("a second restore into the same targets: want exit 4 naming the holder and how to break the lock\n%s", res)
	}
	if journalOf(filepath.Join(dir, "copy2"), id, "local") != nil {
		t.Fatal("the refused restore wrote a journal: it got past the target locks")
	}
	if err := <-exited; err != nil {
		t.Fatalf("the first restore failed after the second was refused: %v\n%s", err, out.String())
	}
	requireEqual(t, "the target after the first restore", want, dst.state(t))
	// The locks went with the first restore: the second can run now.
	res = run(t, r2, append(dst.flags(), "restore", id, "--yes", "--drop-existing")...)
	if res.Code != 0 {
		t.Fatalf("restore after the first released its locks:\n%s", res)
	}
}
