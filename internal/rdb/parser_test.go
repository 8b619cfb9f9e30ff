package rdb

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

func TestCRC64Jones(t *testing.T) {
	if got := crc64(0, []byte("123456789")); got != 0xe9c6d914c4b8d9ca {
		t.Fatalf("crc64(123456789) = %016x", got)
	}
	long := bytes.Repeat([]byte("3scale-ops"), 1000)
	if crc64(crc64(0, long[:333]), long[333:]) != crc64(0, long) {
		t.Fatal("crc64 is not incremental")
	}
}

func TestLZF(t *testing.T) {
	// literal "abc", then back-reference of length 3+2... built by hand:
	// ctrl 2 = 3 literals; ctrl (3<<5)|0, offset 2 → copy 5 bytes from 3 back.
	in := []byte{2, 'a', 'b', 'c', 3 << 5, 2}
	out, err := lzfDecompress(nil, in, 8)
	if err != nil || string(out) != "abcabcab" {
		t.Fatalf("lzf: %q %v", out, err)
	}
	for _, bad := range [][]byte{{5, 'a'}, {3 << 5, 200}, {2, 'a', 'b', 'c', 3 << 5}} {
		if _, err := lzfDecompress(nil, bad, 8); !errors.Is(err, ErrFormat) {
			t.Fatalf("bad lzf %v accepted: %v", bad, err)
		}
	}
}

// TestParserReadsRedisFiles parses files written by redis-server itself
// (SAVE), including LZF strings, and re-writes them key by key with the
// Writer: redis-server must load the copy with identical contents.
func TestParserReadsRedisFiles(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRedis(t, testenv.RedisOptions{})
	fill(t, src)
	want := contents(t, src)
	if err := rc(t, src, 0).Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(src.Dir, "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	p := NewParser(bytes.NewReader(raw), true)
	var out bytes.Buffer
	v, err := p.Header()
	if err != nil {
		t.Fatal(err)
	}
	w, _ := NewWriter(&out, v)
	keys, aux := 0, 0
	for {
		en, err := p.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch en.Kind {
		case KindKey:
			keys++
			w.SelectDB(en.DB, 0, 0)
			w.Key(en.Key, en.Type, en.Value, en.ExpireAt)
			// Each value also makes a valid DUMP payload.
			typ, val, ver, err := SplitDump(AppendDump(nil, en.Type, en.Value, v))
			if err != nil || typ != en.Type || !bytes.Equal(val, en.Value) || ver != v {
				t.Fatalf("dump payload round trip: %v", err)
			}
		case KindAux:
			aux++
			w.Aux(en.AuxKey, en.AuxValue)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if keys != len(want) || aux == 0 || p.Aux["redis-ver"] == "" || p.Offset() != int64(len(raw)) {
		t.Fatalf("keys %d (want %d), aux %d, offset %d of %d", keys, len(want), aux, p.Offset(), len(raw))
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "dump.rdb"), out.Bytes(), 0o600)
	// redis-check-rdb agrees the copy is valid, and redis-server loads it.
	if bin, err := exec.LookPath("redis-check-rdb"); err == nil {
		if b, err := exec.Command(bin, filepath.Join(dir, "dump.rdb")).CombinedOutput(); err != nil {
			t.Fatalf("redis-check-rdb: %v\n%s", err, b)
		}
	}
	copyServer := testenv.StartRedis(t, testenv.RedisOptions{Dir: dir})
	sameContents(t, want, contents(t, copyServer), "re-written RDB loaded by redis-server")
}

func TestParserRejects(t *testing.T) {
	for name, in := range map[string][]byte{
		"version 8":  []byte("REDIS0008\xff"),
		"version 99": []byte("REDIS0099\xff"),
		"bad type":   append([]byte("REDIS0010"), 0x42),
		"huge len":   append([]byte("REDIS0010\x00"), 0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'k'),
		"lzf bomb":   append([]byte("REDIS0010\x00\x01k"), 0xc3, 0x01, 0x80, 0x1f, 0xff, 0xff, 0xff, 0x00),
	} {
		p := NewParser(bytes.NewReader(in), true)
		var err error
		for err == nil {
			_, err = p.Next()
		}
		var oe *OffsetError
		if !errors.Is(err, ErrFormat) || !errors.As(err, &oe) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzParse: no panic and no allocation beyond the input on any bytes.
func FuzzParse(f *testing.F) {
	f.Add([]byte("REDIS0010\xfa\x09redis-ver\x067.0.15\xfe\x00\xfb\x01\x00\x00\x01k\x01v\xff\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := NewParser(bytes.NewReader(data), true)
		for i := 0; i < 100000; i++ {
			en, err := p.Next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrFormat) {
					t.Fatalf("error without ErrFormat: %v", err)
				}
				return
			}
			if en.Kind == KindKey {
				if _, _, _, err := SplitDump(AppendDump(nil, en.Type, en.Value, 10)); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
