package pgdump

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

const hintPartial = "the target is partly restored: fix the cause, then restore again with --drop-existing"

// Restore loads a snapshot: it first reads back every artifact (refusing
// a truncated or corrupt one before any table is touched) and checks the
// target, then runs pre-data in one transaction, COPYs the data files in
// parallel, builds keys and indexes in parallel, adds foreign keys and
// triggers, sets sequence values, ANALYZEs and compares row counts.
func (e *Engine) restoreData(ctx context.Context, src artifact.Source, task *progress.Task) error {
	task.SetPhase("verify")
	m, err := readMeta(src)
	if err != nil {
		return err
	}
	// Every artifact is read back while the target is checked and the
	// load sessions connect, none of which changes anything; the first
	// change (creating the database, dropping, the schema) waits for it.
	vctx, vcancel := context.WithCancel(ctx)
	defer vcancel()
	verified := make(chan error, 1)
	if e.takeChecked(src) {
		verified <- nil // read back by Preflight just before
	} else {
		go func() { verified <- e.verifyArtifacts(vctx, src, m, task) }()
	}
	// Before the first change, waitVerified(nil) waits for the read-back.
	// An earlier failure (an unreachable target, a refused check) is
	// reported at once: damaged content found by then wins, otherwise
	// the read-back is cancelled rather than waited for (a large artifact
	// from S3 takes minutes).
	waitVerified := func(other error) error {
		if other == nil {
			return <-verified
		}
		select {
		case err := <-verified:
			if err != nil {
				return err
			}
		default:
			vcancel()
			<-verified
		}
		return other
	}
	pre, err := readAll(ctx, src, FilePreData)
	if err != nil {
		return waitVerified(err)
	}
	post, err := readAll(ctx, src, FilePostData)
	if err != nil {
		return waitVerified(err)
	}
	seqs, err := readAll(ctx, src, FileSequences)
	if err != nil {
		return waitVerified(err)
	}
	preSQL, prelude, steps, err := e.schemaSteps(m, pre, post)
	if err != nil {
		return waitVerified(errs.Corrupt(fmt.Errorf("zync-postgres: %w", artifact.AsCorrupt(err)), hintRedo))
	}

	// One job per table: its files (the dump's ctid chunks) are loaded
	// one after the other by one session, in the transaction that
	// truncates the table, so that every row is written frozen and
	// all-visible (COPY FREEZE). Chunks loaded side by side could not be:
	// the index builds and the first reads after the restore then set
	// every row's hint bits, rewriting the whole table (measured on a
	// 1.1 GB zync-shaped database: 14.2 s of server CPU against 12.2 s).
	// Tables load in parallel, the largest first.
	type loadJob struct {
		t     Table
		bytes int64
	}
	var jobs []loadJob
	var totalBytes, totalRows int64
	for _, t := range m.Tables {
		if len(t.Files) == 0 {
			continue
		}
		j := loadJob{t: t}
		for _, f := range t.Files {
			j.bytes += f.Bytes
			totalRows += f.Rows
		}
		totalBytes += j.bytes
		jobs = append(jobs, j)
	}
	sort.SliceStable(jobs, func(a, b int) bool { return jobs[a].bytes > jobs[b].bytes })
	if m.LargeObjects != nil {
		totalBytes += m.LargeObjects.Bytes
		totalRows += m.LargeObjects.Rows
	}
	first, missing, err := e.openTarget(ctx)
	if err != nil {
		return waitVerified(err)
	}
	defer first.Close(context.Background())
	if err := e.checkTarget(ctx, first, m, missing); err != nil {
		return waitVerified(err)
	}
	n := max(1, min(e.parallel(), max(len(jobs), 1)))
	conns := make([]*pgx.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close(context.Background())
			}
		}
	}()
	// The sessions connect at once (each connection costs the server a
	// process and, with SCRAM, a key derivation on both sides).
	connectAll := func() error {
		ids := make([]int, n)
		for i := range ids {
			ids[i] = i
		}
		return pool(ctx, n, ids, func(ctx context.Context, _ int, i int) error {
			c, err := e.connect(ctx, appLoad)
			if err != nil {
				return err
			}
			conns[i] = c
			if _, err := c.Exec(ctx, "SET synchronous_commit = off"); err != nil {
				return dbErr("preparing a load session", err)
			}
			return nil
		})
	}
	if missing == "" {
		first.Close(context.Background())
		if err := connectAll(); err != nil {
			return waitVerified(err)
		}
	}
	if err := waitVerified(nil); err != nil {
		return err
	}
	task.SetPhase("preflight")
	if missing != "" {
		task.SetPhase("create")
		if err := createDatabase(ctx, first, missing, m); err != nil {
			return err
		}
		first.Close(context.Background())
		if err := connectAll(); err != nil {
			return err
		}
	}
	c := conns[0]
	if e.DropExisting && missing == "" {
		task.SetPhase("drop")
		if err := dropExisting(ctx, c); err != nil {
			return errs.Wrap(errs.Failure, err, "check that the restoring user owns the target's objects")
		}
	}

	task.SetPhase("schema")
	if err := c.PgConn().Exec(ctx, preSQL).Close(); err != nil {
		return errs.Wrap(errs.Failure, dbErr("loading "+FilePreData+" (nothing was created)", err), "check the target's PostgreSQL version and extensions")
	}

	task.SetPhase("data")
	task.SetTotal(totalBytes, totalRows)
	err = pool(ctx, n, jobs, func(ctx context.Context, w int, j loadJob) error {
		pc := conns[w].PgConn()
		// Same transaction as a TRUNCATE: rows are written frozen and
		// all-visible, so nothing rewrites them for hint bits later.
		if err := pc.Exec(ctx, "BEGIN; TRUNCATE ONLY "+j.t.Ident).Close(); err != nil {
			return dbErr("loading table "+j.t.Ident, err)
		}
		rollback := func() { _ = pc.Exec(context.Background(), "ROLLBACK").Close() }
		copySQL := fmt.Sprintf("COPY %s (%s) FROM STDIN WITH (FREEZE)", j.t.Ident, j.t.Columns)
		for _, f := range j.t.Files {
			r, err := src.Open(ctx, f.Name)
			if err != nil {
				rollback()
				return fmt.Errorf("zync-postgres: opening %s: %w", f.Name, err)
			}
			tag, err := pc.CopyFrom(ctx, progress.Reader{R: r, Task: task}, copySQL)
			r.Close()
			if err != nil {
				rollback()
				return errs.Wrap(errs.Failure, dbErr("loading "+f.Name+" into "+j.t.Ident, err), hintPartial)
			}
			if rows := tag.RowsAffected(); rows != f.Rows {
				rollback()
				return errs.New(errs.Mismatch, hintPartial, "zync-postgres: %s loaded %d rows into %s, the dump wrote %d",
					f.Name, rows, j.t.Ident, f.Rows)
			}
			task.AddItems(tag.RowsAffected())
		}
		if err := pc.Exec(ctx, "COMMIT").Close(); err != nil {
			return errs.Wrap(errs.Failure, dbErr("loading table "+j.t.Ident, err), hintPartial)
		}
		return nil
	})
	if err != nil {
		return err
	}

	if m.LargeObjects != nil {
		if err := loadLargeObjects(ctx, c, src, m.LargeObjects, task); err != nil {
			return err
		}
	}

	task.SetPhase("indexes")
	if err := e.runSteps(ctx, conns, prelude, steps); err != nil {
		return err
	}
	task.SetPhase("sequences")
	if err := c.PgConn().Exec(ctx, string(seqs)).Close(); err != nil {
		return errs.Wrap(errs.Failure, dbErr("setting sequence values", err), hintPartial)
	}

	task.SetPhase("analyze")
	err = pool(ctx, n, m.Tables, func(ctx context.Context, w int, t Table) error {
		if _, err := conns[w].Exec(ctx, "ANALYZE "+t.Ident); err != nil {
			return dbErr("analyzing "+t.Ident, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	task.SetPhase("check")
	if err := checkCounts(ctx, conns, m); err != nil {
		return err
	}
	task.SetPhase("done")
	task.Done()
	return nil
}

// schemaSteps turns the schema files into the pre-data text to run and
// the post-data steps: pg_dump's sections (format 2, grants only when
// WithGrants) or the marked steps of format 1.
func (e *Engine) schemaSteps(m *Meta, pre, post []byte) (string, string, []step, error) {
	if m.Format < 2 {
		prelude, steps, err := parsePostData(bytes.NewReader(post))
		if err != nil {
			return "", "", nil, fmt.Errorf("%s: %w", FilePostData, err)
		}
		return string(pre), prelude, steps, nil
	}
	ps, err := parseSection(bytes.NewReader(pre))
	if err != nil {
		return "", "", nil, fmt.Errorf("%s: %w", FilePreData, err)
	}
	qs, err := parseSection(bytes.NewReader(post))
	if err != nil {
		return "", "", nil, fmt.Errorf("%s: %w", FilePostData, err)
	}
	var steps []step
	for _, en := range qs.Entries {
		if isACL(en) && !e.WithGrants {
			continue
		}
		kind := "serial"
		if parallelType(en.Type) {
			kind = stepIndex
		}
		steps = append(steps, step{Kind: kind, SQL: stepSQL(en.SQL)})
	}
	return ps.text(e.WithGrants), qs.Prelude, steps, nil
}

// stepSQL trims an entry's text; an entry that is only comments
// and blank lines becomes empty (and is skipped).
func stepSQL(sql string) string {
	for _, l := range strings.Split(sql, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
			return strings.TrimSpace(sql)
		}
	}
	return ""
}

// loadLargeObjects creates every large object with its original oid.
func loadLargeObjects(ctx context.Context, c *pgx.Conn, src artifact.Source, f *DataFile, task *progress.Task) error {
	r, err := src.Open(ctx, f.Name)
	if err != nil {
		return fmt.Errorf("zync-postgres: opening %s: %w", f.Name, err)
	}
	defer r.Close()
	if _, err := c.Exec(ctx, loPrepare); err != nil {
		return errs.Wrap(errs.Failure, dbErr("preparing the large objects", err), hintPartial)
	}
	tag, err := c.PgConn().CopyFrom(ctx, progress.Reader{R: r, Task: task}, loCopyIn)
	if err != nil {
		return errs.Wrap(errs.Failure, dbErr("loading "+f.Name, err), hintPartial)
	}
	var made int64
	if err := c.QueryRow(ctx, loCreate).Scan(&made); err != nil {
		return errs.Wrap(errs.Failure, dbErr("creating the large objects", err), hintPartial)
	}
	if _, err := c.Exec(ctx, loDropTable); err != nil {
		return dbErr("dropping the large objects' load table", err)
	}
	if tag.RowsAffected() != f.Rows || made != f.Rows {
		return errs.New(errs.Mismatch, hintPartial, "zync-postgres: restored %d large objects, the dump wrote %d", made, f.Rows)
	}
	task.AddItems(made)
	return nil
}

// runSteps builds keys and indexes on every connection at once, then adds
// foreign keys and triggers one at a time (they lock two tables each).
func (e *Engine) runSteps(ctx context.Context, conns []*pgx.Conn, prelude string, steps []step) error {
	mem := e.MaintenanceWorkMem
	if mem == "" {
		mem = "128MB"
	}
	for _, c := range conns {
		if err := c.PgConn().Exec(ctx, prelude+"\nSET maintenance_work_mem = "+quoteLiteral(mem)).Close(); err != nil {
			return dbErr("preparing index sessions", err)
		}
	}
	var par, ser []step
	for _, s := range steps {
		if s.Kind == stepKey || s.Kind == stepIndex {
			par = append(par, s)
		} else {
			ser = append(ser, s)
		}
	}
	run := func(ctx context.Context, w int, s step) error {
		if s.SQL == "" {
			return nil
		}
		if err := conns[w].PgConn().Exec(ctx, s.SQL).Close(); err != nil {
			return errs.Wrap(errs.Failure, dbErr("post-data step "+firstLine(s.SQL), err), hintPartial)
		}
		return nil
	}
	if err := pool(ctx, len(conns), par, run); err != nil {
		return err
	}
	for _, s := range ser {
		if err := run(ctx, 0, s); err != nil {
			return err
		}
	}
	return nil
}

func firstLine(s string) string {
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// checkCounts compares every table's row count with the snapshot's.
func checkCounts(ctx context.Context, conns []*pgx.Conn, m *Meta) error {
	return pool(ctx, len(conns), m.Tables, func(ctx context.Context, w int, t Table) error {
		var got int64
		if err := conns[w].QueryRow(ctx, "SELECT count(*) FROM ONLY "+t.Ident).Scan(&got); err != nil {
			return dbErr("counting rows of "+t.Ident, err)
		}
		if got != t.Rows {
			return errs.Wrap(errs.Mismatch, fmt.Errorf("zync-postgres: table %s has %d rows after restore, the snapshot has %d: %w",
				t.Ident, got, t.Rows, errMismatch), "check for writers on the target (zync and zync-que must be scaled to 0) and restore again with --drop-existing")
		}
		return nil
	})
}

// Restore restores the artifact and reports what it wrote (the counts its
// progress task kept).
func (e *Engine) Restore(ctx context.Context, src artifact.Source, task *progress.Task) (artifact.Result, error) {
	if task == nil {
		task = progress.NewTask(e.Name())
	}
	if err := e.restoreData(ctx, src, task); err != nil {
		return artifact.Result{}, e.named(err)
	}
	st := task.Stats()
	return artifact.Result{Items: st.Items, Bytes: st.Bytes, Summary: fmt.Sprintf("%d rows, %d bytes", st.Items, st.Bytes)}, nil
}
