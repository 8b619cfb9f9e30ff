package pgdump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// copyJob is one ctid range of one table.
type copyJob struct {
	t     *table
	idx   int // file index within the table
	query string
	file  string
	pages int64
}

// Backup dumps the database at one point in time: a REPEATABLE READ,
// READ ONLY, DEFERRABLE transaction exports its snapshot, reads the
// catalogs and holds ACCESS SHARE locks; pg_dump writes the pre-data and
// post-data sections of the schema on that snapshot while Parallel
// workers import it and COPY tables (large ones split by ctid range) TO
// STDOUT in text format, each into its own artifact file, and the large
// objects into one more. A missing or too old pg_dump is refused before
// any row is read.
func (e *Engine) Backup(ctx context.Context, sink artifact.Sink, task *progress.Task) error {
	return e.named(e.backup(ctx, sink, task))
}

func (e *Engine) backup(ctx context.Context, sink artifact.Sink, task *progress.Task) error {
	task.SetPhase("schema")
	main, err := e.connect(ctx, appDump)
	if err != nil {
		return err
	}
	defer main.Close(context.Background())
	if _, err := main.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY DEFERRABLE"); err != nil {
		return dbErr("starting the snapshot transaction", err)
	}
	var meta Meta
	meta.Format = FormatVersion
	err = main.QueryRow(ctx, `SELECT pg_export_snapshot(), current_setting('server_version'),
	    current_setting('server_version_num')::int, current_database(),
	    (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text,
	    pg_encoding_to_char(d.encoding), d.datcollate, d.datctype
	  FROM pg_database d WHERE d.datname = current_database()`).
		Scan(&meta.Snapshot, &meta.ServerVersion, &meta.ServerVersionNum, &meta.Database, &meta.LSN, &meta.Encoding, &meta.Collate, &meta.Ctype)
	if err != nil {
		return dbErr("exporting the snapshot", err)
	}
	bin, err := e.findPgDump(ctx, meta.ServerVersionNum/10000)
	if err != nil {
		return err
	}
	if meta.PgDumpVersion, err = pgDumpVersion(ctx, bin); err != nil {
		return fmt.Errorf("zync-postgres: %s --version: %w", bin, err)
	}
	excluded, err := e.checkExclusions(ctx, main)
	if err != nil {
		return err
	}
	meta.Excluded = append(meta.Excluded, e.Exclude...)
	cat, err := readCatalog(ctx, main, true)
	if err != nil {
		return err
	}
	owned, err := dropExcluded(ctx, main, cat, excluded)
	if err != nil {
		return err
	}
	excluded = append(excluded, owned...)
	meta.Extensions = cat.Extensions

	// From here the schema and the data are written side by side, and the
	// first failure of either stops both. Every return below waits for
	// the schema's pg_dump runs to end.
	ctx, cancel := context.WithCancel(ctx)
	var first struct {
		sync.Once
		err error
	}
	fail := func(err error) error {
		first.Do(func() { first.err = err; cancel() })
		return first.err
	}
	schemaDone := make(chan struct{})
	defer func() { cancel(); <-schemaDone }()
	go func() {
		defer close(schemaDone)
		if err := e.dumpSchema(ctx, sink, bin, meta.Snapshot, excluded); err != nil {
			fail(err)
		}
	}()
	if err := writeFile(ctx, sink, FileSequences, "sql", func(w io.Writer) error { return writeSequences(w, cat) }); err != nil {
		return fail(err)
	}

	jobs := e.planCopy(cat, meta.ServerVersionNum)
	var totalPages int64
	var estRows float64
	for _, t := range cat.Tables {
		totalPages += t.Pages
		estRows += max(t.EstRows, 0)
	}
	task.SetTotal(totalPages*8192, int64(estRows)) // heap size; text is usually close
	task.SetPhase("data")

	n := min(e.parallel(), len(jobs))
	conns := make([]*pgx.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close(context.Background())
			}
		}
	}()
	for i := range conns {
		c, err := e.connect(ctx, appDump)
		if err != nil {
			return fail(err)
		}
		conns[i] = c
		if _, err := c.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
			return fail(dbErr("starting a worker transaction", err))
		}
		if _, err := c.Exec(ctx, "SET TRANSACTION SNAPSHOT "+quoteLiteral(meta.Snapshot)); err != nil {
			return fail(dbErr("importing snapshot "+meta.Snapshot, err))
		}
	}

	var mu sync.Mutex
	files := map[*table][]DataFile{}
	err = pool(ctx, n, jobs, func(ctx context.Context, w int, j copyJob) error {
		f, err := sink.Create(ctx, j.file, "copy-text")
		if err != nil {
			return fmt.Errorf("zync-postgres: creating %s: %w", j.file, err)
		}
		cw := &countWriter{w: progress.Writer{W: f, Task: task}}
		tag, err := conns[w].PgConn().CopyTo(ctx, cw, j.query)
		if err != nil {
			return dbErr("dumping table "+j.t.Ident, err)
		}
		f.SetCount(tag.RowsAffected())
		if err := f.Close(); err != nil {
			return fmt.Errorf("zync-postgres: storing %s: %w", j.file, err)
		}
		task.AddItems(tag.RowsAffected())
		mu.Lock()
		files[j.t] = append(files[j.t], DataFile{Name: j.file, Rows: tag.RowsAffected(), Bytes: cw.n})
		mu.Unlock()
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if cat.LargeObjects > 0 {
		if meta.LargeObjects, err = dumpLargeObjects(ctx, main, sink, task, cat.LargeObjects); err != nil {
			return fail(err)
		}
	}
	// The snapshot must outlive the schema's pg_dump runs, which import it.
	<-schemaDone
	if first.err != nil {
		return first.err
	}
	if _, err := main.Exec(ctx, "COMMIT"); err != nil {
		return dbErr("closing the snapshot transaction", err)
	}

	for _, t := range loadOrder(cat.Tables) {
		fs := files[t]
		sort.Slice(fs, func(a, b int) bool { return fs[a].Name < fs[b].Name })
		tm := Table{Schema: t.Schema, Name: t.Name, Ident: t.Ident, Columns: copyColumns(t), Files: fs}
		for _, f := range fs {
			tm.Rows += f.Rows
		}
		meta.Tables = append(meta.Tables, tm)
	}
	if err := setMeta(sink, &meta); err != nil {
		return err
	}
	task.SetPhase("done")
	task.Done()
	e.log().Debug("zync-postgres dump finished", "tables", len(meta.Tables), "snapshot", meta.Snapshot, "lsn", meta.LSN)
	return nil
}

// loadOrder puts the largest tables first so parallel loads end together.
func loadOrder(ts []*table) []*table {
	out := append([]*table(nil), ts...)
	sort.SliceStable(out, func(a, b int) bool { return out[a].Pages > out[b].Pages })
	return out
}

func copyColumns(t *table) string {
	var cols []string
	for _, c := range t.Columns {
		if c.Generated == "" {
			cols = append(cols, c.Name)
		}
	}
	return strings.Join(cols, ", ")
}

// planCopy makes one job per table, or per ctid range of ChunkPages pages
// for large tables (TID range scans need PostgreSQL 14).
func (e *Engine) planCopy(cat *catalog, versionNum int) []copyJob {
	var jobs []copyJob
	for _, t := range loadOrder(cat.Tables) {
		cols := copyColumns(t)
		base := dataDir + safeName(t.Schema) + "." + safeName(t.Name)
		chunks := int64(1)
		if versionNum >= 140000 && t.Pages > e.chunkPages() {
			chunks = (t.Pages + e.chunkPages() - 1) / e.chunkPages()
		}
		for i := int64(0); i < chunks; i++ {
			q := fmt.Sprintf("COPY %s (%s) TO STDOUT", t.Ident, cols)
			if chunks > 1 {
				lo, hi := i*e.chunkPages(), (i+1)*e.chunkPages()
				where := fmt.Sprintf("ctid >= '(%d,0)'::tid", lo)
				if i < chunks-1 {
					where += fmt.Sprintf(" AND ctid < '(%d,0)'::tid", hi)
				}
				q = fmt.Sprintf("COPY (SELECT %s FROM ONLY %s WHERE %s) TO STDOUT", cols, t.Ident, where)
			}
			jobs = append(jobs, copyJob{t: t, idx: int(i), query: q, file: fmt.Sprintf("%s.%04d.copy", base, i), pages: t.Pages / chunks})
		}
	}
	sort.SliceStable(jobs, func(a, b int) bool { return jobs[a].pages > jobs[b].pages })
	return jobs
}

// safeName keeps file names portable whatever the identifier holds.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "%%%02X", r)
		}
	}
	return b.String()
}

