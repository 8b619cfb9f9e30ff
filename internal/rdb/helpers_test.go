package rdb

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
)

func opts(r *testenv.Redis) *redis.Options { return &redis.Options{Addr: r.Addr} }

func rc(t testing.TB, r *testenv.Redis, db int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr, DB: db})
	t.Cleanup(func() { c.Close() })
	return c
}

// fill writes apisonator-shaped data: config strings and sets, stats
// counters, usage limits, TTL'd minute keys, events, queues in db 1, and
// collections big enough to leave the listpack/intset encodings.
func fill(t testing.TB, r *testenv.Redis) {
	t.Helper()
	ctx := context.Background()
	c := rc(t, r, 0)
	p := c.Pipeline()
	for s := 1; s <= 3; s++ {
		sid := strconv.Itoa(1000 + s)
		p.Set(ctx, "service/id:"+sid+"/provider_key", "pk-abcdef", 0)
		p.Set(ctx, "service/id:"+sid+"/backend_version", "2", 0)
		p.SAdd(ctx, "services_set", sid)
		p.SAdd(ctx, "metrics/service_id:"+sid+"/ids", 1, 2, 3)
		for a := 0; a < 20; a++ {
			aid := fmt.Sprintf("%08x", s*1000+a)
			base := "application/service_id:" + sid + "/id:" + aid
			p.Set(ctx, base+"/state", "active", 0)
			p.Set(ctx, base+"/plan_id", strconv.Itoa(7+a%3), 0)
			p.Set(ctx, base+"/plan_name", "Basic plan", 0)
			p.SAdd(ctx, base+"/keys", "key-"+aid, "key2-"+aid)
			p.SAdd(ctx, "service_id:"+sid+"/applications", aid)
			st := "stats/{service:" + sid + "}/cinstance:" + aid + "/metric:1/"
			p.Set(ctx, st+"eternity", 100+a, 0)
			p.Set(ctx, st+"day:20250423", 10+a, 0)
			p.Set(ctx, st+"minute:202504231742", 3, 3*time.Minute)
			p.Set(ctx, "daily_traffic/service:"+sid+"/cinstance:"+aid+"/20250423", 1, 48*time.Hour)
		}
		for _, per := range []string{"minute", "hour", "day", "month", "eternity"} {
			p.Set(ctx, "usage_limit/service_id:"+sid+"/plan_id:7/metric_id:1/"+per, 1000, 0)
		}
		p.HSet(ctx, "service_token/token:tok"+sid+"/service_id:"+sid, "permissions", "")
	}
	p.Set(ctx, "events/id", 42, 0)
	p.Set(ctx, "alerts/current_id", 7, 0)
	p.ZAdd(ctx, "events/queue", redis.Z{Score: 1, Member: `{"type":"first_traffic"}`}, redis.Z{Score: 2.5, Member: `{"type":"alert"}`})
	p.RPush(ctx, "notify/aggregator/batch", "a", "b", "c")
	// Big values and encodings beyond listpack/intset.
	p.Set(ctx, "big/string", strings.Repeat("0123456789abcdef", 16<<10), 0) // 256 KiB, LZF-compressible
	p.Set(ctx, "big/random", randomString(100<<10), 0)
	for i := 0; i < 2000; i++ {
		p.HSet(ctx, "big/hash", "field"+strconv.Itoa(i), "value-"+strconv.Itoa(i*7))
		p.SAdd(ctx, "big/intset", i)
		p.SAdd(ctx, "big/set", "member-"+strconv.Itoa(i))
		p.ZAdd(ctx, "big/zset", redis.Z{Score: float64(i) / 3, Member: "m" + strconv.Itoa(i)})
		p.RPush(ctx, "big/list", "item-"+strconv.Itoa(i))
	}
	p.SAdd(ctx, "small/intset", 1, 2, 3, -5)
	p.HSet(ctx, "small/hash", "a", "1", "b", "2")
	p.ZAdd(ctx, "small/zset", redis.Z{Score: -1.5, Member: "x"})
	p.Set(ctx, "int/encoded", 12345, 0)
	p.Set(ctx, "persist/with/ttl/long", "x", 24*time.Hour)
	p.XAdd(ctx, &redis.XAddArgs{Stream: "events/stream", Values: []string{"k", "v"}})
	p.XGroupCreate(ctx, "events/stream", "g1", "0")
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g1", Consumer: "c1", Streams: []string{"events/stream", ">"}}).Err(); err != nil {
		t.Fatal(err)
	}
	q := rc(t, r, 1)
	qp := q.Pipeline()
	for i := 0; i < 50; i++ {
		qp.RPush(ctx, "resque:queue:priority", fmt.Sprintf(`{"class":"ReportJob","args":[%d]}`, i))
	}
	qp.SAdd(ctx, "resque:queues", "priority", "main")
	qp.Set(ctx, "resque:stat:processed", 999, 0)
	if _, err := qp.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func randomString(n int) string {
	b := make([]byte, n)
	x := uint64(88172645463325252)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return string(b)
}

