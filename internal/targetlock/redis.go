package targetlock

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisKey is the key that locks a Redis server for a restore.
const RedisKey = "3scale-ops:restore-lock"

// Redis locks a Redis server with RedisKey: SET NX with a TTL, its value
// the holder (with a random id: the fencing value). Refreshes extend the
// TTL only while the value is ours, and put the key back when it is gone
// (a FLUSHALL, or a server restarted on a replaced dump.rdb, removes it).
//
// The key lives in database DB, which must be one the restore does not
// replace: the restore's emptiness checks, flushes and key counts then
// never see it (LockDB picks it).
type Redis struct {
	Options *redis.Options // the server (its DB is ignored)
	DB      int
	Server  string // for messages (address)
	TTL     time.Duration

	mu     sync.Mutex
	holder Holder
	client *redis.Client
}

func (r *Redis) Name() string {
	return fmt.Sprintf("Redis %s (key %s in db %d)", r.Server, RedisKey, r.DB)
}

func (r *Redis) ttl() time.Duration {
	if r.TTL > 0 {
		return r.TTL
	}
	return DefaultTTL
}

// refresh: extend our key, put it back if gone, or say who has it.
var refreshScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return v`)

func (r *Redis) Acquire(ctx context.Context, h Holder) error {
	o := *r.Options
	o.DB = r.DB
	c := redis.NewClient(&o)
	ok, err := c.SetNX(ctx, RedisKey, h.marshal(), r.ttl()).Result()
	if err != nil {
		c.Close()
		return fmt.Errorf("lock %s: %w", r.Name(), err)
	}
	if ok {
		r.mu.Lock()
		r.holder, r.client = h, c
		r.mu.Unlock()
		return nil
	}
	who := "another run"
	if v, err := c.Get(ctx, RedisKey).Result(); err == nil {
		if o, ok := parseHolder(v); ok {
			who = o.String()
			if o.gone() {
				// A killed restore on this host: take its key over, only if
				// it is still that one.
				n, err := takeOverScript.Run(ctx, c, []string{RedisKey}, v, h.marshal(), r.ttl().Milliseconds()).Int()
				if err == nil && n == 1 {
					r.mu.Lock()
					r.holder, r.client = h, c
					r.mu.Unlock()
					return nil
				}
			}
		}
	}
	defer c.Close()
	left, _ := c.PTTL(ctx, RedisKey).Result()
	return held(fmt.Sprintf("wait for that restore to finish; if it is gone, the key expires by itself (in %s), or remove it now with `redis-cli -n %d DEL %s`",
		left.Round(time.Second), r.DB, RedisKey),
		"%s is locked for a restore by %s", r.Name(), who)
}

func (r *Redis) Check(ctx context.Context) error {
	r.mu.Lock()
	c, h := r.client, r.holder
	r.mu.Unlock()
	if c == nil {
		return fmt.Errorf("%s: %w", r.Name(), ErrLost)
	}
	res, err := refreshScript.Run(ctx, c, []string{RedisKey}, h.marshal(), r.ttl().Milliseconds()).Result()
	if err != nil {
		return fmt.Errorf("refresh %s: %w", r.Name(), err)
	}
	switch v := res.(type) {
	case int64:
		return nil // 1: extended; 2: put back after a flush
	case string:
		who := "another run"
		if o, ok := parseHolder(v); ok {
			who = o.String()
		}
		return fmt.Errorf("%s is now held by %s: %w", r.Name(), who, ErrLost)
	}
	return fmt.Errorf("refresh %s: unexpected reply %v", r.Name(), res)
}

// takeOverScript replaces the value ARGV[1] (a dead holder's) by ours.
var takeOverScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`)

// releaseScript deletes the key only while it is ours.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

func (r *Redis) Release(ctx context.Context) error {
	r.mu.Lock()
	c, h := r.client, r.holder
	r.client = nil
	r.mu.Unlock()
	if c == nil {
		return nil
	}
	defer c.Close()
	return releaseScript.Run(ctx, c, []string{RedisKey}, h.marshal()).Err()
}

// LockDB picks the database of a server's lock key: the highest of the
// server's databases (16 unless CONFIG says otherwise) that none of the
// given databases (every db a 3scale URL names on that server) is, so
// that no restore of that server empties, counts or replaces it. ok is
// false when every database is in use.
func LockDB(ctx context.Context, o *redis.Options, used []int) (db int, ok bool) {
	n := 16
	oc := *o
	oc.DB = 0
	c := redis.NewClient(&oc)
	defer c.Close()
	if v, err := c.ConfigGet(ctx, "databases").Result(); err == nil {
		var got int
		if _, err := fmt.Sscan(v["databases"], &got); err == nil && got > 0 {
			n = got
		}
	}
	taken := map[int]bool{}
	for _, u := range used {
		taken[u] = true
	}
	for db := n - 1; db >= 0; db-- {
		if !taken[db] {
			return db, true
		}
	}
	return 0, false
}
