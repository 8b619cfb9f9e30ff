package rdb

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// ziplist builds a valid ziplist of items (string or int64) the way
// Redis 6 wrote them.
func ziplist(items ...any) []byte {
	var body []byte
	prev, tail := 0, 10
	for _, it := range items {
		var e []byte
		if prev < 254 {
			e = append(e, byte(prev))
		} else {
			e = append(e, 254, byte(prev), byte(prev>>8), byte(prev>>16), byte(prev>>24))
		}
		switch v := it.(type) {
		case string:
			switch n := len(v); {
			case n < 64:
				e = append(e, byte(n))
			case n < 16384:
				e = append(e, 0x40|byte(n>>8), byte(n))
			default:
				e = append(e, 0x80, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
			}
			e = append(e, v...)
		case int64:
			switch {
			case v >= 0 && v <= 12:
				e = append(e, 0xf1+byte(v))
			case v >= -128 && v <= 127:
				e = append(e, 0xfe, byte(v))
			case v >= -32768 && v <= 32767:
				e = append(e, 0xc0, byte(v), byte(v>>8))
			case v >= -1<<23 && v < 1<<23:
				e = append(e, 0xf0, byte(v), byte(v>>8), byte(v>>16))
			case v >= -1<<31 && v < 1<<31:
				e = append(e, 0xd0, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
			default:
				e = binary.LittleEndian.AppendUint64(append(e, 0xe0), uint64(v))
			}
		}
		tail = 10 + len(body)
		body = append(body, e...)
		prev = len(e)
	}
	n := 10 + len(body) + 1
	zl := binary.LittleEndian.AppendUint32(nil, uint32(n))
	zl = binary.LittleEndian.AppendUint32(zl, uint32(tail))
	zl = binary.LittleEndian.AppendUint16(zl, uint16(len(items)))
	return append(append(zl, body...), 0xff)
}

// zipmap builds a valid zipmap of field, value pairs.
func zipmap(pairs ...string) []byte {
	zm := []byte{byte(len(pairs) / 2)}
	for i, s := range pairs {
		zm = append(zm, byte(len(s)))
		if i%2 == 1 {
			zm = append(zm, 0) // free
		}
		zm = append(zm, s...)
	}
	return append(zm, 0xff)
}

// intset builds a valid intset of 16-bit members.
func intset16(members ...int16) []byte {
	is := binary.LittleEndian.AppendUint32(nil, 2)
	is = binary.LittleEndian.AppendUint32(is, uint32(len(members)))
	for _, m := range members {
		is = binary.LittleEndian.AppendUint16(is, uint16(m))
	}
	return is
}

// seedPayload is a valid value of one type.
type seedPayload struct {
	name  string
	typ   byte
	value []byte
}

// redisSeeds DUMPs keys of every encoding Redis 7.0 writes.
func redisSeeds(t *testing.T, c *redis.Client) []seedPayload {
	ctx := context.Background()
	p := c.Pipeline()
	p.Set(ctx, "s:short", "abc", 0)
	p.Set(ctx, "s:int", "12345", 0)
	p.Set(ctx, "s:lzf", strings.Repeat("3scale-ops ", 40), 0)
	p.RPush(ctx, "l:small", "a", "b", 7, -300, 70000, "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc")
	for i := 0; i < 3000; i++ {
		p.RPush(ctx, "l:big", "item-"+strconv.Itoa(i))
		p.SAdd(ctx, "set:big", "m"+strconv.Itoa(i))
		p.HSet(ctx, "h:big", "f"+strconv.Itoa(i), i)
		p.ZAdd(ctx, "z:big", redis.Z{Score: float64(i), Member: "m" + strconv.Itoa(i)})
	}
	p.SAdd(ctx, "set:int", 1, 2, 3, 100, -5)
	p.SAdd(ctx, "set:str", "x", "y")
	p.HSet(ctx, "h:small", "a", "1", "b", "two", "c", 3)
	p.ZAdd(ctx, "z:small", redis.Z{Score: 1.5, Member: "a"}, redis.Z{Score: -2, Member: "b"})
	p.XAdd(ctx, &redis.XAddArgs{Stream: "x", ID: "1-1", Values: []string{"k", "v", "k2", "v2"}})
	p.XAdd(ctx, &redis.XAddArgs{Stream: "x", ID: "2-1", Values: []string{"k", "w", "k2", "w2"}})
	p.XAdd(ctx, &redis.XAddArgs{Stream: "x", ID: "3-1", Values: []string{"other", "field"}})
	p.XGroupCreate(ctx, "x", "g1", "0")
	p.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g1", Consumer: "c1", Streams: []string{"x", ">"}, Count: 2})
	p.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g1", Consumer: "c2", Streams: []string{"x", ">"}})
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	keys := []string{"s:short", "s:int", "s:lzf", "l:small", "l:big", "set:big", "h:big", "z:big", "set:int", "set:str", "h:small", "z:small", "x"}
	var out []seedPayload
	for _, k := range keys {
		d, err := c.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		typ, v, _, err := SplitDump([]byte(d))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, seedPayload{k, typ, append([]byte(nil), v...)})
	}
	return out
}

// craftedSeeds are the encodings Redis 7 still loads but no longer writes.
func craftedSeeds() []seedPayload {
	zl := ziplist("a", int64(1), "bb", int64(-200), strings.Repeat("z", 300), int64(1)<<40)
	pairs := ziplist("f1", "v1", "f2", int64(2), int64(3), "three")
	zs := ziplist("m1", "1.5", "m2", int64(-3))
	plainList := append(appendLen(nil, 3), append(append(rdbStr([]byte("a")), rdbStr([]byte("b"))...), rdbStr([]byte("c"))...)...)
	oldZset := append(appendLen(nil, 2), rdbStr([]byte("m"))...)
	oldZset = append(append(oldZset, 3), "1.5"...)
	oldZset = append(append(oldZset, rdbStr([]byte("n"))...), 254)
	return []seedPayload{
		{"ziplist list", TypeListZiplist, rdbStr(zl)},
		{"ziplist hash", TypeHashZiplist, rdbStr(pairs)},
		{"ziplist zset", TypeZSetZiplist, rdbStr(zs)},
		{"quicklist v1", TypeListQuicklist, append(appendLen(nil, 2), append(rdbStr(zl), rdbStr(ziplist("tail"))...)...)},
		{"zipmap", TypeHashZipmap, rdbStr(zipmap("name", "foo", "age", "42"))},
		{"intset", TypeSetIntset, rdbStr(intset16(-3, 1, 2, 500))},
		{"plain list", TypeList, plainList},
		{"old zset", TypeZSet, oldZset},
	}
}

// mutate returns a damaged copy of s: for single-string encodings, mostly
// inside the blob (re-wrapped so the outer length stays right).
func mutate(r *rand.Rand, s seedPayload) []byte {
	v := s.value
	var b []byte
	inner := false
	switch s.typ {
	case TypeHashZipmap, TypeListZiplist, TypeSetIntset, TypeZSetZiplist, TypeHashZiplist, TypeHashListpack, TypeZSetListpack:
		n, enc, err := newByteReader(bytes.NewReader(v)).readLen()
		if inner = err == nil && !enc && int(n) <= len(v) && r.Intn(4) != 0; inner {
			b = append(b, v[len(v)-int(n):]...)
		}
	}
	if !inner {
		b = append(b, v...)
	}
	for k := 1 + r.Intn(2); k > 0 && len(b) > 0; k-- {
		i := r.Intn(len(b))
		switch r.Intn(5) {
		case 0:
			b[i] ^= 1 << r.Intn(8)
		case 1:
			b[i] = byte(r.Intn(256))
		case 2:
			b = append(b[:i], b[i+1:]...)
		case 3:
			b = append(b[:i], append([]byte{byte(r.Intn(256))}, b[i:]...)...)
		case 4:
			b[i] = []byte{0, 0xff, 0xfe, 0x7f, 0x80, 0xc0, 0xf0, 0xf4}[r.Intn(8)]
		}
	}
	if inner {
		return rdbStr(b)
	}
	return b
}

// deliberate reports refusals of encodings no Redis writes that Redis's
// loader lets through anyway: a length byte of an unknown form where a
// stream counter or ID is read (Redis stores the error value), a stream
// listpack whose header count is wrong (Redis checks only the header's
// byte count there), an LZF string declaring 0 bytes.
func deliberate(err error) bool {
	for _, s := range []string{"unknown length encoding", "LZF string with a length of 0"} {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return strings.Contains(err.Error(), "stream node") && strings.Contains(err.Error(), "listpack header counts")
}

// TestStrictChecksAgreeWithRedisSanitizer restores thousands of damaged
// values into a real Redis with sanitize-dump-payload yes and compares its
// verdict with CheckValue's: anything Redis refuses must be refused here
// (nothing this tool sends can fail half-way or crash the server), and
// anything Redis accepts must be accepted (no valid snapshot is refused).
func TestStrictChecksAgreeWithRedisSanitizer(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t, testenv.RedisOptions{ExtraConf: []string{"sanitize-dump-payload yes"}})
	c := rc(t, srv, 0)
	seeds := append(redisSeeds(t, c), craftedSeeds()...)
	info, err := readInfo(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	version := VersionForServer(info.Version)
	restore := func(typ byte, v []byte) error {
		return c.RestoreReplace(ctx, "probe", 0, string(AppendDump(nil, typ, v, version))).Err()
	}
	for _, s := range seeds {
		if _, err := CheckValue(s.typ, s.value); err != nil {
			t.Fatalf("valid %s refused: %v", s.name, err)
		}
		if err := restore(s.typ, s.value); err != nil {
			t.Fatalf("valid %s: redis refuses it: %v", s.name, err)
		}
	}
	iterations := 4000
	if v, err := strconv.Atoi(os.Getenv("RDB_DIFFERENTIAL_N")); err == nil {
		iterations = v
	}
	r := rand.New(rand.NewSource(int64(18 + iterations)))
	var tooStrict, tooLax []string
	refused, stricter := 0, 0
	for i := 0; i < iterations; i++ {
		s := seeds[i%len(seeds)]
		v := mutate(r, s)
		// RESTORE reads the value out of the whole payload: a short value
		// runs on into the version and checksum bytes. Check the same bytes.
		payload := AppendDump(nil, s.typ, v, version)
		_, mine := CheckValue(s.typ, payload[1:])
		theirs := restore(s.typ, v)
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatalf("redis-server died on %s %x: %v", s.name, v, err)
		}
		if mine != nil {
			refused++
		}
		switch {
		case mine != nil && theirs == nil && deliberate(mine):
			stricter++
		case mine != nil && theirs == nil:
			tooStrict = append(tooStrict, fmt.Sprintf("%s %s: %v", s.name, hex.EncodeToString(v), mine))
		case mine == nil && theirs != nil:
			tooLax = append(tooLax, fmt.Sprintf("%s %s: redis: %v", s.name, hex.EncodeToString(v), theirs))
		}
	}
	t.Logf("%d damaged values: %d refused by both, %d refused only here by design, %d refused only here, %d only by redis", iterations, refused-stricter-len(tooStrict), stricter, len(tooStrict), len(tooLax))
	for _, l := range [][]string{tooLax, tooStrict} {
		for i, m := range l {
			if i < 8 {
				t.Log(m)
			}
		}
	}
	if len(tooLax) > 0 || len(tooStrict) > 0 {
		t.Fatalf("%d accepted here but refused by redis, %d refused here but accepted by redis", len(tooLax), len(tooStrict))
	}
}
