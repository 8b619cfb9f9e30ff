package pgdump

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// Export writes the snapshot as one plain SQL stream that `psql -f` (or
// `psql < file`) loads into an empty database: pre-data, every table as a
// COPY … FROM stdin block, the large objects, post-data, then sequence
// values. Grants are left out, as on restore by default. Data files are
// streamed, never held whole; a data file whose row count differs from
// the dump's stops the export with an error.
func Export(ctx context.Context, src artifact.Source, w io.Writer) error {
	return ExportAs(ctx, Component, src, w)
}

// ExportAs is Export of a snapshot component called name (the system
// database on PostgreSQL is the component system-mysql).
func ExportAs(ctx context.Context, name string, src artifact.Source, w io.Writer) error {
	return renamed(export(ctx, name, src, w), name)
}

func export(ctx context.Context, name string, src artifact.Source, w io.Writer) error {
	m, err := readMeta(src)
	if err != nil {
		return err
	}
	// The schema files are read and checked whole before the first byte
	// is written: what psql runs from the export is what a restore would.
	var raw [3][]byte
	for i, name := range []string{FilePreData, FilePostData, FileSequences} {
		if raw[i], err = readAll(ctx, src, name); err != nil {
			return err
		}
	}
	sch, err := parseSchema(m, raw[0], raw[1], raw[2])
	if err != nil {
		return err
	}
	pre, post := sch.preSec, sch.postSec
	bw := bufio.NewWriterSize(w, 256*1024)
	fmt.Fprintf(bw, "-- 3scale-ops export of %s: database %s, PostgreSQL %s, snapshot %s, LSN %s\n-- load with: psql -v ON_ERROR_STOP=1 -f FILE DBNAME (into an empty database)\n\n",
		name, m.Database, m.ServerVersion, m.Snapshot, m.LSN)
	if pre != nil && pre.RestrictKey != "" {
		// As pg_dump does: no psql meta-command but COPY's end marker
		// is obeyed until the matching \unrestrict.
		fmt.Fprintf(bw, "\\restrict %s\n\n", pre.RestrictKey)
	}
	if pre != nil {
		bw.WriteString(pre.text(false))
	} else {
		bw.Write(raw[0])
	}
	for _, t := range m.Tables {
		fmt.Fprintf(bw, "\n-- data of %s (%d rows)\nCOPY %s (%s) FROM stdin;\n", t.Ident, t.Rows, t.Ident, t.Columns)
		for _, f := range t.Files {
			if err := copyFile(ctx, src, f.Name, bw, f.Rows); err != nil {
				return err
			}
		}
		bw.WriteString("\\.\n")
	}
	if lo := m.LargeObjects; lo != nil {
		fmt.Fprintf(bw, "\n-- %d large objects\n%s;\n%s;\n", lo.Rows, loPrepare, strings.Replace(loCopyIn, "STDIN", "stdin", 1))
		if err := copyFile(ctx, src, lo.Name, bw, lo.Rows); err != nil {
			return err
		}
		fmt.Fprintf(bw, "\\.\n%s;\n%s;\n", loCreate, loDropTable)
	}
	bw.WriteString("\n")
	if post != nil {
		bw.WriteString(post.text(false))
		bw.WriteString("\n")
	} else {
		bw.Write(raw[1])
	}
	bw.Write(raw[2])
	if pre != nil && pre.RestrictKey != "" {
		fmt.Fprintf(bw, "\n\\unrestrict %s\n", pre.RestrictKey)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("zync-postgres: writing the export: %w", err)
	}
	return nil
}

// copyFile streams one artifact into w; rows >= 0 checks the line count.
func copyFile(ctx context.Context, src artifact.Source, name string, w io.Writer, rows int64) error {
	r, err := src.Open(ctx, name)
	if err != nil {
		return dataErr(fmt.Errorf("zync-postgres: opening %s: %w", name, err))
	}
	defer r.Close()
	// The count and the end-marker check see each piece before w does.
	lc := &lineCounter{stop: rows >= 0}
	_, err = io.Copy(io.MultiWriter(lc, w), r)
	if errors.Is(err, errEndMarker) || rows >= 0 && lc.EndMarker() {
		return errs.Corrupt(fmt.Errorf("zync-postgres: %s holds %v; psql would run what follows it as SQL: %w", name, errEndMarker, artifact.ErrCorrupt), hintForged)
	}
	if err != nil {
		return dataErr(fmt.Errorf("zync-postgres: exporting %s: %w", name, err))
	}
	if rows >= 0 && (lc.lines != rows || (lc.n > 0 && lc.last != '\n')) {
		return errs.Corrupt(fmt.Errorf("zync-postgres: %s holds %d rows, the dump wrote %d: %w", name, lc.lines, rows, artifact.ErrCorrupt), hintRedo)
	}
	return ctx.Err()
}
