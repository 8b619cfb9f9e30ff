package mysqldump

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// Export writes the dump in src as one SQL script that `mysql DBNAME`
// loads into an empty database: tables, data in load order, then
// routines, views and triggers. Every file is checked against its
// recorded size and checksum as it is copied; a damaged file stops the
// export with an error (the output is then incomplete and must not be
// used).
func Export(ctx context.Context, src artifact.Source, w io.Writer) error {
	m, err := readMeta(src)
	if err != nil {
		return err
	}
	if err := checkFiles(src, m); err != nil {
		return err
	}
	header := fmt.Sprintf("-- 3scale-ops export of system-mysql database %s\n-- server %s; consistency %s", m.Database, m.Version, m.Consistency.Method)
	if m.Consistency.BinlogFile != "" {
		header += fmt.Sprintf(", binlog %s:%d", m.Consistency.BinlogFile, m.Consistency.BinlogPos)
	}
	if m.Consistency.GTID != "" {
		header += ", gtid " + m.Consistency.GTID
	}
	header += "\n-- load with: mysql DBNAME < this-file\n"
	if _, err := io.WriteString(w, header+sessionHeader); err != nil {
		return err
	}
	copyFile := func(fm FileMeta) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rc, err := src.Open(ctx, fm.Name)
		if err != nil {
			return err
		}
		defer rc.Close()
		hr := newHashReader(rc)
		ow := &outWriter{w: w}
		if _, err := io.Copy(ow, hr); err != nil {
			if ow.err != nil {
				return fmt.Errorf("system-mysql export: write: %w", ow.err)
			}
			return exportErr(fmt.Errorf("system-mysql export: file %s: %w", fm.Name, err))
		}
		if err := hr.verify(fm); err != nil {
			return exportErr(fmt.Errorf("system-mysql export: %w", err))
		}
		return nil
	}
	if err := copyFile(m.PreData); err != nil {
		return err
	}
	for _, t := range m.Tables {
		for _, f := range t.Files {
			if err := copyFile(f); err != nil {
				return err
			}
		}
	}
	if err := copyFile(m.PostData); err != nil {
		return err
	}
	_, err = io.WriteString(w, "SET foreign_key_checks=1;\nSET unique_checks=1;\n-- end of export\n")
	return err
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
