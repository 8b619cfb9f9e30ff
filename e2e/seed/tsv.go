package seed

import (
	"bufio"
	"io"
	"strconv"
	"time"
)

// tsv writes rows in the tab-separated text format both MySQL's LOAD DATA
// (default FIELDS/LINES options) and PostgreSQL's COPY … FROM STDIN (text
// format) read: \N is NULL; backslash, tab, newline and carriage return
// are backslash-escaped. It counts rows and bytes.
type tsv struct {
	w     *bufio.Writer
	rows  int64
	bytes int64
	col   int
}

func newTSV(w io.Writer) *tsv { return &tsv{w: bufio.NewWriterSize(w, 256<<10)} }

func (t *tsv) sep() {
	if t.col > 0 {
		t.w.WriteByte('\t')
		t.bytes++
	}
	t.col++
}

// Null writes a NULL field.
func (t *tsv) Null() { t.sep(); t.w.WriteString(`\N`); t.bytes += 2 }

// Int writes an integer field.
func (t *tsv) Int(v int64) {
	t.sep()
	var b [24]byte
	s := strconv.AppendInt(b[:0], v, 10)
	t.w.Write(s)
	t.bytes += int64(len(s))
}

// IntOrNull writes v, or NULL when v is 0.
func (t *tsv) IntOrNull(v int64) {
	if v == 0 {
		t.Null()
		return
	}
	t.Int(v)
}

// Bool writes 1 or 0 (MySQL tinyint); PostgreSQL boolean columns use BoolPG.
func (t *tsv) Bool(v bool) {
	if v {
		t.Int(1)
	} else {
		t.Int(0)
	}
}

// BoolPG writes t or f.
func (t *tsv) BoolPG(v bool) {
	t.sep()
	if v {
		t.w.WriteByte('t')
	} else {
		t.w.WriteByte('f')
	}
	t.bytes++
}

// Time writes a UTC timestamp "2006-01-02 15:04:05" (a zero time is NULL).
func (t *tsv) Time(v time.Time) {
	if v.IsZero() {
		t.Null()
		return
	}
	t.sep()
	var b [32]byte
	s := v.UTC().AppendFormat(b[:0], "2006-01-02 15:04:05")
	t.w.Write(s)
	t.bytes += int64(len(s))
}

// Str writes an escaped text field.
func (t *tsv) Str(s string) {
	t.sep()
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '\\':
			esc = `\\`
		case '\t':
			esc = `\t`
		case '\n':
			esc = `\n`
		case '\r':
			esc = `\r`
		default:
			continue
		}
		t.w.WriteString(s[start:i])
		t.w.WriteString(esc)
		t.bytes++
		start = i + 1
	}
	t.w.WriteString(s[start:])
	t.bytes += int64(len(s))
}

// StrOrNull writes s, or NULL when s is empty.
func (t *tsv) StrOrNull(s string) {
	if s == "" {
		t.Null()
		return
	}
	t.Str(s)
}

// End finishes a row.
func (t *tsv) End() {
	t.w.WriteByte('\n')
	t.bytes++
	t.rows++
	t.col = 0
}

// Flush writes buffered data and returns the first write error.
func (t *tsv) Flush() error { return t.w.Flush() }

// produceTSV runs gen into a pipe in its own goroutine: the server reads
// the returned reader; done gives gen's result once it has finished (the
// reader side must be closed if the server stops reading early).
func produceTSV(gen func(*tsv) error) (*io.PipeReader, *tsv, <-chan error) {
	pr, pw := io.Pipe()
	w := newTSV(pw)
	done := make(chan error, 1)
	go func() {
		err := gen(w)
		if err == nil {
			err = w.Flush()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	return pr, w, done
}
