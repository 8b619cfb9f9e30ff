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
// target, then runs pre-data in one transaction, COPYs the tables in
// parallel and builds each table's keys and indexes as soon as its data
// is in, ANALYZEs and compares each table's row count, then adds foreign
// keys and triggers and sets sequence values.
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
	sch, err := parseSchema(m, pre, post, seqs)
	if err != nil {
		return waitVerified(err)
	}
	preSQL, prelude, steps := e.schemaSteps(sch)

	// Tables load in parallel, the largest first (loadSchedule).
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
	// One session per table, or per index when there are more: indexes
	// build side by side too.
	work := len(jobs)
	for _, s := range steps {
		if parallelStep(s) {
			work++
		}
	}
	n := max(1, min(e.parallel(), work))
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
			if err := c.PgConn().Exec(ctx, sessionSetup(prelude, e.MaintenanceWorkMem)).Close(); err != nil {
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
	units, serial := e.loadSchedule(conns, src, m, jobs, steps, hasPartitions(preSQL), task)
	if err := runUnits(ctx, n, units); err != nil {
		return err
	}
	task.SetPhase("constraints")
	for _, s := range serial {
		if err := runStep(ctx, c, s); err != nil {
			return err
		}
	}
	task.SetPhase("sequences")
	if err := c.PgConn().Exec(ctx, string(seqs)).Close(); err != nil {
		return errs.Wrap(errs.Failure, dbErr("setting sequence values", err), hintPartial)
	}
	task.SetPhase("done")
	task.Done()
	return nil
}

// schemaSteps turns the schema files into the pre-data text to run and
// the post-data steps: pg_dump's sections (format 2, grants only when
// WithGrants) or the marked steps of format 1.
func (e *Engine) schemaSteps(sch *schema) (string, string, []step) {
	if sch.preSec == nil {
		return string(sch.pre), sch.prelude, sch.steps
	}
	ps, qs := sch.preSec, sch.postSec
	var steps []step
	for _, en := range qs.Entries {
		if isACL(en) && !e.WithGrants {
			continue
		}
		kind := "serial"
		switch {
		case parallelType(en.Type):
			kind = stepIndex
		case en.Type == "FK CONSTRAINT":
			kind = stepForeign
		case en.Type == "INDEX ATTACH":
			kind = stepAttach
		}
		steps = append(steps, step{Kind: kind, SQL: stepSQL(en.SQL)})
	}
	return ps.text(e.WithGrants), qs.Prelude, steps
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

func firstLine(s string) string {
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
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
