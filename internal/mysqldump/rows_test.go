package mysqldump

import (
	"bytes"
	"database/sql"
	"math/rand/v2"
	"testing"
)

// maxWriter records the largest single Write, the memory a row costs on
// top of the driver's own buffer.
type maxWriter struct {
	bytes.Buffer
	max int
}

func (m *maxWriter) Write(p []byte) (int, error) {
	m.max = max(m.max, len(p))
	return m.Buffer.Write(p)
}

// An 8 MB row (Porta's proxy_configs.content reaches several MB) is
// written in bounded pieces, never assembled a second time in memory, and
// its text is exactly the escaped literal.
func TestRowWriterBoundsLargeValues(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	text := make([]byte, 8<<20)
	for i := range text {
		const alphabet = "ab'\\\n\"\x00\x1az{}"
		text[i] = alphabet[rnd.IntN(len(alphabet))]
	}
	bin := text[:3<<20]
	cols := []column{{Name: "id", Kind: kindNumber}, {Name: "content", Kind: kindString}, {Name: "blob", Kind: kindBinary},
		{Name: "none", Kind: kindString}, {Name: "empty", Kind: kindBinary}}
	vals := []sql.RawBytes{[]byte("42"), text, bin, nil, []byte{}}

	var w maxWriter
	rw := &rowWriter{w: &w, scratch: make([]byte, 0, 3*valuePiece+64)}
	rw.row(cols, vals)
	if rw.err != nil {
		t.Fatal(rw.err)
	}
	want := []byte("(42,")
	want = appendString(want, text)
	want = append(want, ',')
	want = appendHex(want, bin)
	want = append(want, ",NULL,'')"...)
	if !bytes.Equal(w.Bytes(), want) {
		t.Fatalf("row text differs from the escaped literal (%d vs %d bytes)", w.Len(), len(want))
	}
	if rw.n != int64(len(want)) {
		t.Fatalf("counted %d bytes, wrote %d", rw.n, len(want))
	}
	if limit := 3*valuePiece + 64; w.max > limit {
		t.Fatalf("largest write %d bytes, want ≤ %d (a whole value was buffered)", w.max, limit)
	}
}

// appendStringByBytes is the byte-at-a-time escape the word scan of
// appendStringBody must agree with.
func appendStringByBytes(b, v []byte) []byte {
	for _, c := range v {
		if e := escapes[c]; e != 0 {
			b = append(b, '\\', e)
		} else {
			b = append(b, c)
		}
	}
	return b
}

// Every byte value, at every offset within a word and near the ends of a
// value, escapes as the byte-at-a-time loop does.
func TestAppendStringBodyWordScan(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for c := 0; c < 256; c++ {
		for n := 1; n <= 24; n++ {
			for at := 0; at < n; at++ {
				v := bytes.Repeat([]byte{'a'}, n)
				v[at] = byte(c)
				if got, want := appendStringBody(nil, v), appendStringByBytes(nil, v); !bytes.Equal(got, want) {
					t.Fatalf("byte %#x at %d of %d: %q, want %q", c, at, n, got, want)
				}
			}
		}
	}
	for i := 0; i < 2000; i++ {
		v := make([]byte, rnd.IntN(300))
		for j := range v {
			if rnd.IntN(4) == 0 {
				v[j] = byte(rnd.IntN(256))
			} else {
				v[j] = byte(' ' + rnd.IntN(95))
			}
		}
		if got, want := appendStringBody([]byte("x"), v), appendStringByBytes([]byte("x"), v); !bytes.Equal(got, want) {
			t.Fatalf("%q: %q, want %q", v, got, want)
		}
	}
}

// BenchmarkAppendStringBody escapes the bench data's two kinds of text:
// a proxy config's JSON (nothing to escape) and an audit's YAML (a
// newline every few dozen bytes).
func BenchmarkAppendStringBody(b *testing.B) {
	rule := `{"http_method":"GET","pattern":"/v1/0cc175b9c0f1b6a831c399e269772661/{id}","metric_system_name":"hits","delta":1,"owner_type":"BackendApi","parameters":["id"],"querystring_parameters":{}},`
	yaml := "---\nstate:\n- pending\n- live\nname:\n- 0cc175b9c0f1b6a831c399e269772661\n- it's ünïcødé\ndescription: 92eb5ffee6ae2fec3ad71c777531578f "
	for _, c := range []struct{ name, unit string }{{"json", rule}, {"yaml", yaml}} {
		v := bytes.Repeat([]byte(c.unit), valuePiece/len(c.unit))
		buf := make([]byte, 0, 3*valuePiece)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(v)))
			for b.Loop() {
				buf = appendStringBody(buf[:0], v)
			}
		})
	}
}
