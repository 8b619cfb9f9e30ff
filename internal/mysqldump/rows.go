package mysqldump

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// chunk is one data file's share of a table: primary key in [lo, hi)
// (open ends when the flags say so), or the whole table.
type chunk struct {
	Table    *tableInfo
	Index, N int
	Ranged   bool
	Lo, Hi   int64
	LastOpen bool // no upper bound
}

// planChunks splits a table with an integer primary key into ranges of
// about ChunkRows rows / ChunkBytes bytes, using MIN/MAX read inside the
// snapshot. Other tables are one chunk.
func (e *Engine) planChunks(ctx context.Context, c *sql.Conn, t *tableInfo) ([]chunk, error) {
	n := int64(1)
	if t.IntPK {
		n = max(ceilDiv(t.EstRows, e.opts.ChunkRows), ceilDiv(t.DataLen, e.opts.ChunkBytes))
	}
	if n <= 1 {
		return []chunk{{Table: t, Index: 1, N: 1}}, nil
	}
	var lo, hi sql.NullString
	pk := quoteIdent(t.PK[0])
	if err := c.QueryRowContext(ctx, "SELECT MIN("+pk+"), MAX("+pk+") FROM "+quoteIdent(t.Name)).Scan(&lo, &hi); err != nil {
		return nil, fmt.Errorf("primary key range of %s: %w", t.Name, err)
	}
	minV, err1 := strconv.ParseInt(lo.String, 10, 64)
	maxV, err2 := strconv.ParseInt(hi.String, 10, 64)
	if !lo.Valid || err1 != nil || err2 != nil || maxV-minV < 0 {
		return []chunk{{Table: t, Index: 1, N: 1}}, nil
	}
	span := uint64(maxV-minV) + 1
	n = min(n, 100_000)
	if uint64(n) > span {
		n = int64(span)
	}
	step := int64((span + uint64(n) - 1) / uint64(n))
	var out []chunk
	for i := int64(0); i < n; i++ {
		c := chunk{Table: t, Index: int(i) + 1, N: int(n), Ranged: true, Lo: minV + i*step, Hi: minV + (i+1)*step}
		if i == n-1 || c.Hi > maxV {
			c.LastOpen = true
			out = append(out, c)
			break
		}
		out = append(out, c)
	}
	for i := range out {
		out[i].N = len(out)
	}
	return out, nil
}

func ceilDiv(a, b int64) int64 {
	if a <= 0 {
		return 0
	}
	return (a + b - 1) / b
}

var plainName = regexp.MustCompile(`^[A-Za-z0-9_$]+$`)

func dataFileName(table string, i int) string {
	if !plainName.MatchString(table) {
		table = url.PathEscape(table)
	}
	return fmt.Sprintf("data/%s.%05d.sql", table, i)
}

func (c chunk) describe() string {
	if !c.Ranged {
		return "table " + quoteIdent(c.Table.Name)
	}
	if c.LastOpen {
		return fmt.Sprintf("table %s (%s ≥ %d)", quoteIdent(c.Table.Name), c.Table.PK[0], c.Lo)
	}
	return fmt.Sprintf("table %s (%s in [%d, %d))", quoteIdent(c.Table.Name), c.Table.PK[0], c.Lo, c.Hi)
}

func (c chunk) query() string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, col := range c.Table.Columns {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quoteIdent(col.Name))
	}
	b.WriteString(" FROM ")
	b.WriteString(quoteIdent(c.Table.Name))
	if c.Table.Versioned {
		b.WriteString(" FOR SYSTEM_TIME ALL")
	}
	if c.Ranged {
		pk := quoteIdent(c.Table.PK[0])
		fmt.Fprintf(&b, " WHERE %s >= %d", pk, c.Lo)
		if !c.LastOpen {
			fmt.Fprintf(&b, " AND %s < %d", pk, c.Hi)
		}
		b.WriteString(" ORDER BY " + pk)
	}
	return b.String()
}

// loadSQLMode is the sql_mode rows are loaded under: 0 stays 0 in an
// AUTO_INCREMENT column, and dates the source accepted (ALLOW_INVALID_DATES
// such as 2024-02-30, zero dates) are stored as they are, not zeroed.
const loadSQLMode = "NO_AUTO_VALUE_ON_ZERO,ALLOW_INVALID_DATES"

