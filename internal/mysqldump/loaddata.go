package mysqldump

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/go-sql-driver/mysql"
)

// prepareTarget creates the database if needed and, with consent, drops
// what it holds.
func (e *Engine) prepareTarget(ctx context.Context, t *target) error {
	cfg := e.cfg.Clone()
	cfg.DBName = ""
	db, err := (&Engine{opts: e.opts, cfg: cfg}).open()
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := db.Conn(ctx)
	if err != nil {
		return e.wrap(err, "connect to the restore target")
	}
	defer c.Close()
	dbq := quoteIdent(e.cfg.DBName)
	if !t.exists {
		q := "CREATE DATABASE IF NOT EXISTS " + dbq
		if t.meta.Charset != "" {
			q += " CHARACTER SET " + t.meta.Charset + " COLLATE " + t.meta.Collation
		}
		if _, err := c.ExecContext(ctx, q); err != nil {
			return e.wrap(err, "create the database")
		}
		return nil
	}
	if len(t.existing) == 0 {
		return nil
	}
	e.opts.Logger.Warn("system-mysql: dropping the target database's objects (--drop-existing)", "database", e.cfg.DBName, "objects", len(t.existing))
	if _, err := c.ExecContext(ctx, "SET SESSION foreign_key_checks = 0"); err != nil {
		return e.wrap(err, "drop existing objects")
	}
	for _, o := range t.existing {
		kind, name, _ := strings.Cut(o, " ")
		q := "DROP " + strings.ToUpper(kind) + " IF EXISTS " + dbq + "." + quoteIdent(name)
		if _, err := c.ExecContext(ctx, q); err != nil {
			return e.wrap(err, "drop existing "+o)
		}
	}
	return nil
}

// loadConns opens the loading sessions: no foreign-key or unique checks,
// UTC, the dump's sql_mode and, if asked and permitted, no binlog.
//
// On MariaDB the sessions also turn binlog_annotate_row_events off. The
// load's row events are still written to the binary log (replicas and
// point-in-time recovery see the restore); what is left out is the copy
// of each INSERT's text that MariaDB puts beside them by default, which
// only mysqlbinlog's display reads. With the annotations, the binlog was
// a third of MariaDB's CPU in a restore of the generator's 1 GB
// installation (perf): the dump's text written twice more, to the
// session's binlog cache and then to the log. MySQL logs no statement
// text by default (binlog_rows_query_log_events is off).
//
// With history (the dump has system-versioned tables), the sessions may
// write row start and end times (MariaDB 10.11's
// system_versioning_insert_history), so the history comes back as it was.
func (e *Engine) loadConns(ctx context.Context, db *sql.DB, flavor string, history bool) ([]*sql.Conn, error) {
	var conns []*sql.Conn
	fail := func(err error) ([]*sql.Conn, error) {
		for _, c := range conns {
			c.Close()
		}
		return nil, err
	}
	setup := []string{"SET SESSION foreign_key_checks = 0", "SET SESSION unique_checks = 0",
		"SET SESSION time_zone = '+00:00'", "SET SESSION sql_mode = '" + loadSQLMode + "'"}
	annotate := flavor == "mariadb"
	warned := false
	for range e.opts.Workers {
		c, err := db.Conn(ctx)
		if err != nil {
			return fail(e.wrap(err, "connect to the restore target"))
		}
		conns = append(conns, c)
		for _, q := range setup {
			if _, err := c.ExecContext(ctx, q); err != nil {
				return fail(e.wrap(err, "set up the loading session ("+q+")"))
			}
		}
		if annotate {
			// MariaDB asks for SUPER or BINLOG ADMIN; without them the
			// load is the same, only its binlog is bigger.
			if _, err := c.ExecContext(ctx, "SET SESSION binlog_annotate_row_events = OFF"); err != nil {
				annotate = false
				e.opts.Logger.Info("system-mysql: the restoring user may not turn binlog_annotate_row_events off (MariaDB asks for BINLOG ADMIN); the binary log also gets the text of every INSERT", "error", err.Error())
			}
		}
		if history {
			if _, err := c.ExecContext(ctx, "SET SESSION system_versioning_insert_history = 1"); err != nil {
				return fail(errs.Wrap(errs.Failure, e.wrap(err, "allow loading the history of system-versioned tables"),
					"restore into MariaDB 10.11 or later, whose system_versioning_insert_history lets the history be written back"))
			}
		}
		if e.opts.SkipBinlog {
			if _, err := c.ExecContext(ctx, "SET SESSION sql_log_bin = 0"); err != nil && !warned {
				warned = true
				e.opts.Logger.Warn("system-mysql: the restoring user may not turn the binary log off (it takes SUPER or BINLOG ADMIN); the load is written to the binlog", "error", err.Error())
			} else if err == nil && len(conns) == 1 {
				e.opts.Logger.Info("system-mysql: the load is not written to the binary log (--skip-binlog): replicas of the target and a point-in-time recovery from its binlog do not see it")
			}
		}
	}
	return conns, nil
}

