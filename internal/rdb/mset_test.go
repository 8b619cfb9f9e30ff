package rdb

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// Plain strings without an expiry are replayed as MSETs. Every kind of
// key around them (strings with a TTL, integers, LZF-compressed strings,
// collections, other databases, values that fill an MSET by bytes before
// it is full by count) comes back as it was, and the count check agrees.
func TestReplayGathersPlainStringsIntoMSET(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRedis(t, testenv.RedisOptions{ExtraConf: []string{"repl-diskless-sync-delay 0"}})
	for db := 0; db < 2; db++ { // backend-redis: data and queues
		c := rc(t, src, db)
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := 0; i < 1000; i++ {
				k := fmt.Sprintf("db%d/k:%d", db, i)
				switch i % 10 {
				case 3:
					p.Set(ctx, k, i, time.Hour) // SET … PXAT between MSETs
				case 5:
					p.SAdd(ctx, k, "a", "b") // RESTORE between MSETs
				case 7:
					p.Set(ctx, k, strings.Repeat("x", 15000)+k, 0) // bytes limit
				case 8:
					p.Set(ctx, k, strings.Repeat(k, 200), 0) // LZF: RESTORE
				default:
					p.Set(ctx, k, i*7919, 0)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	want := contents(t, src)
	m, _ := backup(t, Config{Component: BackendRedis, Server: opts(src)})

	dst := testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true})
	e := mustEngine(t, Config{Component: BackendRedis, Server: opts(dst), Overwrite: true})
	if err := e.Preflight(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Restore(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	sameContents(t, want, contents(t, dst), "after a replay with MSET")
	if ttl := rc(t, dst, 1).PTTL(ctx, "db1/k:3").Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("db1/k:3: PTTL %v, want its hour", ttl)
	}
	if ttl := rc(t, dst, 1).PTTL(ctx, "db1/k:4").Val(); ttl != -1 {
		t.Fatalf("db1/k:4: PTTL %v, want none", ttl)
	}

	// A user that may RESTORE and SET but not MSET: the error names the
	// command and its first key.
	admin := rc(t, dst, 0)
	if err := admin.Do(ctx, "ACL", "SETUSER", "nomset", "on", ">pw", "~*", "&*", "+@all", "-mset").Err(); err != nil {
		t.Fatal(err)
	}
	o := opts(dst)
	o.Username, o.Password = "nomset", "pw"
	e = mustEngine(t, Config{Component: BackendRedis, Server: o, Overwrite: true})
	if err := e.Preflight(ctx, m); err != nil {
		t.Fatal(err)
	}
	_, err := e.Restore(ctx, m, nil)
	if err == nil || !strings.Contains(err.Error(), "MSET of ") || !strings.Contains(err.Error(), ` "db`) || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("restore as a user without MSET: %v", err)
	}
}
