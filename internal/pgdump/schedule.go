package pgdump

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// A unit is one piece of the restore's load: a table's data, an index or
// key build, or a table's ANALYZE and row count. It runs on one of the
// load sessions once every unit it waits for has finished.
type unit struct {
	run   func(ctx context.Context, worker int) error
	waits int     // units still to finish before this one may start
	then  []*unit // units that wait for this one
	pos   int     // priority: lower runs first when several are ready
	// locks are tables no other unit with locks may hold while this one
	// runs: two foreign keys that share a table would wait for each
	// other's lock, or deadlock (A on x then y, B on y then x).
	locks []string
}

// after makes u wait for every unit of deps.
func (u *unit) after(deps ...*unit) {
	for _, d := range deps {
		d.then = append(d.then, u)
		u.waits++
	}
}

// runUnits runs units on n sessions, each as soon as what it waits for
// has finished and no running unit holds one of its locks, the lowest pos
// first among those ready. The first error
// cancels the rest (units running see a cancelled context; no other unit
// starts) and is returned once every running unit has returned.
func runUnits(ctx context.Context, n int, units []*unit) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, u := range units {
		u.pos = i
	}
	var (
		mu       sync.Mutex
		cond     = sync.NewCond(&mu)
		ready    []*unit
		left     = len(units)
		firstErr error
		held     = map[string]bool{}
	)
	free := func(u *unit) bool {
		for _, t := range u.locks {
			if held[t] {
				return false
			}
		}
		return true
	}
	for _, u := range units {
		if u.waits == 0 {
			ready = append(ready, u)
		}
	}
	// next takes the ready unit of lowest pos; nil when nothing is left to
	// run or the run failed.
	next := func() *unit {
		mu.Lock()
		defer mu.Unlock()
		for {
			if firstErr != nil || left == 0 {
				return nil
			}
			best := -1
			for i, u := range ready {
				if (best < 0 || u.pos < ready[best].pos) && free(u) {
					best = i
				}
			}
			if best >= 0 {
				u := ready[best]
				ready = append(ready[:best], ready[best+1:]...)
				for _, t := range u.locks {
					held[t] = true
				}
				return u
			}
			cond.Wait()
		}
	}
	done := func(u *unit, err error) {
		mu.Lock()
		defer mu.Unlock()
		left--
		for _, t := range u.locks {
			delete(held, t)
		}
		if err != nil && firstErr == nil {
			firstErr = err
			cancel()
		}
		for _, t := range u.then {
			if t.waits--; t.waits == 0 {
				ready = append(ready, t)
			}
		}
		cond.Broadcast()
	}
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for u := next(); u != nil; u = next() {
				done(u, u.run(ctx, w))
			}
		}(w)
	}
	wg.Wait()
	if firstErr == nil && left > 0 {
		// A dependency cycle cannot be built by restoreData; if one were,
		// the sessions would all wait: this is not reached.
		return ctx.Err()
	}
	return firstErr
}

// stepTable returns the table of tables a key or index step builds on, as
// pg_dump writes those steps (`CREATE [UNIQUE] INDEX name ON [ONLY] t …`,
// `ALTER TABLE [ONLY] t ADD CONSTRAINT …`), or "" when the SQL names none
// of them or more than one (a name or predicate that happens to contain
// another table's name): such a step waits for every table's data.
func stepTable(sql string, tables []string) string {
	found := ""
	for _, t := range tables {
		if strings.Contains(sql, " ON "+t+" ") || strings.Contains(sql, " ON ONLY "+t+" ") ||
			altersTable(sql, t) {
			if found != "" {
				return ""
			}
			found = t
		}
	}
	return found
}

// hasPartitions reports whether a schema's SQL may define partitioned
// tables (a false positive only keeps the foreign keys after the load).
func hasPartitions(schema string) bool {
	return strings.Contains(schema, "PARTITION BY ") || strings.Contains(schema, "PARTITION OF ") ||
		strings.Contains(schema, "ATTACH PARTITION ")
}