type loadJob struct {
	table string
	file  FileMeta // data file, or
	alter string   // the deferred indexes of table
}

// loadQueue orders the data files: first the tables whose deferred
// index builds are the longest (rows × indexes), then by data size, each
// table's files biggest first. A table's files load on every session at
// once, but its indexes are built by one ALTER on one session after its
// last file: the table with the longest build must finish its data first,
// so that the build runs while the other tables load. Loaded by size, the
// generator's alerts table (four indexes, a million narrow rows) came
// last and its build ran alone for the last 3 s of a 20 s restore.
func loadQueue(tables []TableMeta, alters map[string]string) []loadJob {
	entries, size := map[string]int64{}, map[string]int64{}
	var queue []loadJob
	for _, t := range tables {
		entries[t.Name] = t.Rows * int64(strings.Count(alters[t.Name], "ADD "))
		for _, f := range t.Files {
			size[t.Name] += f.Bytes
			queue = append(queue, loadJob{table: t.Name, file: f})
		}
	}
	sort.SliceStable(queue, func(i, j int) bool {
		a, b := queue[i].table, queue[j].table
		switch {
		case entries[a] != entries[b]:
			return entries[a] > entries[b]
		case size[a] != size[b]:
			return size[a] > size[b]
		case a != b:
			return a < b
		}
		return queue[i].file.Bytes > queue[j].file.Bytes
	})
	return queue
}