// dumpSchema has pg_dump write the pre-data and post-data sections on
// the exported snapshot, both at once. They run beside the data's COPY:
// each is mostly round trips for catalog queries (0.2–0.3 s that the data
// used to wait for, on the generator's database).
func (e *Engine) dumpSchema(ctx context.Context, sink artifact.Sink, bin, snapshot string, excluded []excludedTable) error {
	sections := []struct{ file, name string }{{FilePreData, "pre-data"}, {FilePostData, "post-data"}}
	return pool(ctx, len(sections), sections, func(ctx context.Context, _ int, sec struct{ file, name string }) error {
		args := []string{"--schema-only", "--section=" + sec.name, "--snapshot=" + snapshot,
			"--no-owner", "--no-tablespaces", "--no-subscriptions", "--no-security-labels", "--lock-wait-timeout=60000"}
		for _, x := range excluded {
			args = append(args, "--exclude-table="+x.Pattern)
		}
		// The section is kept (it is small) and checked as a restore will
		// check it: a backup that its restore would refuse fails now.
		var text bytes.Buffer
		if err := writeFile(ctx, sink, sec.file, "sql", func(w io.Writer) error {
			return e.runPgDump(ctx, bin, io.MultiWriter(w, &text), args...)
		}); err != nil {
			return err
		}
		return restorable(sec.file, text.Bytes())
	})
}

