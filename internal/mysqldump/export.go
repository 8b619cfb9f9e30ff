package mysqldump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"unsafe"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// Export writes the dump in src as one SQL script that `mysql DBNAME`
// loads into an empty database: tables, data in load order, then
// routines, views and triggers.
//
// It runs the restore's statement check (docs/mysql-engine.md,
// "Statements a restore runs") and writes only what passed it: the
// schema files are read and checked whole before the first byte is
// written, and each data statement is checked before it is written, so a
// statement planted in a snapshot whose checksums were forged to match
// never reaches the output (a `mysql` reading it through a pipe would run
// it). The statements are written as the restore sends them, each ended
// by ";" and a newline (the post-data inside DELIMITER ;;); comments
// between statements are left out. Every file is also checked against its
// recorded size and checksum; a damaged file stops the export with an
// error (the output is then incomplete and must not be used).
func Export(ctx context.Context, src artifact.Source, w io.Writer) error {
	m, err := readMeta(src)
	if err != nil {
		return err
	}
	if err := checkFiles(src, m); err != nil {
		return err
	}
	pre, post, _, err := checkedSchema(ctx, src, m)
	if err != nil {
		return exportErr(fmt.Errorf("system-mysql export: %w", err))
	}
	header := fmt.Sprintf("-- 3scale-ops export of system-mysql database %s\n-- server %s; consistency %s", m.Database, m.Version, m.Consistency.Method)
	if m.Consistency.BinlogFile != "" {
		header += fmt.Sprintf(", binlog %s:%d", m.Consistency.BinlogFile, m.Consistency.BinlogPos)
	}
	if m.Consistency.GTID != "" {
		header += ", gtid " + m.Consistency.GTID
	}
	header += "\n-- load with: mysql DBNAME < this-file\n"
	ow := &outWriter{w: w}
	writeErr := func(err error) error { return fmt.Errorf("system-mysql export: write: %w", err) }
	if _, err := io.WriteString(ow, header+sessionHeader); err != nil {
		return writeErr(err)
	}
	if err := writeStatements(ow, pre, ";"); err != nil {
		return writeErr(err)
	}
	for _, t := range m.Tables {
		for _, f := range t.Files {
			if err := exportData(ctx, src, ow, t.Name, f); err != nil {
				return err
			}
		}
	}
	if _, err := io.WriteString(ow, "DELIMITER ;;\n"); err != nil {
		return writeErr(err)
	}
	if err := writeStatements(ow, post, ";;"); err != nil {
		return writeErr(err)
	}
	if _, err := io.WriteString(ow, "DELIMITER ;\nSET foreign_key_checks=1;\nSET unique_checks=1;\n-- end of export\n"); err != nil {
		return writeErr(err)
	}
	return nil
}

// writeStatements writes each statement followed by delim and a newline.
func writeStatements(w io.Writer, stmts []string, delim string) error {
	for _, st := range stmts {
		if _, err := io.WriteString(w, st+delim+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// exportData writes one data file's statements, each once it has passed
// the check a restore runs on it (checkedStatements).
func exportData(ctx context.Context, src artifact.Source, ow *outWriter, table string, fm FileMeta) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rc, err := src.Open(ctx, fm.Name)
	if err != nil {
		return exportErr(fmt.Errorf("system-mysql export: file %s: %w", fm.Name, err))
	}
	defer rc.Close()
	err = checkedStatements(rc, table, fm, func(q string) error {
		// The reader's buffer again, not a copy (io.Writer must not change
		// it); ow keeps the first write error.
		_, _ = ow.Write(unsafe.Slice(unsafe.StringData(q), len(q)))
		_, _ = io.WriteString(ow, ";\n")
		return ow.err
	})
	if ow.err != nil {
		return fmt.Errorf("system-mysql export: write: %w", ow.err)
	}
	if err != nil {
		return exportErr(fmt.Errorf("system-mysql export: table %s, file %s: %w", table, fm.Name, err))
	}
	return nil
}

// outWriter remembers a write error, to tell it from a read error.
type outWriter struct {
	w   io.Writer
	err error
}

func (o *outWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil {
		o.err = err
	}
	return n, err
}

// exportErr classifies an error reading the snapshot: damaged content
// (exit 3, as in every engine) or a failure to read it (exit 1).
func exportErr(err error) error {
	code := errs.Failure
	if artifact.Damaged(err) || errors.Is(err, ErrTruncated) {
		code = errs.Mismatch
	}
	return errs.Wrap(code, err, "run `3scale-ops backups verify --read-data` and export another snapshot")
}