// loadData runs the data files on all connections in loadQueue's order;
// when a table's last file is in, its deferred indexes are added next.
func (e *Engine) loadData(ctx context.Context, conns []*sql.Conn, src artifact.Source, m *Meta, alters map[string]string, task *progress.Task) error {
	queue := loadQueue(m.Tables, alters)
	left := map[string]int{}
	for _, t := range m.Tables {
		left[t.Name] = len(t.Files)
	}

	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	running := 0
	var firstErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	take := func() (loadJob, bool) {
		mu.Lock()
		defer mu.Unlock()
		for len(queue) == 0 && running > 0 && firstErr == nil {
			cond.Wait()
		}
		if len(queue) == 0 || firstErr != nil {
			return loadJob{}, false
		}
		j := queue[0]
		queue = queue[1:]
		running++
		return j, true
	}
	finish := func(j loadJob, err error) {
		mu.Lock()
		defer mu.Unlock()
		running--
		if err != nil && firstErr == nil {
			firstErr = err
			cancel()
		}
		if err == nil && j.alter == "" {
			left[j.table]--
			if left[j.table] == 0 && alters[j.table] != "" {
				queue = append([]loadJob{{table: j.table, alter: alters[j.table]}}, queue...)
			}
		}
		cond.Broadcast()
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func(c *sql.Conn) {
			defer wg.Done()
			for {
				j, ok := take()
				if !ok {
					return
				}
				var err error
				if j.alter != "" {
					task.SetPhase("indexes " + j.table)
					if _, err = c.ExecContext(ctx, j.alter); err != nil {
						err = e.loadError(fmt.Errorf("add the indexes of table %s: %w", j.table, err), "load", true)
					}
				} else {
					err = e.loadFile(ctx, c, src, j, task)
				}
				finish(j, err)
			}
		}(c)
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// loadFile loads one data file. Parallel loads into one table can meet in
// InnoDB's locks; a deadlock or lock-wait timeout rolls the file's
// transaction back entirely, so the file is simply loaded again (a few
// times, with a growing pause), as the server's message asks.
func (e *Engine) loadFile(ctx context.Context, c *sql.Conn, src artifact.Source, j loadJob, task *progress.Task) error {
	for attempt := 1; ; attempt++ {
		err := e.loadFileOnce(ctx, c, src, j, task)
		if err == nil || attempt == 5 || !retryable(err) || ctx.Err() != nil {
			return err
		}
		e.opts.Logger.Warn("system-mysql: lock conflict between parallel loads; loading the file again",
			"table", j.table, "file", j.file.Name, "attempt", attempt+1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}

// retryable reports InnoDB's deadlock (1213) and lock wait timeout (1205).
func retryable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

// loadFileOnce runs one data file in one transaction, committed only when
// the whole file has been read and matches its recorded size and checksum.
func (e *Engine) loadFileOnce(ctx context.Context, c *sql.Conn, src artifact.Source, j loadJob, task *progress.Task) (err error) {
	fm := j.file
	fail := func(err error) error {
		_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		return e.loadError(fmt.Errorf("table %s, file %s: %w", j.table, fm.Name, err), "load", true)
	}
	rc, err := src.Open(ctx, fm.Name)
	if err != nil {
		return e.loadError(fmt.Errorf("open %s: %w", fm.Name, err), "load", true)
	}
	defer rc.Close()
	if _, err := c.ExecContext(ctx, "BEGIN"); err != nil {
		return fail(err)
	}
	// database/sql and the driver read a query without arguments only
	// during the call (the driver copies it into its packet).
	err = checkedStatements(rc, j.table, fm, func(q string) error {
		if _, err := c.ExecContext(ctx, q); err != nil {
			return explainExec(err)
		}
		task.AddBytes(int64(len(q)))
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		return fail(err)
	}
	task.AddItems(fm.Rows)
	return nil
}

// checkedStatements reads one data file of table from r, passes each
// statement to send only once it has passed the check a restore runs on
// it (allow.go), and at the end verifies the file's size and checksum:
// the one reading of data files for a restore and an export alike. The
// first error, of the file or of send, is returned.
//
// send gets the statement over the reader's buffer, not a copy of it:
// with rows of several MB a copy per statement and worker is the largest
// live allocation of a restore. The string is valid only during the call
// (the buffer is not touched again before the next statement is read).
func checkedStatements(r io.Reader, table string, fm FileMeta, send func(q string) error) error {
	hr := newHashReader(r)
	sr := newStmtReader(hr, maxStatement)
	dc := newDataChecker(fm.Name, table)
	for {
		st, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		q := unsafe.String(unsafe.SliceData(st), len(st))
		if err := dc.check(q); err != nil {
			return err
		}
		if err := send(q); err != nil {
			return err
		}
	}
	return hr.verify(fm)
}

func explainExec(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1153 {
		return fmt.Errorf("%w (raise the server's max_allowed_packet)", err)
	}
	return err
}

// compareCounts checks every table's row count against the dump's.
func (e *Engine) compareCounts(ctx context.Context, conns []*sql.Conn, m *Meta) error {
	var mu sync.Mutex
	var diffs []string
	var firstErr error
	next := make(chan TableMeta)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func(c *sql.Conn) {
			defer wg.Done()
			for t := range next {
				var n int64
				q := "SELECT COUNT(*) FROM " + quoteIdent(t.Name)
				if t.Versioned {
					q += " FOR SYSTEM_TIME ALL"
				}
				err := c.QueryRowContext(ctx, q).Scan(&n)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = e.wrap(err, "count rows of "+t.Name)
				} else if err == nil && n != t.Rows {
					diffs = append(diffs, fmt.Sprintf("%s has %d rows, the dump %d", t.Name, n, t.Rows))
				}
				mu.Unlock()
			}
		}(c)
	}
	for _, t := range m.Tables {
		next <- t
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		return errs.New(errs.Mismatch, "the restored database differs from the snapshot; check the server log and rerun the restore with --drop-existing",
			"system-mysql: row counts differ after restore: %s", strings.Join(diffs, "; "))
	}
	return nil
}