// contents is a canonical dump of every key of dbs 0..3: type, value and
// whether it expires.
func contents(t testing.TB, r *testenv.Redis) map[string]string {
	t.Helper()
	return contentsDBs(t, r, 4)
}

// contentsDBs is contents over dbs 0..n-1.
func contentsDBs(t testing.TB, r *testenv.Redis, n int) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for db := 0; db < n; db++ {
		c := rc(t, r, db)
		keys, err := c.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			typ := c.Type(ctx, k).Val()
			var v string
			switch typ {
			case "string":
				v = c.Get(ctx, k).Val()
			case "list":
				v = strings.Join(c.LRange(ctx, k, 0, -1).Val(), "\x00")
			case "set":
				m := c.SMembers(ctx, k).Val()
				sort.Strings(m)
				v = strings.Join(m, "\x00")
			case "hash":
				m := c.HGetAll(ctx, k).Val()
				v = fmt.Sprint(m)
			case "zset":
				v = fmt.Sprint(c.ZRangeWithScores(ctx, k, 0, -1).Val())
			case "stream":
				v = fmt.Sprint(c.XRange(ctx, k, "-", "+").Val(), c.XInfoGroups(ctx, k).Val())
			}
			ttl := c.PTTL(ctx, k).Val()
			out[fmt.Sprintf("%d/%s", db, k)] = fmt.Sprintf("%s|%v|%s", typ, ttl > 0, v)
		}
	}
	return out
}

func sameContents(t testing.TB, want, got map[string]string, what string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: source has no keys", what)
	}
	var diff []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			diff = append(diff, "missing "+k)
		} else if g != v {
			diff = append(diff, "differs "+k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diff = append(diff, "extra "+k)
		}
	}
	if len(diff) > 0 {
		sort.Strings(diff)
		if len(diff) > 10 {
			diff = diff[:10]
		}
		t.Fatalf("%s: %d keys vs %d; first differences: %v", what, len(want), len(got), diff)
	}
}

func mustEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func backup(t testing.TB, cfg Config) (*artifact.Memory, Meta) {
	t.Helper()
	m := artifact.NewMemory()
	if err := mustEngine(t, cfg).Backup(context.Background(), m, nil); err != nil {
		t.Fatal(err)
	}
	var meta Meta
	if err := m.Get(MetaKey, &meta); err != nil {
		t.Fatal(err)
	}
	return m, meta
}

func memWith(t testing.TB, files map[string][]byte, meta *Meta) *artifact.Memory {
	t.Helper()
	m := artifact.NewMemory()
	for name, b := range files {
		f, _ := m.Create(context.Background(), name, "rdb")
		f.Write(b)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if meta != nil {
		m.Set(MetaKey, meta)
	}
	return m
}

func configGet(t testing.TB, r *testenv.Redis, k string) string {
	return rc(t, r, 0).ConfigGet(context.Background(), k).Val()[k]
}

func redisZ(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }
