package rdb

import (
	"context"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// A target URL naming db 4 of a server whose db 0 belongs to someone else:
// the data goes to db 4 (queues to the queue URL's db), the emptiness
// check and the flush touch those dbs only, and the unrelated key stays.
func TestReplayIntoDB4OfSharedServer(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRedis(t, testenv.RedisOptions{})
	fill(t, src)
	want := contents(t, src)
	m, meta := backup(t, Config{Component: BackendRedis, Server: opts(src)})
	if f := meta.Files[0]; f.URLDB == nil || *f.URLDB != 0 || f.QueueDB == nil || *f.QueueDB != 1 {
		t.Fatalf("backup does not record the source dbs: %+v", f)
	}

	dst := testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true})
	rc(t, dst, 0).Set(ctx, "unrelated/key", "someone else's", 0)
	storage := &redis.Options{Addr: dst.Addr, DB: 4}
	queues := &redis.Options{Addr: dst.Addr, DB: 5}

	e := mustEngine(t, Config{Component: BackendRedis, Server: storage, Queues: queues})
	if err := e.Preflight(ctx, m); err != nil {
		t.Fatalf("preflight refuses empty dbs 4 and 5 because db 0 holds a key: %v", err)
	}
	if _, err := e.Restore(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	got := contents2(t, dst, map[int]int{4: 0, 5: 1})
	sameContents(t, want, got, "dbs 4 and 5 after the restore")
	if v := rc(t, dst, 0).Get(ctx, "unrelated/key").Val(); v != "someone else's" {
		t.Fatalf("the unrelated key in db 0 is gone or changed: %q", v)
	}
	if n := rc(t, dst, 0).DBSize(ctx).Val(); n != 1 {
		t.Fatalf("db 0 holds %d keys, want only the unrelated one", n)
	}
	if n := rc(t, dst, 1).DBSize(ctx).Val(); n != 0 {
		t.Fatalf("db 1 holds %d keys: the queues went to the source's db, not the target URL's", n)
	}

	// Restoring again: db 4 is not empty now. The refusal names the flag.
	err := mustEngine(t, Config{Component: BackendRedis, Server: storage, Queues: queues}).Preflight(ctx, m)
	if err == nil || errs.Code(err) != errs.Usage || !strings.Contains(errs.Hint(err), "--drop-existing") || !strings.Contains(err.Error(), "db 4") {
		t.Fatalf("second restore without consent: %v (hint %q)", err, errs.Hint(err))
	}
	// With consent, only dbs 4 and 5 are emptied.
	rc(t, dst, 4).Set(ctx, "stale/in/db4", "x", 0)
	e = mustEngine(t, Config{Component: BackendRedis, Server: storage, Queues: queues, Overwrite: true})
	if err := e.Preflight(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Restore(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	sameContents(t, want, contents2(t, dst, map[int]int{4: 0, 5: 1}), "dbs 4 and 5 after the restore with --drop-existing")
	if v := rc(t, dst, 0).Get(ctx, "unrelated/key").Val(); v != "someone else's" {
		t.Fatalf("--drop-existing flushed the whole server: the unrelated key in db 0 is gone (%q)", v)
	}

	// File mode replaces the whole server: it refuses a shared one, even
	// with consent, and says what to use instead.
	lt := &localTarget{r: dst}
	err = mustEngine(t, Config{Component: BackendRedis, Server: storage, Queues: queues, Overwrite: true, Mode: ModeFile, File: lt}).Preflight(ctx, m)
	if err == nil || errs.Code(err) != errs.Usage || !strings.Contains(errs.Hint(err), "--redis-mode replay") {
		t.Fatalf("file mode on a shared server: %v (hint %q)", err, errs.Hint(err))
	}
	if lt.rollouts != 0 {
		t.Fatalf("file mode touched the shared server before refusing (%d rollouts)", lt.rollouts)
	}
}

// system-redis: the snapshot's db (the source URL's, 1 in 3scale) goes to
// the target URL's db.
func TestReplaySystemRedisIntoOtherDB(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRedis(t, testenv.RedisOptions{})
	c := rc(t, src, 1)
	c.Set(ctx, "sidekiq:stat:processed", 12, 0)
	c.RPush(ctx, "queue:default", `{"class":"X"}`)
	c.SAdd(ctx, "queues", "default")
	m, _ := backup(t, Config{Component: SystemRedis, Server: &redis.Options{Addr: src.Addr, DB: 1}})

	dst := testenv.StartRedis(t, testenv.RedisOptions{})
	rc(t, dst, 1).Set(ctx, "unrelated", "keep", 0)
	e := mustEngine(t, Config{Component: SystemRedis, Server: &redis.Options{Addr: dst.Addr, DB: 3}, SkipQueues: true})
	if err := e.Preflight(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Restore(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	d3 := rc(t, dst, 3)
	if v := d3.Get(ctx, "sidekiq:stat:processed").Val(); v != "12" {
		t.Fatalf("db 3: stat = %q", v)
	}
	if n := d3.DBSize(ctx).Val(); n != 1 {
		t.Fatalf("db 3 holds %d keys, want 1 (queues skipped)", n)
	}
	if v := rc(t, dst, 1).Get(ctx, "unrelated").Val(); v != "keep" {
		t.Fatalf("db 1 of the target was touched: %q", v)
	}
}

// contents2 is contents over the target dbs of m (target db → source db),
// with keys named by the source db so they compare with the source's.
func contents2(t testing.TB, r *testenv.Redis, m map[int]int) map[string]string {
	t.Helper()
	all := contentsDBs(t, r, 16)
	out := map[string]string{}
	for k, v := range all {
		db, key, _ := strings.Cut(k, "/")
		for tdb, sdb := range m {
			if db == itoa(tdb) {
				out[itoa(sdb)+"/"+key] = v
			}
		}
	}
	return out
}
