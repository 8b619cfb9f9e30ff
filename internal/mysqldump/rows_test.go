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