// altersTable reports whether sql is pg_dump's `ALTER TABLE [ONLY] t …`.
func altersTable(sql, t string) bool {
	return hasTablePrefix(sql, "ALTER TABLE ONLY "+t) || hasTablePrefix(sql, "ALTER TABLE "+t)
}

// hasTablePrefix reports whether sql starts with p followed by white space.
func hasTablePrefix(sql, p string) bool {
	rest, ok := strings.CutPrefix(sql, p)
	return ok && rest != "" && (rest[0] == ' ' || rest[0] == '\n' || rest[0] == '\t')
}

// loadJob is one table's data: its files (the dump's ctid chunks) are
// loaded one after the other by one session, in the transaction that
// truncates the table, so that every row is written frozen and
// all-visible (COPY FREEZE). Chunks loaded side by side could not be:
// the index builds and the first reads after the restore then set every
// row's hint bits, rewriting the whole table (measured on a 1.1 GB
// zync-shaped database: 14.2 s of server CPU against 12.2 s).
type loadJob struct {
	t     Table
	bytes int64
}

// sessionSetup is what every load session runs first: pg_dump's own
// session settings (the post-data prelude), no wait for the WAL flush at
// each commit, and the memory an index build may sort in.
func sessionSetup(prelude, mem string) string {
	if mem == "" {
		mem = "128MB"
	}
	return prelude + "\nSET synchronous_commit = off;\nSET maintenance_work_mem = " + quoteLiteral(mem) + ";"
}

// parallelStep reports whether a post-data step may run beside others:
// keys and indexes. Foreign keys lock two tables each (loadSchedule runs
// them one per table at a time); the rest runs after the schedule.
func parallelStep(s step) bool { return s.Kind == stepKey || s.Kind == stepIndex }

func runStep(ctx context.Context, c *pgx.Conn, s step) error {
	if s.SQL == "" {
		return nil
	}
	if err := c.PgConn().Exec(ctx, s.SQL).Close(); err != nil {
		return errs.Wrap(errs.Failure, dbErr("post-data step "+firstLine(s.SQL), err), hintPartial)
	}
	return nil
}