// sessionHeader makes a file loadable on its own by the mysql client.
const sessionHeader = "SET NAMES utf8mb4;\nSET time_zone='+00:00';\nSET sql_mode='" + loadSQLMode + "';\n" +
	"SET foreign_key_checks=0;\nSET unique_checks=0;\n" +
	"/*M!101100 SET SESSION system_versioning_insert_history=1 */;\n"

// hashWriter counts and checksums what goes through it.
type hashWriter struct {
	w   io.Writer
	crc hash.Hash32
	n   int64
}

func newHashWriter(w io.Writer) *hashWriter {
	return &hashWriter{w: w, crc: crc32.New(castagnoli)}
}

func (h *hashWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.crc.Write(p[:n])
	h.n += int64(n)
	return n, err
}

// dumpChunk streams one chunk's rows into its own file as multi-row
// INSERT statements.
func (e *Engine) dumpChunk(ctx context.Context, c *sql.Conn, sink artifact.Sink, ch chunk, task *progress.Task) (FileMeta, error) {
	t := ch.Table
	name := dataFileName(t.Name, ch.Index)
	fm := FileMeta{Name: name}
	if len(t.Columns) == 0 {
		return fm, fmt.Errorf("%s has no stored columns", quoteIdent(t.Name))
	}
	rows, err := c.QueryContext(ctx, ch.query())
	if err != nil {
		return fm, err
	}
	defer rows.Close()
	f, err := sink.Create(ctx, name, "sql")
	if err != nil {
		return fm, fmt.Errorf("create %s: %w", name, err)
	}
	hw := newHashWriter(f)
	w := bufio.NewWriterSize(hw, 256<<10)
	fmt.Fprintf(w, "-- 3scale-ops system-mysql data: %s, file %d of %d\n%s", quoteIdent(t.Name), ch.Index, ch.N, sessionHeader)

	var prefix []byte
	prefix = append(prefix, "INSERT INTO "...)
	prefix = append(prefix, quoteIdent(t.Name)...)
	prefix = append(prefix, " ("...)
	for i, col := range t.Columns {
		if i > 0 {
			prefix = append(prefix, ',')
		}
		prefix = append(prefix, quoteIdent(col.Name)...)
	}
	prefix = append(prefix, ") VALUES "...)

	vals := make([]sql.RawBytes, len(t.Columns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	// Rows go straight into the buffered file writer: no statement is
	// assembled in memory, so a worker holds the driver's current row and
	// a fixed scratch buffer whatever the row size (Porta's proxy_configs
	// rows are several MB).
	rw := &rowWriter{w: w, scratch: make([]byte, 0, 3*valuePiece+64)}
	var inStmt, total, stmtStart int64
	flush := func() error {
		if inStmt == 0 {
			return nil
		}
		rw.write([]byte(";\n"))
		if rw.err != nil {
			return fmt.Errorf("write %s: %w", name, rw.err)
		}
		task.AddItems(inStmt)
		task.AddBytes(rw.n - stmtStart)
		inStmt = 0
		return nil
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fm, err
		}
		if inStmt == 0 {
			stmtStart = rw.n
			rw.write(prefix)
		} else {
			rw.write([]byte{','})
		}
		rw.row(t.Columns, vals)
		inStmt++
		total++
		if rw.n-stmtStart >= int64(e.opts.StatementBytes) {
			if err := flush(); err != nil {
				return fm, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fm, err
	}
	if err := flush(); err != nil {
		return fm, err
	}
	fmt.Fprintf(w, "-- end of %s file %d: %d rows\n", quoteIdent(t.Name), ch.Index, total)
	if err := w.Flush(); err != nil {
		return fm, fmt.Errorf("write %s: %w", name, err)
	}
	f.SetCount(total)
	if err := f.Close(); err != nil {
		return fm, fmt.Errorf("close %s: %w", name, err)
	}
	fm.Rows, fm.Bytes, fm.CRC32C = total, hw.n, hw.crc.Sum32()
	return fm, nil
}

// valuePiece is how much of a value is escaped at a time.
const valuePiece = 64 << 10

// rowWriter writes SQL value tuples to w through a bounded scratch buffer,
// escaping long values piece by piece. The first write error sticks in err.
type rowWriter struct {
	w       io.Writer
	scratch []byte
	n       int64 // bytes written
	err     error
}

func (rw *rowWriter) write(b []byte) {
	if rw.err == nil {
		_, rw.err = rw.w.Write(b)
	}
	rw.n += int64(len(b))
}

// out writes s and returns it emptied for reuse.
func (rw *rowWriter) out(s []byte) []byte {
	rw.write(s)
	return s[:0]
}

// row writes one "(v1,v2,…)" tuple, exactly as appendRow would.
func (rw *rowWriter) row(cols []column, vals []sql.RawBytes) {
	s := append(rw.scratch[:0], '(')
	for i, v := range vals {
		if i > 0 {
			s = append(s, ',')
		}
		switch {
		case v == nil:
			s = append(s, "NULL"...)
		case cols[i].Kind == kindNumber:
			s = append(s, v...)
		case cols[i].Kind == kindBinary && len(v) == 0:
			s = append(s, "''"...)
		default:
			hex := cols[i].Kind == kindBinary
			if hex {
				s = append(s, '0', 'x')
			} else {
				s = append(s, '\'')
			}
			for len(v) > 0 {
				k := min(len(v), valuePiece)
				if hex {
					s = appendHexBody(s, v[:k])
				} else {
					s = appendStringBody(s, v[:k])
				}
				v = v[k:]
				if len(s) >= valuePiece {
					s = rw.out(s)
				}
			}
			if !hex {
				s = append(s, '\'')
			}
		}
		if len(s) >= valuePiece {
			s = rw.out(s)
		}
	}
	s = append(s, ')')
	rw.scratch = rw.out(s)
}

const hexDigits = "0123456789ABCDEF"

// appendHex writes v as a hex literal (0x…), exact for any bytes; an
// empty value is ” since 0x alone is not valid SQL.
func appendHex(b, v []byte) []byte {
	if len(v) == 0 {
		return append(b, "''"...)
	}
	return appendHexBody(append(b, '0', 'x'), v)
}

func appendHexBody(b, v []byte) []byte {
	n := len(b)
	b = slices.Grow(b, 2*len(v))[:n+2*len(v)]
	h := b[n:]
	for i, c := range v {
		h[2*i], h[2*i+1] = hexDigits[c>>4], hexDigits[c&15]
	}
	return b
}

// escapes are the bytes a quoted string literal escapes: the quote and the
// backslash, which must be, and NUL, newline, CR and Ctrl-Z, which the
// mysql client's line reading and C strings need. A double quote needs no
// escape inside single quotes; not escaping it keeps JSON values (Porta's
// proxy configs) a tenth shorter and their escaping cheaper.
var escapes = func() (t [256]byte) {
	t[0], t['\n'], t['\r'], t['\\'], t['\''], t[0x1a] = '0', 'n', 'r', '\\', '\'', 'Z'
	return t
}()

// appendString writes v as a quoted string literal with the escapes the
// mysql client and server understand (sql_mode without
// NO_BACKSLASH_ESCAPES, which the files set).
func appendString(b, v []byte) []byte {
	return append(appendStringBody(append(b, '\''), v), '\'')
}

// appendStringBody escapes v without the quotes; escaping is per byte, so
// a value may be escaped in pieces. It tests eight bytes at a time and
// looks at single bytes only in a word that may hold an escape (most
// words of JSON hold none), then copies each unescaped run at once.
func appendStringBody(b, v []byte) []byte {
	start, i := 0, 0
	for i < len(v) {
		if i+8 <= len(v) && !mayEscape(binary.LittleEndian.Uint64(v[i:])) {
			i += 8
			continue
		}
		for end := min(i+8, len(v)); i < end; i++ {
			if e := escapes[v[i]]; e != 0 {
				b = append(b, v[start:i]...)
				b = append(b, '\\', e)
				start = i + 1
			}
		}
	}
	return append(b, v[start:]...)
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// mayEscape reports whether the word x may hold a byte of escapes: a
// control byte (below 0x20: NUL, newline, CR, Ctrl-Z, and others that
// need no escape), a quote or a backslash. A false answer is exact; a
// true one sends the word to the byte loop.
func mayEscape(x uint64) bool {
	// hasLess(x, 0x20) | hasZero(x ^ '\'') | hasZero(x ^ '\\'), each the
	// standard bit trick: a byte's high bit is set where the byte is below
	// n (n ≤ 0x80) or is zero; borrows can only flag bytes above a real hit.
	q, s := x^(lsb*'\''), x^(lsb*'\\')
	return ((x-lsb*0x20)&^x|(q-lsb)&^q|(s-lsb)&^s)&msb != 0
}
