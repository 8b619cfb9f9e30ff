package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/rdb"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/klauspost/compress/zstd"
	"github.com/redis/go-redis/v9"
)

// redisSnapshot backs up a storage tree and a small system-redis into an
// unencrypted (unauthenticated) repository, which anyone with write access
// can edit, and returns the repository and snapshot id.
func redisSnapshot(t *testing.T) (repoDir, id string) {
	t.Helper()
	ctx := context.Background()
	rs := testenv.StartRedis(t, testenv.RedisOptions{})
	c := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer c.Close()
	p := c.Pipeline()
	p.Set(ctx, "k1", "v1", 0)
	p.HSet(ctx, "h", "f1", "v1", "f2", "v2")
	p.SAdd(ctx, "s", 1, 2, 3)
	p.RPush(ctx, "l", "a", "b")
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	repoDir = filepath.Join(t.TempDir(), "repo")
	out, stderr, code := runCLI(t, "--local", "-r", repoDir, "--system-storage", "dir://"+storageTree(t), "--system-redis-url", rs.URL,
		"-o", "json", "backup", "--components", "system-storage,system-redis")
	if code != 0 {
		t.Fatalf("backup: %d %s", code, stderr)
	}
	var s snapshotSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	return repoDir, s.ID
}

// editManifest rewrites the snapshot's plain manifest.json through fn.
func editManifest(t *testing.T, repoDir, id string, fn func(system map[string]any)) {
	t.Helper()
	path := filepath.Join(repoDir, "snapshots", id, "manifest.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, c := range m["components"].([]any) {
		if c := c.(map[string]any); c["name"] == "system-redis" {
			fn(c)
		}
	}
	b, _ = json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// restoreTargets are an empty storage directory and Redis with a canary,
// both to be replaced (--drop-existing): untouched means the canaries stay.
type restoreTargets struct {
	dir   string
	redis *testenv.Redis
	c     *redis.Client
}

func newTargets(t *testing.T) restoreTargets {
	t.Helper()
	tg := restoreTargets{dir: t.TempDir(), redis: testenv.StartRedis(t, testenv.RedisOptions{})}
	tg.c = redis.NewClient(&redis.Options{Addr: tg.redis.Addr})
	t.Cleanup(func() { tg.c.Close() })
	_ = os.WriteFile(filepath.Join(tg.dir, "canary"), []byte("mine"), 0o600)
	if err := tg.c.Set(context.Background(), "canary", "mine", 0).Err(); err != nil {
		t.Fatal(err)
	}
	return tg
}

// restore runs the restore of both components and checks it is refused
// with exit 3 before either target is touched, the Redis server alive.
func (tg restoreTargets) refused(t *testing.T, repoDir, id, want string) {
	t.Helper()
	_, stderr, code := runCLI(t, "--local", "-r", repoDir, "--system-storage", "dir://"+tg.dir, "--system-redis-url", tg.redis.URL,
		"restore", id, "--components", "system-storage,system-redis", "--yes", "--drop-existing", "--no-verify")
	if code != errs.Mismatch || !strings.Contains(stderr, want) || !strings.Contains(stderr, "preflight") {
		t.Fatalf("restore: exit %d, want %d and %q in preflight\n%s", code, errs.Mismatch, want, stderr)
	}
	t.Logf("refused: %s", strings.TrimSpace(stderr))
	if entries, _ := os.ReadDir(tg.dir); len(entries) != 1 || entries[0].Name() != "canary" {
		t.Fatalf("system-storage target touched: %v", entries)
	}
	ctx := context.Background()
	if err := tg.c.Ping(ctx).Err(); err != nil {
		t.Fatalf("target Redis not alive: %v", err)
	}
	if n := tg.c.DBSize(ctx).Val(); n != 1 || tg.c.Get(ctx, "canary").Val() != "mine" {
		t.Fatalf("target Redis touched: %d keys", n)
	}
}

// A changed key count in the manifest used to give a half-restore (system-storage
// replaced, then system-redis refused, exit 3) while verify --read-data said ok.
func TestManifestKeyCountMismatchRefusedInPreflight(t *testing.T) {
	repoDir, id := redisSnapshot(t)
	editManifest(t, repoDir, id, func(c map[string]any) {
		db := c["meta"].(map[string]any)["redis"].(map[string]any)["files"].([]any)[0].(map[string]any)["dbs"].([]any)[0].(map[string]any)
		db["keys"] = db["keys"].(float64) + 1
	})
	out, stderr, code := runCLI(t, "--local", "-r", repoDir, "backups", "verify", id, "--read-data")
	if code != errs.Mismatch || !strings.Contains(out, "DAMAGED") || !strings.Contains(out, "db 0 has 4 keys in the file, the manifest records 5") {
		t.Fatalf("verify --read-data: exit %d\n%s%s", code, out, stderr)
	}
	newTargets(t).refused(t, repoDir, id, "the manifest records 5")
}

// forgeRedis replaces the snapshot's dump.rdb with raw and updates its
// sizes, hashes and key counts in the manifest (two keys in db 0).
func forgeRedis(t *testing.T, repoDir, id string, raw []byte, types map[string]any) {
	t.Helper()
	editManifest(t, repoDir, id, func(c map[string]any) {
		f := c["files"].([]any)[0].(map[string]any)
		stored := raw
		if f["compression"] == "zstd" {
			enc, _ := zstd.NewWriter(nil)
			stored = enc.EncodeAll(raw, nil)
		}
		rawSum, sum := sha256.Sum256(raw), sha256.Sum256(stored)
		f["raw_size"], f["raw_sha256"], f["size"], f["sha256"] = len(raw), hex.EncodeToString(rawSum[:]), len(stored), hex.EncodeToString(sum[:])
		if err := os.WriteFile(filepath.Join(repoDir, "snapshots", id, f["path"].(string)), stored, 0o600); err != nil {
			t.Fatal(err)
		}
		fm := c["meta"].(map[string]any)["redis"].(map[string]any)["files"].([]any)[0].(map[string]any)
		fm["bytes"], fm["rdb_version"] = len(raw), 10
		fm["dbs"] = []any{map[string]any{"db": 0, "keys": 2, "expires": 0, "types": types}}
	})
}

// craftedRDB is an RDB (version 10) with the string key "ok" and the key
// "bad" of type typ with the raw value encoding value, in db 0.
func craftedRDB(t *testing.T, typ byte, value []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := rdb.NewWriter(&b, 10)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.SelectDB(0, 2, 0)
	_ = w.Key([]byte("ok"), rdb.TypeString, []byte("\x02v1"), 0)
	_ = w.Key([]byte("bad"), typ, value, 0)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// short encodes s (under 64 bytes) as a plain RDB string.
func short(s []byte) []byte { return append([]byte{byte(len(s))}, s...) }

func TestCraftedRDBRefusedInPreflight(t *testing.T) {
	lpEntry := func(s string) []byte { b := append([]byte{0x80 | byte(len(s))}, s...); return append(b, byte(len(b))) }
	listpack := func(entries ...[]byte) []byte {
		body := bytes.Join(entries, nil)
		lp := binary.LittleEndian.AppendUint32(nil, uint32(6+len(body)+1))
		lp = binary.LittleEndian.AppendUint16(lp, uint16(len(entries)))
		return append(append(lp, body...), 0xff)
	}
	badBacklen := lpEntry("v1")
	badBacklen[len(badBacklen)-1] = 9
	// A ziplist hash (f1, v1) whose second entry claims a 7-byte predecessor.
	zl := []byte{0, 0, 0, 0, 14, 0, 0, 0, 2, 0, 0, 2, 'f', '1', 7, 2, 'v', '1', 0xff}
	binary.LittleEndian.PutUint32(zl, uint32(len(zl)))
	// "hello, 3scale" as one LZF literal run, declared 40 bytes long.
	lit := "hello, 3scale"
	lzf := append([]byte{0xc3, byte(len(lit) + 1), 40, byte(len(lit) - 1)}, lit...)

	goodCRC := craftedRDB(t, rdb.TypeString, short([]byte("fine")))
	badCRC := append([]byte(nil), goodCRC...)
	badCRC[len(badCRC)-1] ^= 0xff

	for _, tc := range []struct {
		name  string
		raw   []byte
		types map[string]any
		want  string
	}{
		{"bad CRC", badCRC, map[string]any{"string": 2}, "CRC64 mismatch"},
		{"lying LZF header", craftedRDB(t, rdb.TypeString, lzf), map[string]any{"string": 2}, "LZF output shorter than declared"},
		{"bad ziplist", craftedRDB(t, rdb.TypeHashZiplist, short(zl)), map[string]any{"string": 1, "hash": 1}, "previous-entry length"},
		{"malformed listpack", craftedRDB(t, rdb.TypeHashListpack, short(listpack(lpEntry("f1"), badBacklen))), map[string]any{"string": 1, "hash": 1}, "back-length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repoDir, id := redisSnapshot(t)
			forgeRedis(t, repoDir, id, tc.raw, tc.types)
			out, stderr, code := runCLI(t, "--local", "-r", repoDir, "backups", "verify", id, "--read-data")
			if code != errs.Mismatch || !strings.Contains(out, tc.want) {
				t.Fatalf("verify --read-data: exit %d, want %q\n%s%s", code, tc.want, out, stderr)
			}
			newTargets(t).refused(t, repoDir, id, tc.want)
		})
	}
}