// loadSchedule is the restore's load as units: every table's data, the
// largest first; each key and index as soon as its table's data is
// committed, while larger tables still load (as pg_restore -j schedules
// them); each table's ANALYZE and row count once its data and indexes
// are in; each foreign key once both its tables' data and keys are in,
// never beside another foreign key on one of its tables. A key or index
// whose table cannot be told from its SQL waits for every table's data
// and the large objects, as every one did before, and every foreign key
// waits for it. It returns the units and the post-data steps left to run
// one at a time after them, in the dump's order: triggers and the rest,
// and the foreign keys whose tables cannot be told, or all of them when
// the schema has partitioned tables (a foreign key on one locks its
// partitions, and may need the partition indexes attached).
func (e *Engine) loadSchedule(conns []*pgx.Conn, src artifact.Source, m *Meta, jobs []loadJob, steps []step, partitioned bool, task *progress.Task) ([]*unit, []step) {
	var loads, builds, fks, finals []*unit
	var serial []step
	loadOf := map[string]*unit{}
	for _, j := range jobs {
		u := &unit{run: func(ctx context.Context, w int) error { return loadTable(ctx, conns[w], src, j, task) }}
		loads = append(loads, u)
		loadOf[j.t.Ident] = u
	}
	if m.LargeObjects != nil {
		loads = append(loads, &unit{run: func(ctx context.Context, w int) error {
			return loadLargeObjects(ctx, conns[w], src, m.LargeObjects, task)
		}})
	}
	// The phase changes when the last table's data is in.
	phase := &unit{run: func(context.Context, int) error { task.SetPhase("indexes"); return nil }}
	phase.after(loads...)
	builds = append(builds, phase)
	idents := make([]string, len(m.Tables))
	for i, t := range m.Tables {
		idents[i] = t.Ident
	}
	buildsOf := map[string][]*unit{}
	var unknown []*unit
	for _, s := range steps {
		if !parallelStep(s) || s.SQL == "" {
			continue
		}
		u := &unit{run: func(ctx context.Context, w int) error { return runStep(ctx, conns[w], s) }}
		switch t := stepTable(s.SQL, idents); {
		case t == "":
			u.after(loads...)
			unknown = append(unknown, u)
		case loadOf[t] != nil:
			u.after(loadOf[t])
			buildsOf[t] = append(buildsOf[t], u)
		default: // a table without data: its indexes need not wait
			buildsOf[t] = append(buildsOf[t], u)
		}
		builds = append(builds, u)
	}
	attach := partitioned
	for _, s := range steps {
		attach = attach || s.Kind == stepAttach
	}
	for _, s := range steps {
		if parallelStep(s) || s.SQL == "" {
			continue
		}
		child, parent := "", ""
		if s.Kind == stepForeign && !attach {
			child, parent = foreignKeyTables(s.SQL, idents)
		}
		if child == "" || parent == "" {
			serial = append(serial, s)
			continue
		}
		u := &unit{run: func(ctx context.Context, w int) error { return runStep(ctx, conns[w], s) }, locks: []string{child, parent}}
		for _, t := range []string{child, parent} {
			if l := loadOf[t]; l != nil {
				u.after(l)
			}
			u.after(buildsOf[t]...)
		}
		u.after(unknown...)
		fks = append(fks, u)
	}
	for _, t := range m.Tables {
		u := &unit{run: func(ctx context.Context, w int) error { return analyzeAndCount(ctx, conns[w], t) }}
		if l := loadOf[t.Ident]; l != nil {
			u.after(l)
		}
		u.after(buildsOf[t.Ident]...)
		u.after(unknown...)
		finals = append(finals, u)
	}
	return append(append(append(loads, builds...), fks...), finals...), serial
}

// foreignKeyTables returns the table a foreign key is added to and the one
// it references, as pg_dump writes the step (`ALTER TABLE [ONLY] child
// ADD CONSTRAINT … FOREIGN KEY (…) REFERENCES parent(…)…`), or "" for
// either when the SQL does not name exactly one of tables in that place.
func foreignKeyTables(sql string, tables []string) (child, parent string) {
	var nc, np int
	for _, t := range tables {
		if altersTable(sql, t) {
			child, nc = t, nc+1
		}
		if strings.Contains(sql, " REFERENCES "+t+"(") {
			parent, np = t, np+1
		}
	}
	if nc != 1 || np != 1 {
		return "", ""
	}
	return child, parent
}

// loadTable loads one table's files in the transaction that truncates it.
func loadTable(ctx context.Context, c *pgx.Conn, src artifact.Source, j loadJob, task *progress.Task) error {
	pc := c.PgConn()
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
}

// analyzeAndCount gathers a restored table's statistics and compares its
// row count with the snapshot's.
func analyzeAndCount(ctx context.Context, c *pgx.Conn, t Table) error {
	if _, err := c.Exec(ctx, "ANALYZE "+t.Ident); err != nil {
		return dbErr("analyzing "+t.Ident, err)
	}
	var got int64
	if err := c.QueryRow(ctx, "SELECT count(*) FROM ONLY "+t.Ident).Scan(&got); err != nil {
		return dbErr("counting rows of "+t.Ident, err)
	}
	if got != t.Rows {
		return errs.Wrap(errs.Mismatch, fmt.Errorf("zync-postgres: table %s has %d rows after restore, the snapshot has %d: %w",
			t.Ident, got, t.Rows, errMismatch), "check for writers on the target (zync and zync-que must be scaled to 0) and restore again with --drop-existing")
	}
	return nil
}
