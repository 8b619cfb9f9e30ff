package fingerprint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ShortTTL is the TTL below which a key is left out of a Redis
// fingerprint. Apisonator's minute-granularity usage stats keys (and the
// generator's copies of them) are written with a TTL of 180 seconds: they
// expire by design between the moment a test takes the source's
// fingerprint and the moment it looks at the restored target, so whether
// one is still there says nothing about the restore. Every key that lives
// longer (daily traffic, alert throttles, sessions, caches) is compared,
// with its value and the fact that it has a TTL.
const ShortTTL = 15 * time.Minute

// Redis fingerprints every database of the Redis server at addr (host:port;
// password may be empty): for each key with no TTL or a TTL of at least
// ShortTTL, its type, whether it expires, and a digest of its value
// (DEBUG DIGEST-VALUE when the server allows DEBUG, else sha256 of DUMP).
func Redis(ctx context.Context, addr, password string) (State, error) {
	return RedisWith(ctx, &redis.Options{Addr: addr, Password: password})
}

// RedisWith is Redis for a server reached with base (TLS, ACL user).
func RedisWith(ctx context.Context, base *redis.Options) (State, error) {
	addr := base.Addr
	c := redis.NewClient(base)
	defer c.Close()
	info, err := c.Info(ctx, "keyspace").Result()
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", addr, err)
	}
	st := State{}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "db") {
			continue
		}
		name, _, _ := strings.Cut(line, ":")
		n, err := strconv.Atoi(strings.TrimPrefix(name, "db"))
		if err != nil {
			continue
		}
		o := *base
		o.DB = n
		db, err := redisDB(ctx, &o)
		if err != nil {
			return nil, err
		}
		st.Merge(fmt.Sprintf("db%d:", n), db)
	}
	return st, nil
}

// RedisDB fingerprints one database (see Redis).
func RedisDB(ctx context.Context, addr, password string, db int) (State, error) {
	return redisDB(ctx, &redis.Options{Addr: addr, Password: password, DB: db})
}

func redisDB(ctx context.Context, o *redis.Options) (State, error) {
	addr, db := o.Addr, o.DB
	c := redis.NewClient(o)
	defer c.Close()
	useDebug := c.Do(ctx, "DEBUG", "DIGEST-VALUE", "__fingerprint_probe__").Err() == nil
	st := State{}
	iter := c.Scan(ctx, 0, "*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("scan redis %s db %d: %w", addr, db, err)
	}
	for start := 0; start < len(keys); start += 500 {
		batch := keys[start:min(start+500, len(keys))]
		p := c.Pipeline()
		ttls := make([]*redis.DurationCmd, len(batch))
		types := make([]*redis.StatusCmd, len(batch))
		vals := make([]redis.Cmder, len(batch))
		for i, k := range batch {
			ttls[i] = p.PTTL(ctx, k)
			types[i] = p.Type(ctx, k)
			if useDebug {
				vals[i] = p.Do(ctx, "DEBUG", "DIGEST-VALUE", k)
			} else {
				vals[i] = p.Dump(ctx, k)
			}
		}
		if _, err := p.Exec(ctx); err != nil && err != redis.Nil {
			return nil, fmt.Errorf("digest keys of redis %s db %d: %w", addr, db, err)
		}
		for i, k := range batch {
			ttl := ttls[i].Val()
			if types[i].Val() == "none" {
				continue // expired while we looked
			}
			if ttl > 0 && ttl < ShortTTL {
				continue
			}
			var v string
			switch cmd := vals[i].(type) {
			case *redis.Cmd:
				v = fmt.Sprint(cmd.Val())
			case *redis.StringCmd:
				h := sha256.Sum256([]byte(cmd.Val()))
				v = hex.EncodeToString(h[:12])
			}
			st[k] = fmt.Sprintf("%s ttl=%t %s", types[i].Val(), ttl > 0, v)
		}
	}
	return st, nil
}
