package backend

import (
	"context"
	"regexp"
	"time"

	"github.com/redis/go-redis/v9"
)

var codeRe = regexp.MustCompile(`^[1-5][0-9][0-9]$`)

// record writes usage exactly as apisonator's aggregator does: every
// application period (eternity … minute) and service period (eternity,
// month, week, day, hour) INCRBY the delta (SET for "#N"), minute keys
// expire after 180 s, the app joins stats/{service:S}/cinstances; a
// log[code] adds response_code counters for the code and its class.
// Zero deltas are dropped. It is one pipelined round trip.
func (b *Backend) record(ctx context.Context, sid, aid string, usage map[string]usageValue, code string, at time.Time) error {
	pipe := b.rdb.Pipeline()
	b.queueRecord(ctx, pipe, sid, aid, usage, code, at)
	if pipe.Len() == 0 {
		return nil
	}
	_, err := pipe.Exec(ctx)
	return err
}

func (b *Backend) queueRecord(ctx context.Context, pipe redis.Pipeliner, sid, aid string, usage map[string]usageValue, code string, at time.Time) {
	wrote := false
	bump := func(key string, u usageValue, p Period) {
		if u.set && u.n == 0 {
			// "#0" leaves no counter behind: apisonator deletes the key
			// rather than storing a zero.
			pipe.Del(ctx, key)
			return
		}
		if u.set {
			pipe.Set(ctx, key, u.n, 0)
		} else {
			pipe.IncrBy(ctx, key, u.n)
		}
		if p == Minute {
			pipe.Expire(ctx, key, minuteTTL)
		}
		wrote = true
	}
	for mid, u := range usage {
		if !u.set && u.n == 0 {
			continue
		}
		for _, p := range appStatsPeriods {
			bump(AppStatsKey(sid, aid, mid, p, at), u, p)
		}
		for _, p := range serviceStatsPeriods {
			bump(ServiceStatsKey(sid, mid, p, at), u, p)
		}
	}
	if codeRe.MatchString(code) {
		one := usageValue{n: 1}
		for _, c := range []string{code, code[:1] + "XX"} {
			for _, p := range appStatsPeriods {
				bump(appResponseCodeKey(sid, aid, c, p, at), one, p)
			}
			for _, p := range serviceStatsPeriods {
				bump(serviceResponseCodeKey(sid, c, p, at), one, p)
			}
		}
	}
	if wrote {
		pipe.SAdd(ctx, "stats/{service:"+encodeKey(sid)+"}/cinstances", aid)
	}
}
