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

const hintRedo = "restore another snapshot (`3scale-ops backups list`); while the source still runs, also take a new backup"

// dataErr classifies an error reading the snapshot: damaged content
// (exit 3, like every engine) or a failure to read it (exit 1).
func dataErr(err error) error {
	if artifact.Damaged(err) {
		return errs.Corrupt(artifact.AsCorrupt(err), hintRedo)
	}
	return errs.Wrap(errs.Failure, err, hintRedo)
}

// readMeta loads and sanity-checks the component metadata against the
// files the source holds.
func readMeta(src artifact.Source) (*Meta, error) {
	var m Meta
	if err := src.Get("format", &m.Format); err != nil {
		return nil, errs.Corrupt(fmt.Errorf("zync-postgres: snapshot metadata %q: %w", "format", artifact.AsCorrupt(err)), hintRedo)
	}
	if m.Format < 1 || m.Format > FormatVersion {
		return nil, errs.New(errs.Usage, "upgrade 3scale-ops to restore this snapshot",
			"zync-postgres: artifact format %d is not supported by this version (supports 1..%d)", m.Format, FormatVersion)
	}
	keys := map[string]any{"server_version": &m.ServerVersion,
		"server_version_num": &m.ServerVersionNum, "database": &m.Database, "snapshot": &m.Snapshot,
		"lsn": &m.LSN, "extensions": &m.Extensions, "tables": &m.Tables}
	if m.Format >= 2 {
		for k, v := range map[string]any{"pg_dump_version": &m.PgDumpVersion, "encoding": &m.Encoding,
			"collate": &m.Collate, "ctype": &m.Ctype, "large_objects": &m.LargeObjects} {
			keys[k] = v
		}
	}
	for k, v := range keys {
		if err := src.Get(k, v); err != nil {
			return nil, errs.Corrupt(fmt.Errorf("zync-postgres: snapshot metadata %q: %w", k, artifact.AsCorrupt(err)), hintRedo)
		}
	}
	have := map[string]artifact.FileInfo{}
	for _, f := range src.Files() {
		have[f.Name] = f
	}
	for _, n := range []string{FilePreData, FilePostData, FileSequences} {
		if _, ok := have[n]; !ok {
			return nil, errs.Corrupt(fmt.Errorf("zync-postgres: snapshot lacks %s: %w", n, artifact.ErrCorrupt), hintRedo)
		}
	}
	for _, t := range m.dataTables() {
		for _, f := range t.Files {
			fi, ok := have[f.Name]
			if !ok {
				return nil, errs.Corrupt(fmt.Errorf("zync-postgres: snapshot lacks %s (table %s): %w", f.Name, t.Ident, artifact.ErrCorrupt), hintRedo)
			}
			if fi.RawSize != 0 && fi.RawSize != f.Bytes {
				return nil, errs.Corrupt(fmt.Errorf("zync-postgres: %s holds %d bytes, the dump wrote %d (table %s): %w",
					f.Name, fi.RawSize, f.Bytes, t.Ident, artifact.ErrCorrupt), hintRedo)
			}
		}
	}
	return &m, nil
}

// dataTables is the tables plus, as a pseudo-table, the large objects.
func (m *Meta) dataTables() []Table {
	if m.LargeObjects == nil {
		return m.Tables
	}
	return append(append([]Table(nil), m.Tables...), Table{Ident: "large objects", Rows: m.LargeObjects.Rows, Files: []DataFile{*m.LargeObjects}})
}

// Preflight checks, without changing anything, that the snapshot's
// metadata is sane, that the target server is reachable and not older
// than the source, that the extensions it needs are available, and that
// the target database is empty (or that DropExisting was given). A
// target database that does not exist yet passes: Restore creates it.
// It then reads back every artifact as Restore would (sizes, checksums,
// row counts); a Restore of the same source that follows does not read
// them back again.
func (e *Engine) Preflight(ctx context.Context, src artifact.Source) error {
	e.setChecked(nil)
	m, err := e.preflight(ctx, src)
	if err == nil {
		if err = e.verifyArtifacts(ctx, src, m, progress.NewTask(e.Name())); err == nil {
			e.setChecked(src)
		}
	}
	return e.named(err)
}

func (e *Engine) setChecked(src artifact.Source) {
	e.checkedMu.Lock()
	defer e.checkedMu.Unlock()
	e.checked = src
}

// takeChecked reports whether src is the source the last Preflight read
// back, and forgets it: one Restore per Preflight.
func (e *Engine) takeChecked(src artifact.Source) bool {
	e.checkedMu.Lock()
	defer e.checkedMu.Unlock()
	ok := src != nil && e.checked == src
	e.checked = nil
	return ok
}

func (e *Engine) preflight(ctx context.Context, src artifact.Source) (*Meta, error) {
	m, err := readMeta(src)
	if err != nil {
		return nil, err
	}
	c, missing, err := e.openTarget(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.Background())
	return m, e.checkTarget(ctx, c, m, missing)
}

