package pgdump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

const hintRedo = "run the backup again, or restore another snapshot (`3scale-ops backups list`)"

// readMeta loads and sanity-checks the component metadata against the
// files the source holds.
func readMeta(src artifact.Source) (*Meta, error) {
	var m Meta
	for k, v := range map[string]any{"format": &m.Format, "server_version": &m.ServerVersion,
		"server_version_num": &m.ServerVersionNum, "database": &m.Database, "snapshot": &m.Snapshot,
		"lsn": &m.LSN, "extensions": &m.Extensions, "tables": &m.Tables} {
		if err := src.Get(k, v); err != nil {
			return nil, errs.Wrap(errs.Usage, fmt.Errorf("zync-postgres: snapshot metadata %q: %w", k, err), hintRedo)
		}
	}
	if m.Format < 1 || m.Format > FormatVersion {
		return nil, errs.New(errs.Usage, "upgrade 3scale-ops to restore this snapshot",
			"zync-postgres: artifact format %d is not supported by this version (supports 1..%d)", m.Format, FormatVersion)
	}
	have := map[string]artifact.FileInfo{}
	for _, f := range src.Files() {
		have[f.Name] = f
	}
	for _, n := range []string{FilePreData, FilePostData, FileSequences} {
		if _, ok := have[n]; !ok {
			return nil, errs.New(errs.Usage, hintRedo, "zync-postgres: snapshot lacks %s", n)
		}
	}
	for _, t := range m.Tables {
		for _, f := range t.Files {
			fi, ok := have[f.Name]
			if !ok {
				return nil, errs.New(errs.Usage, hintRedo, "zync-postgres: snapshot lacks %s (table %s)", f.Name, t.Ident)
			}
			if fi.RawSize != 0 && fi.RawSize != f.Bytes {
				return nil, errs.Wrap(errs.Usage, fmt.Errorf("zync-postgres: %s holds %d bytes, the dump wrote %d (table %s): %w",
					f.Name, fi.RawSize, f.Bytes, t.Ident, artifact.ErrCorrupt), hintRedo)
			}
		}
	}
	return &m, nil
}

// Preflight checks, without changing anything, that the snapshot's
// metadata is sane, that the target is reachable and not older than the
// source, that the extensions it needs are available, and that it is
// empty (or that DropExisting was given).
func (e *Engine) Preflight(ctx context.Context, src artifact.Source) error {
	m, err := readMeta(src)
	if err != nil {
		return err
	}
	c, err := e.connect(ctx, appLoad)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return e.checkTarget(ctx, c, m)
}

func (e *Engine) checkTarget(ctx context.Context, c *pgx.Conn, m *Meta) error {
	var num int
	var ver string
	if err := c.QueryRow(ctx, "SELECT current_setting('server_version_num')::int, current_setting('server_version')").Scan(&num, &ver); err != nil {
		return dbErr("reading the target server version", err)
	}
	if num/10000 < m.ServerVersionNum/10000 {
		return errs.New(errs.Usage, "restore into PostgreSQL "+fmt.Sprint(m.ServerVersionNum/10000)+" or later",
			"zync-postgres: target PostgreSQL %s is older than the source (%s)", ver, m.ServerVersion)
	}
	missing, err := queryStrings(ctx, c, `SELECT x FROM unnest($1::text[]) x
	    WHERE x NOT IN (SELECT format('%I', name) FROM pg_available_extensions)`, m.Extensions)
	if err != nil {
		return dbErr("listing available extensions", err)
	}
	if len(missing) > 0 {
		return errs.New(errs.Usage, "install the extension packages on the target server",
			"zync-postgres: target lacks extensions %s", strings.Join(missing, ", "))
	}
	if e.DropExisting {
		return nil
	}
	objs, err := existingObjects(ctx, c)
	if err != nil {
		return err
	}
	if len(objs) > 0 {
		shown := objs
		more := ""
		if len(shown) > 10 {
			shown, more = shown[:10], fmt.Sprintf(" and %d more", len(objs)-10)
		}
		return errs.New(errs.Usage, "restore into an empty database, or consent to replacing it with --drop-existing",
			"zync-postgres: target database is not empty: %s%s", strings.Join(shown, ", "), more)
	}
	return nil
}

