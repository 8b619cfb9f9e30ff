package rdb

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// localTarget is a FileModeTarget whose "pod" is a local redis-server:
// its redis.conf plays the redis-config ConfigMap, Restart plays the
// rollout, and Exec runs commands on this machine.
type localTarget struct {
	r        *testenv.Redis
	rollouts int
	failExec string // make the first Exec containing this fail
}

func (l *localTarget) Persistence(context.Context) (string, bool, error) {
	b, err := os.ReadFile(l.r.Conf)
	if err != nil {
		return "", false, err
	}
	var saves []string
	aof := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "save" && f[1] != `""` {
			saves = append(saves, f[1:]...)
		}
		if len(f) == 2 && f[0] == "appendonly" {
			aof = f[1] == "yes"
		}
	}
	return strings.Join(saves, " "), aof, nil
}

func (l *localTarget) SetPersistence(_ context.Context, save string, aof bool) error {
	b, err := os.ReadFile(l.r.Conf)
	if err != nil {
		return err
	}
	var out []string
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if strings.HasPrefix(line, "save ") || strings.HasPrefix(line, "appendonly ") {
			continue
		}
		out = append(out, line)
	}
	if save == "" {
		save = `""`
	}
	yn := map[bool]string{true: "yes", false: "no"}[aof]
	out = append(out, "save "+save, "appendonly "+yn)
	if err := os.WriteFile(l.r.Conf, []byte(strings.Join(out, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	l.r.Restart()
	l.rollouts++
	return nil
}

func (l *localTarget) Exec(ctx context.Context, cmd []string, stdin io.Reader, stdout io.Writer) error {
	if l.failExec != "" && strings.Contains(strings.Join(cmd, " "), l.failExec) {
		l.failExec = ""
		return errors.New("exec: connection to the pod lost")
	}
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	c.Dir, c.Stdin, c.Stdout = l.r.Dir, stdin, stdout
	return c.Run()
}

func (l *localTarget) DataDir() string { return l.r.Dir }

func TestFileModeRoundTripAndResume(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRedis(t, testenv.RedisOptions{ExtraConf: []string{"repl-diskless-sync-delay 0"}})
	fill(t, src)
	want := contents(t, src)
	m, _ := backup(t, Config{Component: BackendRedis, Server: opts(src)})

	dst := testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true, Save: true})
	rc(t, dst, 0).Set(ctx, "stale", "old", 0)
	rc(t, dst, 2).Set(ctx, "other-db", "old", 0)
	target := &localTarget{r: dst, failExec: "cat >"}
	j := &MemoryJournal{}
	cfg := Config{Component: BackendRedis, Server: opts(dst), Mode: ModeFile, File: target, Journal: j, Overwrite: true}

	// First attempt: the copy into the pod fails midway.
	_, err := mustEngine(t, cfg).Restore(ctx, m, nil)
	if err == nil || !strings.Contains(err.Error(), StepCopyDump) {
		t.Fatalf("want a copy-dump failure, got %v", err)
	}
	done := j.Steps()
	if len(done) != 3 || !strings.HasSuffix(done[2], StepMoveAside) {
		t.Fatalf("journal after failure: %v", done)
	}
	// Resume: finishes from copy-dump on.
	if _, err := mustEngine(t, cfg).Restore(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(j.Steps()); n != 8 {
		t.Fatalf("journal: %v", j.Steps())
	}
	sameContents(t, want, contents(t, dst), "after file-mode restore")
	save, aof, _ := target.Persistence(ctx)
	if !aof || save == "" {
		t.Fatalf("configuration not restored: save=%q appendonly=%v", save, aof)
	}
	aside, _ := filepath.Glob(filepath.Join(dst.Dir, "*-old-*"))
	if len(aside) < 2 {
		t.Fatalf("previous dump.rdb and AOF not kept aside: %v", aside)
	}
	// The classic AOF loss: restart with appendonly yes must keep everything.
	dst.Restart()
	sameContents(t, want, contents(t, dst), "after restart with appendonly yes")

	// Running again with the finished journal changes nothing.
	before := target.rollouts
	if _, err := mustEngine(t, cfg).Restore(ctx, m, nil); err != nil || target.rollouts != before {
		t.Fatalf("finished journal re-ran steps: %v, rollouts %d→%d", err, before, target.rollouts)
	}
}
