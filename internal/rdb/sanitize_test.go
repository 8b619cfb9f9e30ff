package rdb

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// TestReplayTurnsOnServerSanitizer reads, from the target's slow log set to
// record every command (MONITOR leaves CONFIG out), what a replay restore
// sent: the server's own payload check (sanitize-dump-payload yes) is on
// before the first RESTORE and back to its setting after, the AOF is made
// durable with one write under appendfsync always, and no AOF rewrite or
// appendonly switch is asked for.
func TestReplayTurnsOnServerSanitizer(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true})
	fill(t, src)
	m, _ := backup(t, Config{Component: BackendRedis, Server: opts(src)})

	dst := testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true,
		ExtraConf: []string{"slowlog-log-slower-than 0", "slowlog-max-len 100000"}})
	c := rc(t, dst, 0)
	if err := c.SlowLogReset(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	e := mustEngine(t, Config{Component: BackendRedis, Server: opts(dst)})
	if _, err := e.Restore(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	logs, err := c.SlowLogGet(ctx, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var seen []string // oldest first
	for _, l := range slices.Backward(logs) {
		seen = append(seen, strings.ToLower(strings.Join(l.Args, " ")))
	}
	first := func(prefix string) int {
		return slices.IndexFunc(seen, func(s string) bool { return strings.HasPrefix(s, prefix) })
	}
	on, restore := first("config set sanitize-dump-payload yes"), first("restore ")
	always, write := first("config set appendfsync always"), first("set 3scale-ops:aof-sync")
	if on < 0 || restore < 0 || on > restore {
		t.Fatalf("sanitize-dump-payload yes at %d, first RESTORE at %d (of %d commands)", on, restore, len(seen))
	}
	if always < 0 || write < always || first("config set appendfsync everysec") < write {
		t.Errorf("appendfsync always at %d, the durable write at %d, put back at %d", always, write, first("config set appendfsync everysec"))
	}
	if first("bgrewriteaof") >= 0 || first("config set appendonly") >= 0 {
		t.Errorf("the replay rewrote the AOF or switched it: %v", seen)
	}
	if v := configGet(t, dst, "sanitize-dump-payload"); v != "no" {
		t.Errorf("sanitize-dump-payload %s after the restore, no before", v)
	}
}