// existingObjects lists relations and routines in user schemas.
func existingObjects(ctx context.Context, c *pgx.Conn) ([]string, error) {
	objs, err := queryStrings(ctx, c, `SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
	    JOIN pg_namespace n ON n.oid = c.relnamespace
	    WHERE c.relkind IN ('r','p','v','m','S','f') AND `+userNS+` AND `+notExt("pg_class", "c.oid")+`
	    UNION ALL SELECT format('%I.%I()', n.nspname, p.proname) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	    WHERE `+userNS+` AND `+notExt("pg_proc", "p.oid")+`
	    UNION ALL SELECT format('%I.%I', n.nspname, t.typname) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
	    WHERE t.typtype IN ('e','d') AND `+userNS+` AND `+notExt("pg_type", "t.oid")+` ORDER BY 1`)
	if err != nil {
		return nil, dbErr("listing the target's objects", err)
	}
	return objs, nil
}

// dropExisting removes every user object of the target (consented by
// DropExisting): non-public schemas whole, public object by object.
func dropExisting(ctx context.Context, c *pgx.Conn) error {
	stmts, err := queryStrings(ctx, c, `SELECT format('DROP SCHEMA %I CASCADE', n.nspname) FROM pg_namespace n
	    WHERE `+userNS+` AND n.nspname <> 'public' AND `+notExt("pg_namespace", "n.oid")+`
	  UNION ALL SELECT format('DROP %s IF EXISTS %I.%I CASCADE', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
	      WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, n.nspname, c.relname)
	    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	    WHERE n.nspname = 'public' AND c.relkind IN ('r','p','v','m','S','f') AND `+notExt("pg_class", "c.oid")+`
	  UNION ALL SELECT format('DROP ROUTINE IF EXISTS %s CASCADE', p.oid::regprocedure) FROM pg_proc p
	    JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND `+notExt("pg_proc", "p.oid")+`
	  UNION ALL SELECT format('DROP TYPE IF EXISTS %I.%I CASCADE', n.nspname, t.typname) FROM pg_type t
	    JOIN pg_namespace n ON n.oid = t.typnamespace
	    WHERE n.nspname = 'public' AND t.typtype IN ('e','d') AND `+notExt("pg_type", "t.oid"))
	if err != nil {
		return dbErr("listing objects to drop", err)
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		return dbErr("dropping existing objects", err)
	}
	defer tx.Rollback(context.Background())
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return dbErr(s, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return dbErr("dropping existing objects", err)
	}
	return nil
}

// verifyArtifacts reads every file to its end before anything is touched:
// the source checks sizes and checksums, and every data file must hold
// exactly the rows the dump counted, each ended by a newline.
func (e *Engine) verifyArtifacts(ctx context.Context, src artifact.Source, m *Meta, task *progress.Task) error {
	type job struct {
		name, table string
		rows        int64
		data        bool
	}
	jobs := []job{{name: FilePreData}, {name: FilePostData}, {name: FileSequences}}
	for _, t := range m.Tables {
		for _, f := range t.Files {
			jobs = append(jobs, job{f.Name, t.Ident, f.Rows, true})
		}
	}
	return pool(ctx, e.parallel(), jobs, func(ctx context.Context, _ int, j job) error {
		r, err := src.Open(ctx, j.name)
		if err != nil {
			return errs.Wrap(errs.Usage, fmt.Errorf("zync-postgres: opening %s: %w", j.name, err), hintRedo)
		}
		defer r.Close()
		lc := &lineCounter{}
		if _, err := io.Copy(lc, r); err != nil {
			return errs.Wrap(errs.Usage, fmt.Errorf("zync-postgres: reading %s: %w; nothing was restored", j.name, err), hintRedo)
		}
		if j.data && (lc.lines != j.rows || (lc.n > 0 && lc.last != '\n')) {
			return errs.Wrap(errs.Usage, fmt.Errorf("zync-postgres: %s (table %s) holds %d rows, the dump wrote %d: %w; nothing was restored",
				j.name, j.table, lc.lines, j.rows, artifact.ErrCorrupt), hintRedo)
		}
		return nil
	})
}

type lineCounter struct {
	n, lines int64
	last     byte
}

func (l *lineCounter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	l.lines += int64(bytes.Count(p, []byte{'\n'}))
	l.n += int64(len(p))
	l.last = p[len(p)-1]
	return len(p), nil
}

func readAll(ctx context.Context, src artifact.Source, name string) ([]byte, error) {
	r, err := src.Open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("zync-postgres: opening %s: %w", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("zync-postgres: reading %s: %w", name, err)
	}
	return b, nil
}

var errMismatch = errors.New("restored row counts differ from the snapshot")
