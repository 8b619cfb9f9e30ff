package rdb

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

func TestSyncBackupReplayRestoreSurvivesRestart(t *testing.T) {
	for _, tc := range []struct{ conf, transfer string }{
		{"repl-diskless-sync-delay 0", "eof-marker (diskless)"},
		{"repl-diskless-sync no", "length-prefixed"},
	} {
		t.Run(tc.transfer, func(t *testing.T) { testSyncRoundTrip(t, tc.conf, tc.transfer) })
	}
}

func testSyncRoundTrip(t *testing.T, conf, transfer string) {
	ctx := context.Background()
	src := testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true, ExtraConf: []string{conf}})
	fill(t, src)
	want := contents(t, src)

	m, meta := backup(t, Config{Component: BackendRedis, Server: opts(src)})
	fm := meta.Files[0]
	if fm.Path != "sync" || fm.Transfer != transfer || !fm.PointInTime || fm.RDBVersion < 9 || fm.RedisVersion == "" || fm.ReplID == "" {
		t.Fatalf("metadata: %+v", fm)
	}
	if len(fm.DBs) != 2 || fm.DBs[0].Keys != fm.InfoKeyspace["db0"] || fm.DBs[1].Keys != 3 {
		t.Fatalf("db counts: %+v vs INFO %v", fm.DBs, fm.InfoKeyspace)
	}
	if fm.DBs[0].Types["hash"] == 0 || fm.DBs[0].Types["stream"] != 1 || fm.DBs[0].Expires != 121 {
		t.Fatalf("type breakdown: %+v", fm.DBs[0])
	}
	sum, err := Inspect(ctx, m)
	if err != nil || sum.Files[0].DBs[0].Keys != fm.DBs[0].Keys {
		t.Fatalf("inspect: %+v %v", sum, err)
	}
	var exp bytes.Buffer
	if err := Export(ctx, m, &exp); err != nil || !bytes.Equal(exp.Bytes(), m.Bytes("dump.rdb")) {
		t.Fatalf("export: %v (%d bytes)", err, exp.Len())
	}

	dst := testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true, Save: true})
	rc(t, dst, 0).Set(ctx, "stale", "old data", 0)
	e := mustEngine(t, Config{Component: BackendRedis, Server: opts(dst)})
	if err := e.Preflight(ctx, m); err == nil || errs.Code(err) != errs.Usage {
		t.Fatalf("preflight on a non-empty target without consent: %v", err)
	}
	e = mustEngine(t, Config{Component: BackendRedis, Server: opts(dst), Overwrite: true})
	if err := e.Preflight(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Restore(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	sameContents(t, want, contents(t, dst), "after replay restore")
	if configGet(t, dst, "appendonly") != "yes" || configGet(t, dst, "save") == "" {
		t.Fatalf("persistence settings not restored: appendonly=%s save=%q", configGet(t, dst, "appendonly"), configGet(t, dst, "save"))
	}
	if hz := configGet(t, dst, "hz"); hz != "10" { // raised for the AOF rewrite's wait only
		t.Fatalf("hz %s after the restore, 10 before", hz)
	}
	if f := configGet(t, dst, "appendfsync"); f != "everysec" { // always for the final write only
		t.Fatalf("appendfsync %s after the restore, everysec before", f)
	}
	// The AOF alone holds the restore: a kill with no shutdown save and no
	// final fsync loses nothing.
	dst.Crash()
	sameContents(t, want, contents(t, dst), "after SIGKILL and restart with appendonly yes")
	dst.Restart()
	sameContents(t, want, contents(t, dst), "after restart with appendonly yes")
}

func TestFallbackBackupLoadsInRedisServer(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRedis(t, testenv.RedisOptions{ExtraConf: []string{`rename-command SYNC ""`, `rename-command PSYNC ""`}})
	fill(t, src)
	want := contents(t, src)
	m, meta := backup(t, Config{Component: BackendRedis, Server: opts(src)})
	fm := meta.Files[0]
	if fm.Path != "dump-fallback" || fm.PointInTime || len(fm.Notes) == 0 {
		t.Fatalf("metadata: %+v", fm)
	}
	// A real redis-server loads the assembled file at start-up.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dump.rdb"), m.Bytes("dump.rdb"), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded := testenv.StartRedis(t, testenv.RedisOptions{Dir: dir})
	sameContents(t, want, contents(t, loaded), "redis-server loading the fallback RDB")

	// And replay restores it.
	dst := testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true})
	if _, err := mustEngine(t, Config{Component: BackendRedis, Server: opts(dst)}).Restore(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	sameContents(t, want, contents(t, dst), "replay of the fallback RDB")
	_ = ctx
}