// restorable checks a section pg_dump has just written with the
// restore's statement check (sqlcheck.go).
func restorable(file string, sql []byte) error {
	role := rolePreData
	if file == FilePostData {
		role = rolePostData
	}
	parsed, err := parseSection(bytes.NewReader(sql))
	if err == nil {
		err = checkSection(file, parsed, role)
	}
	var r *refusedStatement
	if errors.As(err, &r) {
		err = r
	}
	if err != nil {
		return errs.New(errs.Failure, "the restore would refuse this statement (docs/postgresql-engine.md, \"Statements a restore runs\"): drop the object from the database, or leave its table out with --exclude-object \"table SCHEMA.NAME\"",
			"zync-postgres: pg_dump wrote what a restore of this snapshot cannot run: %v", err)
	}
	return nil
}

func writeFile(ctx context.Context, sink artifact.Sink, name, format string, fill func(io.Writer) error) error {
	f, err := sink.Create(ctx, name, format)
	if err != nil {
		return fmt.Errorf("zync-postgres: creating %s: %w", name, err)
	}
	if err := fill(f); err != nil {
		return fmt.Errorf("zync-postgres: writing %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("zync-postgres: storing %s: %w", name, err)
	}
	return nil
}

func setMeta(sink artifact.Sink, m *Meta) error {
	for k, v := range map[string]any{
		"format": m.Format, "server_version": m.ServerVersion, "server_version_num": m.ServerVersionNum,
		"database": m.Database, "snapshot": m.Snapshot, "lsn": m.LSN, "extensions": m.Extensions, "tables": m.Tables,
		"pg_dump_version": m.PgDumpVersion, "encoding": m.Encoding, "collate": m.Collate, "ctype": m.Ctype, "large_objects": m.LargeObjects,
		"excluded": m.Excluded,
	} {
		if err := sink.Set(k, v); err != nil {
			return fmt.Errorf("zync-postgres: recording %s: %w", k, err)
		}
	}
	return nil
}

// dumpLargeObjects copies every large object, on the snapshot, into one
// COPY text file of (oid, bytea) rows.
func dumpLargeObjects(ctx context.Context, c *pgx.Conn, sink artifact.Sink, task *progress.Task, want int64) (*DataFile, error) {
	f, err := sink.Create(ctx, FileLargeObjects, "copy-text")
	if err != nil {
		return nil, fmt.Errorf("zync-postgres: creating %s: %w", FileLargeObjects, err)
	}
	cw := &countWriter{w: progress.Writer{W: f, Task: task}}
	tag, err := c.PgConn().CopyTo(ctx, cw, loCopyOut)
	if err != nil {
		return nil, dbErr("dumping large objects", err)
	}
	f.SetCount(tag.RowsAffected())
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("zync-postgres: storing %s: %w", FileLargeObjects, err)
	}
	if tag.RowsAffected() != want {
		return nil, fmt.Errorf("zync-postgres: dumped %d large objects, the catalog lists %d", tag.RowsAffected(), want)
	}
	return &DataFile{Name: FileLargeObjects, Rows: tag.RowsAffected(), Bytes: cw.n}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