// openTarget connects to the target database. When it does not exist,
// it connects to the server's maintenance database instead and returns
// the missing database's name.
func (e *Engine) openTarget(ctx context.Context) (*pgx.Conn, string, error) {
	c, cfg, err := e.connectDB(ctx, appLoad, "")
	if err == nil {
		return c, "", nil
	}
	if cfg == nil || !missingDatabase(err) {
		return nil, "", connectErr(cfg, err)
	}
	for _, db := range []string{"postgres", "template1"} {
		if c, _, err2 := e.connectDB(ctx, appLoad, db); err2 == nil {
			return c, cfg.Database, nil
		}
	}
	return nil, "", errs.Wrap(errs.Usage, connectErr(cfg, err),
		"create the database "+cfg.Database+" first, or give a user that may connect to the postgres database and create it")
}

// createDatabase creates the missing target database with the source's
// encoding and locale.
func createDatabase(ctx context.Context, c *pgx.Conn, name string, m *Meta) error {
	q := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if m.Encoding != "" {
		q += fmt.Sprintf(" TEMPLATE template0 ENCODING %s LC_COLLATE %s LC_CTYPE %s",
			quoteLiteral(m.Encoding), quoteLiteral(m.Collate), quoteLiteral(m.Ctype))
	}
	if _, err := c.Exec(ctx, q); err != nil {
		return errs.Wrap(errs.Failure, dbErr("creating database "+name, err),
			fmt.Sprintf("create the database yourself (encoding %s, locale %s) or grant CREATEDB, then restore again", m.Encoding, m.Collate))
	}
	return nil
}