func TestDamagedRDBRefusedBeforeFlush(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRedis(t, testenv.RedisOptions{})
	fill(t, src)
	m, meta := backup(t, Config{Component: BackendRedis, Server: opts(src)})
	good := m.Bytes("dump.rdb")

	dst := testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true})
	rc(t, dst, 0).Set(ctx, "precious", "must survive", 0)
	rc(t, dst, 1).RPush(ctx, "resque:queue:main", "job")
	before := contents(t, dst)

	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0x40
	cases := map[string][]byte{
		"truncated":    good[:len(good)*2/3],
		"missing CRC":  good[:len(good)-4],
		"flipped byte": flipped,
		"not an RDB":   []byte("hello world, not redis"),
		"empty":        {},
		"header only":  good[:9],
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			bad := memWith(t, map[string][]byte{"dump.rdb": data}, &meta)
			_, err := mustEngine(t, Config{Component: BackendRedis, Server: opts(dst), Overwrite: true}).Restore(ctx, bad, nil)
			if err == nil {
				t.Fatal("damaged RDB restored")
			}
			msg := err.Error()
			if !strings.Contains(msg, "dump.rdb") || !strings.Contains(msg, "offset") || errs.Hint(err) == "" {
				t.Fatalf("error does not name the file and offset, or has no hint: %v", err)
			}
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("not an ErrFormat: %v", err)
			}
			// Damaged content exits 3 in every engine (README.md, "Exit codes").
			if errs.Code(err) != errs.Mismatch || !errors.Is(err, artifact.ErrCorrupt) {
				t.Fatalf("exit code %d, want %d (damaged content): %v", errs.Code(err), errs.Mismatch, err)
			}
			sameContents(t, before, contents(t, dst), "target after refused restore")
		})
	}
}

func TestSkipQueuesLeavesQueueDB(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRedis(t, testenv.RedisOptions{})
	fill(t, src)
	want := contents(t, src)
	m, _ := backup(t, Config{Component: BackendRedis, Server: opts(src)})

	dst := testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true})
	rc(t, dst, 1).RPush(ctx, "resque:queue:priority", "live-job")
	rc(t, dst, 0).Set(ctx, "stale", "x", 0)
	if _, err := mustEngine(t, Config{Component: BackendRedis, Server: opts(dst), SkipQueues: true}).Restore(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	got := contents(t, dst)
	if got["1/resque:queue:priority"] != "list|false|live-job" || got["1/resque:stat:processed"] != "" {
		t.Fatalf("queue db touched: %q", got["1/resque:queue:priority"])
	}
	if _, ok := got["0/stale"]; ok {
		t.Fatal("db 0 not replaced")
	}
	for k, v := range want {
		if strings.HasPrefix(k, "0/") && got[k] != v {
			t.Fatalf("db 0 key %s differs", k)
		}
	}

	// Fallback path with --skip-queues leaves db 1 out of the file.
	fb := testenv.StartRedis(t, testenv.RedisOptions{})
	fill(t, fb)
	_, meta := backup(t, Config{Component: BackendRedis, Server: opts(fb), Fallback: true, SkipQueues: true})
	if len(meta.Files[0].DBs) != 1 || meta.Files[0].SkippedKeys != 3 {
		t.Fatalf("fallback with skip-queues: %+v", meta.Files[0])
	}
}

func TestSystemRedisSkipsSidekiqQueues(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRedis(t, testenv.RedisOptions{})
	c := rc(t, src, 0)
	c.SAdd(ctx, "queues", "default")
	c.RPush(ctx, "queue:default", "old-job")
	c.Set(ctx, "session:abc", "s", 0)
	c.ZAdd(ctx, "schedule", redisZ(1, "later"))
	m, _ := backup(t, Config{Component: SystemRedis, Server: opts(src)})

	dst := testenv.StartRedis(t, testenv.RedisOptions{})
	d := rc(t, dst, 0)
	d.RPush(ctx, "queue:default", "new-job")
	d.Set(ctx, "session:stale", "x", 0)
	if _, err := mustEngine(t, Config{Component: SystemRedis, Server: opts(dst), SkipQueues: true}).Restore(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	got := contents(t, dst)
	if got["0/queue:default"] != "list|false|new-job" || got["0/session:abc"] == "" || got["0/session:stale"] != "" || got["0/schedule"] == "" {
		t.Fatalf("system-redis with skip-queues: %v", got)
	}
}
