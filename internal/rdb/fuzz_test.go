package rdb

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
)

// allocBound is the most a parse of n input bytes may allocate: LZF
// expands at most ~90 times, plus the parser's fixed buffers.
func allocBound(n int) uint64 { return uint64(100*n) + 8<<20 }

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// strictSeeds are RDB files holding every encoding the strict parser
// decodes (crafted: no server needed).
func strictSeeds(f *testing.F) {
	f.Helper()
	lpEntryInt := []byte{0x05, 0x01}
	zl := ziplist("a", int64(1), "bb", int64(-200), int64(1)<<40)
	for _, k := range []craftKey{
		{"s", TypeString, rdbStr([]byte("value"))},
		{"lzf", TypeString, []byte{0xc3, 6, 8, 2, 'a', 'b', 'c', 3 << 5, 2}},
		{"h", TypeHashListpack, rdbStr(listpack(2, lpEntry("f"), lpEntryInt))},
		{"z", TypeZSetListpack, rdbStr(listpack(2, lpEntry("m"), lpEntryInt))},
		{"q", TypeListQuicklist2, append([]byte{1, 2}, rdbStr(listpack(1, lpEntry("x")))...)},
		{"q1", TypeListQuicklist, append([]byte{1}, rdbStr(zl)...)},
		{"zl", TypeHashZiplist, rdbStr(ziplist("f", "v"))},
		{"zm", TypeHashZipmap, rdbStr(zipmap("f", "v"))},
		{"is", TypeSetIntset, rdbStr(intset16(1, 2, 3))},
		{"set", TypeSet, append([]byte{2}, append(rdbStr([]byte("a")), rdbStr([]byte("b"))...)...)},
		{"z2", TypeZSet2, append(append([]byte{1}, rdbStr([]byte("m"))...), 0, 0, 0, 0, 0, 0, 0xf0, 0x3f)},
	} {
		f.Add(craftRDB(f, k))
	}
}

// FuzzStrictParse: on any bytes the strict parser neither panics nor
// allocates beyond a bound of the input's size, and every value it
// accepts is accepted again on its own (CheckValue) with the same length,
// and has the same length for the lenient parser.
func FuzzStrictParse(f *testing.F) {
	strictSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		before := totalAlloc()
		p := NewParser(bytes.NewReader(data), true)
		p.Strict = true
		for {
			en, err := p.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("error without ErrFormat: %v", err)
				}
				break
			}
			if en.Kind != KindKey {
				continue
			}
			n, err := CheckValue(en.Type, en.Value)
			if err != nil || n != len(en.Value) {
				t.Fatalf("accepted value of type %d refused on its own: %d of %d bytes, %v", en.Type, n, len(en.Value), err)
			}
			lax := NewParser(bytes.NewReader(en.Value), false)
			if err := lax.skipValue(en.Type); err != nil || lax.Offset() != int64(len(en.Value)) {
				t.Fatalf("lenient parse of an accepted value of type %d: %d of %d bytes, %v", en.Type, lax.Offset(), len(en.Value), err)
			}
		}
		if a := totalAlloc() - before; a > allocBound(len(data)) {
			t.Fatalf("%d bytes allocated for %d input bytes", a, len(data))
		}
	})
}

// FuzzCheckValue: any value of any type is refused with ErrFormat or
// accepted, never a panic.
func FuzzCheckValue(f *testing.F) {
	f.Add(byte(TypeHashListpack), rdbStr(listpack(2, lpEntry("f"), lpEntry("v"))))
	f.Add(byte(TypeStreamListpacks2), []byte{0})
	f.Add(byte(TypeSetIntset), rdbStr(intset16(-1, 5)))
	f.Add(byte(TypeHashZiplist), rdbStr(ziplist("f", int64(7))))
	f.Add(byte(TypeHashMetadata), append(make([]byte, 8), 1, 0, 1, 'f', 1, 'v'))
	f.Fuzz(func(t *testing.T, typ byte, value []byte) {
		before := totalAlloc()
		n, err := CheckValue(typ, value)
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("error without ErrFormat: %v", err)
		}
		if n < 0 || n > len(value) {
			t.Fatalf("used %d of %d bytes", n, len(value))
		}
		if a := totalAlloc() - before; a > allocBound(len(value)) {
			t.Fatalf("%d bytes allocated for %d input bytes", a, len(value))
		}
	})
}