func (e *Engine) checkTarget(ctx context.Context, c *pgx.Conn, m *Meta, missing string) error {
	var num int
	var ver string
	if err := c.QueryRow(ctx, "SELECT current_setting('server_version_num')::int, current_setting('server_version')").Scan(&num, &ver); err != nil {
		return dbErr("reading the target server version", err)
	}
	if num/10000 < m.ServerVersionNum/10000 {
		return errs.New(errs.Usage, "restore into PostgreSQL "+fmt.Sprint(m.ServerVersionNum/10000)+" or later",
			"zync-postgres: target PostgreSQL %s is older than the source (%s)", ver, m.ServerVersion)
	}
	lacks, err := queryStrings(ctx, c, `SELECT x FROM unnest($1::text[]) x
	    WHERE x NOT IN (SELECT format('%I', name) FROM pg_available_extensions)`, m.Extensions)
	if err != nil {
		return dbErr("listing available extensions", err)
	}
	if len(lacks) > 0 {
		return errs.New(errs.Usage, "install the extension packages on the target server",
			"zync-postgres: target lacks extensions %s", strings.Join(lacks, ", "))
	}
	if e.DropExisting || missing != "" {
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

// existingObjects lists relations, routines, types, event triggers and
// large objects of the target.
func existingObjects(ctx context.Context, c *pgx.Conn) ([]string, error) {
	objs, err := queryStrings(ctx, c, `SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
	    JOIN pg_namespace n ON n.oid = c.relnamespace
	    WHERE c.relkind IN ('r','p','v','m','S','f','c') AND `+userNS+` AND `+notExt("pg_class", "c.oid")+`
	    UNION ALL SELECT format('%I.%I()', n.nspname, p.proname) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	    WHERE `+userNS+` AND `+notExt("pg_proc", "p.oid")+`
	    UNION ALL SELECT format('%I.%I', n.nspname, t.typname) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
	    WHERE t.typtype IN ('e','d','r') AND `+userNS+` AND `+notExt("pg_type", "t.oid")+`
	    UNION ALL SELECT format('event trigger %I', evtname) FROM pg_event_trigger e WHERE `+notExt("pg_event_trigger", "e.oid")+`
	    UNION ALL SELECT 'large object ' || oid FROM pg_largeobject_metadata ORDER BY 1`)
	if err != nil {
		return nil, dbErr("listing the target's objects", err)
	}
	return objs, nil
}

// dropExisting removes every user object of the target (consented by
// DropExisting): non-public schemas whole, public object by object, then
// event triggers and large objects.
func dropExisting(ctx context.Context, c *pgx.Conn) error {
	stmts, err := queryStrings(ctx, c, `SELECT format('DROP SCHEMA %I CASCADE', n.nspname) FROM pg_namespace n
	    WHERE `+userNS+` AND n.nspname <> 'public' AND `+notExt("pg_namespace", "n.oid")+`
	  UNION ALL SELECT format('DROP EVENT TRIGGER IF EXISTS %I', e.evtname) FROM pg_event_trigger e WHERE `+notExt("pg_event_trigger", "e.oid")+`
	  UNION ALL SELECT format('DROP %s IF EXISTS %I.%I CASCADE', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
	      WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END, n.nspname, c.relname)
	    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	    WHERE n.nspname = 'public' AND c.relkind IN ('r','p','v','m','S','f','c') AND `+notExt("pg_class", "c.oid")+`
	  UNION ALL SELECT format('DROP %s IF EXISTS %s CASCADE', CASE p.prokind WHEN 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END, p.oid::regprocedure) FROM pg_proc p
	    JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND `+notExt("pg_proc", "p.oid")+`
	  UNION ALL SELECT format('DROP TYPE IF EXISTS %I.%I CASCADE', n.nspname, t.typname) FROM pg_type t
	    JOIN pg_namespace n ON n.oid = t.typnamespace
	    WHERE n.nspname = 'public' AND t.typtype IN ('e','d','r') AND `+notExt("pg_type", "t.oid")+`
	  UNION ALL SELECT format('SELECT pg_catalog.lo_unlink(%s)', oid) FROM pg_largeobject_metadata`)
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
	for _, t := range m.dataTables() {
		for _, f := range t.Files {
			jobs = append(jobs, job{f.Name, t.Ident, f.Rows, true})
		}
	}
	return pool(ctx, e.parallel(), jobs, func(ctx context.Context, _ int, j job) error {
		r, err := src.Open(ctx, j.name)
		if err != nil {
			return dataErr(fmt.Errorf("zync-postgres: opening %s: %w", j.name, err))
		}
		defer r.Close()
		lc := &lineCounter{}
		if _, err := io.Copy(lc, r); err != nil {
			return dataErr(fmt.Errorf("zync-postgres: reading %s: %w; nothing was restored", j.name, err))
		}
		if j.data && lc.EndMarker() {
			return errs.Corrupt(fmt.Errorf("zync-postgres: %s (table %s) holds %v: %w; nothing was restored",
				j.name, j.table, errEndMarker, artifact.ErrCorrupt), hintForged)
		}
		if j.data && (lc.lines != j.rows || (lc.n > 0 && lc.last != '\n')) {
			return errs.Corrupt(fmt.Errorf("zync-postgres: %s (table %s) holds %d rows, the dump wrote %d: %w; nothing was restored",
				j.name, j.table, lc.lines, j.rows, artifact.ErrCorrupt), hintRedo)
		}
		return nil
	})
}

type lineCounter struct {
	n, lines int64
	last     byte
	// endMarker: a line that is only `\.` (COPY text's end of data,
	// which pg_dump never writes as data: a backslash in a value is
	// doubled). psql reading an export would end the COPY there and run
	// what follows as SQL.
	endMarker bool
	tail      [3]byte // the last bytes written, for a marker split between writes
	// stop makes Write fail with errEndMarker on the write that completes
	// a marker, so a writer after it never gets that write.
	stop bool
}

var errEndMarker = errors.New(`a line of only \. (COPY's end of data, never written by the dump)`)

func (l *lineCounter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !l.endMarker {
		// Prefix the last three bytes (or a newline at the start of the
		// file) so that a marker across writes is seen.
		var seam [6]byte
		k := copy(seam[:], l.tail[:])
		if l.n < 3 {
			k = copy(seam[:], append([]byte{'\n'}, l.tail[3-int(l.n):]...))
		}
		k += copy(seam[k:], p[:min(len(p), 3)])
		l.endMarker = hasEndMarker(seam[:k]) || hasEndMarker(p)
		if l.endMarker && l.stop {
			return 0, errEndMarker
		}
	}
	l.lines += int64(bytes.Count(p, []byte{'\n'}))
	l.n += int64(len(p))
	l.last = p[len(p)-1]
	if len(p) >= 3 {
		copy(l.tail[:], p[len(p)-3:])
	} else {
		t := append(l.tail[len(p):], p...)
		copy(l.tail[:], t)
	}
	return len(p), nil
}

// hasEndMarker reports a "\n\\.\n" (or "\n\\.\r") in b. One at the end
// of b, where the line may go on, is decided by the next write's seam or
// by EndMarker.
func hasEndMarker(b []byte) bool {
	for i := 0; ; i++ {
		j := bytes.Index(b[i:], []byte("\n\\."))
		if j < 0 {
			return false
		}
		i += j
		if rest := b[i+3:]; len(rest) > 0 && (rest[0] == '\n' || rest[0] == '\r') {
			return true
		}
	}
}

// EndMarker reports whether the data held a line of only `\.`, counting
// one left at the very end.
func (l *lineCounter) EndMarker() bool {
	return l.endMarker || l.n >= 2 && l.tail[1] == '\\' && l.tail[2] == '.' && (l.n == 2 || l.tail[0] == '\n')
}

func readAll(ctx context.Context, src artifact.Source, name string) ([]byte, error) {
	r, err := src.Open(ctx, name)
	if err != nil {
		return nil, dataErr(fmt.Errorf("zync-postgres: opening %s: %w", name, err))
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, dataErr(fmt.Errorf("zync-postgres: reading %s: %w", name, err))
	}
	return b, nil
}

var errMismatch = errors.New("restored row counts differ from the snapshot")
