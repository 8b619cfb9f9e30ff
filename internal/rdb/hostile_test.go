package rdb

import (
	"bytes"
	"context"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// lpEntry encodes one listpack string entry (6-bit length form) with its
// backlen.
func lpEntry(s string) []byte {
	b := append([]byte{0x80 | byte(len(s))}, s...)
	return append(b, byte(len(b)))
}

// listpack assembles a listpack from encoded entries; count is the header's
// element count.
func listpack(count int, entries ...[]byte) []byte {
	body := bytes.Join(entries, nil)
	n := 6 + len(body) + 1
	lp := []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24), byte(count), byte(count >> 8)}
	lp = append(lp, body...)
	return append(lp, 0xff)
}

// rdbStr encodes s as a plain RDB string.
func rdbStr(s []byte) []byte { return append(appendLen(nil, uint64(len(s))), s...) }

// craftRDB writes an RDB with the given keys in db 0 (raw value encodings).
func craftRDB(t testing.TB, keys ...craftKey) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := NewWriter(&b, 10)
	if err != nil {
		t.Fatal(err)
	}
	w.SelectDB(0, uint64(len(keys)), 0)
	for _, k := range keys {
		w.Key([]byte(k.name), k.typ, k.value, 0)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type craftKey struct {
	name  string
	typ   byte
	value []byte
}

// metaFor records what a backup of file would have recorded.
func metaFor(t testing.TB, raw []byte) *Meta {
	t.Helper()
	p := NewParser(bytes.NewReader(raw), false)
	tl := tally{}
	if err := parseAll(p, func(en *Entry) { tl.add(en.DB, en.Type, en.ExpireAt != 0) }); err != nil {
		t.Fatalf("metaFor: %v", err)
	}
	return &Meta{Component: SystemRedis, Files: []FileMeta{{File: "dump.rdb", Role: "server", URLDB: intp(0), RDBVersion: p.Version(), DBs: tl.list()}}}
}

// TestCorruptListpackHashRefusedInPreflight: a hash whose listpack has a
// wrong backlen passes Redis's shallow RESTORE check; the first HGETALL
// then aborts redis-server on an assertion. The preflight must refuse it
// with exit 3 and leave the target untouched and alive.
func TestCorruptListpackHashRefusedInPreflight(t *testing.T) {
	ctx := context.Background()
	bad := lpEntry("v1")
	bad[len(bad)-1] = 9 // backlen says 9, the entry is 3 bytes
	raw := craftRDB(t,
		craftKey{"good", TypeString, rdbStr([]byte("fine"))},
		craftKey{"h", TypeHashListpack, rdbStr(listpack(2, lpEntry("f1"), bad))},
	)
	src := memWith(t, map[string][]byte{"dump.rdb": raw}, metaFor(t, raw))

	dst := testenv.StartRedis(t, testenv.RedisOptions{})
	c := rc(t, dst, 0)
	if err := c.Set(ctx, "canary", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	e := mustEngine(t, Config{Component: SystemRedis, Server: opts(dst), Overwrite: true})
	err := e.Preflight(ctx, src)
	if err == nil {
		// What happened before the fix: the restore goes through and the
		// first read of the hash kills the server.
		if _, rerr := e.Restore(ctx, src, nil); rerr != nil {
			t.Fatalf("preflight passed, restore failed: %v", rerr)
		}
		herr := c.HGetAll(ctx, "h").Err()
		perr := c.Ping(ctx).Err()
		t.Fatalf("preflight accepted a corrupt listpack hash; restore exit 0; HGETALL: %v; PING afterwards: %v", herr, perr)
	}
	if errs.Code(err) != errs.Mismatch {
		t.Fatalf("exit code %d, want %d: %v", errs.Code(err), errs.Mismatch, err)
	}
	if v := c.Get(ctx, "canary").Val(); v != "before" {
		t.Fatalf("target changed: canary=%q", v)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("target not alive: %v", err)
	}
	t.Logf("refused: %v", err)
}
