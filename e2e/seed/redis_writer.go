package seed

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// rbatch writes keys through a pipeline: persistent strings are grouped
// into MSET commands, everything else is pipelined, and the pipeline is
// executed every few hundred commands. It counts keys per family.
type rbatch struct {
	ctx  context.Context
	c    *redis.Client
	p    redis.Pipeliner
	cmds int
	mset []any
	fam  map[string]Count
	keys int64
	err  error
}

func newBatch(ctx context.Context, c *redis.Client) *rbatch {
	return &rbatch{ctx: ctx, c: c, p: c.Pipeline(), fam: map[string]Count{}}
}

func (b *rbatch) count(fam, key string, valueBytes int) {
	c := b.fam[fam]
	c.Rows++
	c.Bytes += int64(len(key) + valueBytes)
	b.fam[fam] = c
	b.keys++
}

// set writes a persistent string (key encoding as backend does: spaces
// become '+').
func (b *rbatch) set(fam, key, val string) {
	key = backendKey(key)
	b.count(fam, key, len(val))
	b.mset = append(b.mset, key, val)
	if len(b.mset) >= 1000 {
		b.p.MSet(b.ctx, b.mset...)
		b.mset = make([]any, 0, 1000)
		b.cmd()
	}
}

func (b *rbatch) setEx(fam, key, val string, ttl time.Duration) {
	key = backendKey(key)
	b.count(fam, key, len(val))
	b.p.Set(b.ctx, key, val, ttl)
	b.cmd()
}

func (b *rbatch) sadd(fam, key string, members ...string) {
	if len(members) == 0 {
		return
	}
	key = backendKey(key)
	args := make([]any, len(members))
	n := 0
	for i, m := range members {
		args[i] = m
		n += len(m)
	}
	b.count(fam, key, n)
	b.p.SAdd(b.ctx, key, args...)
	b.cmd()
}

func (b *rbatch) zadd(fam, key string, zs ...redis.Z) {
	n := 0
	for _, z := range zs {
		n += len(fmt.Sprint(z.Member)) + 8
	}
	b.count(fam, key, n)
	b.p.ZAdd(b.ctx, key, zs...)
	b.cmd()
}

func (b *rbatch) rpush(fam, key string, vals ...string) {
	args := make([]any, len(vals))
	n := 0
	for i, v := range vals {
		args[i] = v
		n += len(v)
	}
	b.count(fam, key, n)
	b.p.RPush(b.ctx, key, args...)
	b.cmd()
}

func (b *rbatch) hset(fam, key string, fv ...string) {
	args := make([]any, len(fv))
	n := 0
	for i, v := range fv {
		args[i] = v
		n += len(v)
	}
	b.count(fam, backendKey(key), n)
	b.p.HSet(b.ctx, backendKey(key), args...)
	b.cmd()
}

func (b *rbatch) cmd() {
	b.cmds++
	if b.cmds >= 256 {
		b.exec()
	}
}

func (b *rbatch) exec() {
	if b.err != nil {
		b.p.Discard()
		b.cmds = 0
		return
	}
	_, err := b.p.Exec(b.ctx)
	if err != nil && b.err == nil {
		b.err = err
	}
	b.cmds = 0
}

// flush sends everything pending and returns the first error.
func (b *rbatch) flush() error {
	if len(b.mset) > 0 {
		b.p.MSet(b.ctx, b.mset...)
		b.mset = nil
		b.cmds++
	}
	if b.cmds > 0 {
		b.exec()
	}
	return b.err
}

func backendKey(k string) string {
	if strings.IndexByte(k, ' ') < 0 {
		return k
	}
	return strings.ReplaceAll(k, " ", "+")
}

// compact renders a period start as apisonator does: YYYYMMDDhhmmss with
// trailing zeros of the time part removed (never eating into the date).
func compact(t time.Time) string {
	s := t.UTC().Format("20060102150405")
	date, tm := s[:8], strings.TrimRight(s[8:], "0")
	return date + tm
}

// periodStart returns the start of the period of granularity g holding t.
func periodStart(g string, t time.Time) time.Time {
	t = t.UTC()
	switch g {
	case "minute":
		return t.Truncate(time.Minute)
	case "hour":
		return t.Truncate(time.Hour)
	case "day":
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case "week":
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		wd := (int(d.Weekday()) + 6) % 7 // Monday = 0
		return d.AddDate(0, 0, -wd)
	case "month":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	case "year":
		return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// statsSuffix is the "{gran}:{ts}" (or "eternity") part of a stats key.
func statsSuffix(g string, start time.Time) string {
	if g == "eternity" {
		return "eternity"
	}
	return g + ":" + compact(start)
}
