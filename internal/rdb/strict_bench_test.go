package rdb

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// BenchmarkParse compares the lenient parse (structure and CRC64) with the
// strict one the restore preflight runs, on one file redis-server wrote
// (apisonator-shaped keys and collections of every encoding).
func BenchmarkParse(b *testing.B) {
	src := testenv.StartRedis(b, testenv.RedisOptions{})
	for i := 0; i < 20; i++ {
		fill(b, src)
		c := rc(b, src, 0)
		for _, k := range []string{"big/hash", "big/set", "big/zset", "big/list", "big/intset", "events/stream"} {
			c.Rename(context.Background(), k, k+"/"+itoa(i))
		}
	}
	if err := rc(b, src, 0).Save(context.Background()).Err(); err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(src.Dir, "dump.rdb"))
	if err != nil {
		b.Fatal(err)
	}
	for _, strict := range []bool{false, true} {
		name := map[bool]string{false: "lenient", true: "strict"}[strict]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for i := 0; i < b.N; i++ {
				p := NewParser(bytes.NewReader(raw), false)
				p.Strict = strict
				if err := parseAll(p, func(*Entry) {}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
