package rdb

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// Keys that expire while a SCAN+DUMP backup reads them (between SCAN and
// DUMP, between DUMP and PTTL, or with a PTTL of 0 ms left) are either
// left out or saved with their expiry: the backup does not fail, and no
// such key comes back from the restore without a TTL.
func TestKeysExpiringDuringFallbackBackupNeverComeBackPersistent(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRedis(t, testenv.RedisOptions{ExtraConf: []string{`rename-command SYNC ""`, `rename-command PSYNC ""`}})
	c := rc(t, src, 0)
	const keep, short = 300, 6000
	fillShort := func() {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := 0; i < keep; i++ {
				p.Set(ctx, fmt.Sprintf("keep:%d", i), "v", 0)
			}
			// 1 to 40 ms: many expire during the scan.
			for i := 0; i < short; i++ {
				p.Set(ctx, fmt.Sprintf("short:%d", i), strings.Repeat("x", 64), time.Duration(1+i%40)*time.Millisecond)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	dst := testenv.StartRedis(t, testenv.RedisOptions{})
	for round := 0; round < 3; round++ {
		fillShort()
		m, meta := backup(t, Config{Component: SystemRedis, Server: opts(src)})
		if fm := meta.Files[0]; fm.Path != "dump-fallback" {
			t.Fatalf("round %d: path %s, want the SCAN+DUMP fallback", round, fm.Path)
		}
		e := mustEngine(t, Config{Component: SystemRedis, Server: opts(dst), Overwrite: true})
		if err := e.Preflight(ctx, m); err != nil {
			t.Fatalf("round %d: preflight: %v", round, err)
		}
		if _, err := e.Restore(ctx, m, nil); err != nil {
			t.Fatalf("round %d: restore: %v", round, err)
		}
		d := rc(t, dst, 0)
		var cursor uint64
		persistent := 0
		for {
			keys, next, err := d.Scan(ctx, cursor, "", 1000).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				ttl := d.PTTL(ctx, k).Val()
				switch {
				case strings.HasPrefix(k, "keep:"):
					if ttl != -1 {
						t.Fatalf("round %d: %s has PTTL %v, want none", round, k, ttl)
					}
					persistent++
				case ttl == -1:
					t.Fatalf("round %d: %s had a TTL of at most 40 ms and came back without one", round, k)
				}
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		if persistent != keep {
			t.Fatalf("round %d: %d persistent keys restored, want %d", round, persistent, keep)
		}
		time.Sleep(60 * time.Millisecond)
		// SCAN skips (and removes) expired keys; DBSIZE may still count them.
		n := 0
		for it := d.Scan(ctx, 0, "", 1000).Iterator(); it.Next(ctx); {
			n++
		}
		if n != keep {
			t.Fatalf("round %d: %d keys 60 ms after the restore, want the %d persistent ones", round, n, keep)
		}
	}
}

// A key whose recorded expiry is in the past, negative included (an
// expiry before 1970: written by a broken tool, or a forged file), is
// expired: a replay restore leaves it out instead of restoring it without
// a TTL, and the writer keeps such an expiry (file mode's filtered copy),
// so that redis-server drops the key when it loads the file.
func TestKeysWithPastOrNegativeExpiryAreNotRestored(t *testing.T) {
	ctx := context.Background()
	var b bytes.Buffer
	w, err := NewWriter(&b, 10)
	if err != nil {
		t.Fatal(err)
	}
	w.SelectDB(0, 4, 3)
	w.Key([]byte("alive"), TypeString, rdbStr([]byte("v")), 0)
	w.Key([]byte("negative"), TypeString, rdbStr([]byte("v")), -5)
	w.Key([]byte("past"), TypeString, rdbStr([]byte("v")), time.Now().Add(-time.Hour).UnixMilli())
	w.Key([]byte("future"), TypeString, rdbStr([]byte("v")), time.Now().Add(time.Hour).UnixMilli())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	p := NewParser(bytes.NewReader(raw), false)
	got := map[string]int64{}
	if err := parseAll(p, func(en *Entry) { got[string(en.Key)] = en.ExpireAt }); err != nil {
		t.Fatal(err)
	}
	if got["negative"] != -5 || got["alive"] != 0 {
		t.Fatalf("the writer or parser lost an expiry: %v", got)
	}

	dst := testenv.StartRedis(t, testenv.RedisOptions{})
	e := mustEngine(t, Config{Component: SystemRedis, Server: opts(dst), Overwrite: true})
	src := memWith(t, map[string][]byte{"dump.rdb": raw}, metaFor(t, raw))
	if err := e.Preflight(ctx, src); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Restore(ctx, src, nil); err != nil {
		t.Fatal(err)
	}
	d := rc(t, dst, 0)
	for k, want := range map[string]time.Duration{"alive": -1, "negative": -2, "past": -2} {
		if ttl := d.PTTL(ctx, k).Val(); ttl != want {
			t.Errorf("%s: PTTL %v after the restore, want %v", k, ttl, want)
		}
	}
	if ttl := d.PTTL(ctx, "future").Val(); ttl <= 0 {
		t.Errorf("future: PTTL %v after the restore, want about an hour", ttl)
	}
}

// SCAN may return a key more than once when the keyspace shrinks between
// two calls (Redis rehashes into a smaller table). The SCAN+DUMP backup
// writes each key once: redis-server aborts loading an RDB with a
// duplicated key, and a replay restore counted it twice.
func TestFallbackBackupWritesEachKeyOnce(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRedis(t, testenv.RedisOptions{ExtraConf: []string{`rename-command SYNC ""`, `rename-command PSYNC ""`, "hz 500"}})
	c := rc(t, src, 0)
	const keep, churn = 5000, 200000
	for round := 0; round < 4; round++ {
		if err := c.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := 0; i < keep; i++ {
				p.Set(ctx, fmt.Sprintf("keep:%d", i), "v", 0)
			}
			for i := 0; i < churn; i++ {
				p.Set(ctx, fmt.Sprintf("gone:%d", i), "v", 0)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Delete the churn keys while the backup scans: the table shrinks
		// under the cursor.
		done := make(chan struct{})
		go func() {
			defer close(done)
			d := rc(t, src, 0)
			for i := 0; i < churn; i += 2000 {
				keys := make([]string, 0, 2000)
				for j := i; j < i+2000; j++ {
					keys = append(keys, fmt.Sprintf("gone:%d", j))
				}
				d.Del(ctx, keys...)
				time.Sleep(time.Millisecond)
			}
		}()
		m, _ := backup(t, Config{Component: SystemRedis, Server: opts(src)})
		<-done
		seen := map[string]int{}
		if err := parseAll(NewParser(bytes.NewReader(m.Bytes("dump.rdb")), false), func(en *Entry) { seen[string(en.Key)]++ }); err != nil {
			t.Fatal(err)
		}
		for k, n := range seen {
			if n > 1 {
				t.Fatalf("round %d: %s is %d times in the fallback RDB", round, k, n)
			}
		}
		for i := 0; i < keep; i++ {
			if seen[fmt.Sprintf("keep:%d", i)] != 1 {
				t.Fatalf("round %d: keep:%d missing from the fallback RDB", round, i)
			}
		}
	}
}

// A SCAN+DUMP snapshot holding a key twice (written before each key was
// written once) restores in replay mode with the right key count, and
// file mode, whose redis-server would abort loading it, is refused
// before anything is touched.
func TestRepeatedKeyInFallbackSnapshot(t *testing.T) {
	ctx := context.Background()
	raw := craftRDB(t,
		craftKey{"a", TypeString, rdbStr([]byte("first"))},
		craftKey{"b", TypeString, rdbStr([]byte("v"))},
		craftKey{"a", TypeString, rdbStr([]byte("again"))},
	)
	meta := metaFor(t, raw)
	meta.Files[0].Path = "dump-fallback"

	dst := testenv.StartRedis(t, testenv.RedisOptions{})
	rc(t, dst, 0).Set(ctx, "stale", "old", 0)
	lt := &localTarget{r: dst}
	err := mustEngine(t, Config{Component: SystemRedis, Server: opts(dst), Overwrite: true, Mode: ModeFile, File: lt}).Preflight(ctx, memWith(t, map[string][]byte{"dump.rdb": raw}, meta))
	if err == nil || errs.Code(err) != errs.Usage || !strings.Contains(errs.Hint(err), "--redis-mode replay") {
		t.Fatalf("file mode of an RDB with a repeated key: %v (hint %q)", err, errs.Hint(err))
	}
	if lt.rollouts != 0 || rc(t, dst, 0).Get(ctx, "stale").Val() != "old" {
		t.Fatal("file mode touched the target before refusing")
	}

	e := mustEngine(t, Config{Component: SystemRedis, Server: opts(dst), Overwrite: true})
	src := memWith(t, map[string][]byte{"dump.rdb": raw}, meta)
	if err := e.Preflight(ctx, src); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Restore(ctx, src, nil); err != nil {
		t.Fatalf("replay of an RDB with a repeated key: %v", err)
	}
	d := rc(t, dst, 0)
	if n := d.DBSize(ctx).Val(); n != 2 {
		t.Fatalf("%d keys after the restore, want 2", n)
	}
	if v := d.Get(ctx, "a").Val(); v != "again" {
		t.Fatalf("a = %q, want the later entry", v)
	}
}
