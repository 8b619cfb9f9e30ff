package rdb

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

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
