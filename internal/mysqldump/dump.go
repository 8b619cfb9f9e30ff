package mysqldump

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/go-sql-driver/mysql"
)

// Backup dumps the database into sink: schema/tables.sql, one file per
// data chunk, schema/post-data.sql, and Meta under MetaKey. Every worker
// reads the same point in time. On error nothing is recorded (the files
// created so far are not closed, so the repository discards them).
func (e *Engine) Backup(ctx context.Context, sink artifact.Sink, task *progress.Task) error {
	db, err := e.open()
	if err != nil {
		return err
	}
	defer db.Close()
	task.SetPhase("snapshot")
	snap, err := e.snapshot(ctx, db)
	if err != nil {
		return err
	}
	defer snap.close()

	meta := &Meta{Format: metaFormat, Database: e.cfg.DBName, Version: snap.version, Consistency: snap.cons}
	meta.Flavor, _ = parseVersion(snap.version)
	if snap.cons.Warning != "" {
		e.opts.Logger.Warn("system-mysql: " + snap.cons.Warning)
	}

	task.SetPhase("schema")
	sc, err := readSchema(ctx, snap.workers[0], e.cfg.DBName)
	if err != nil {
		return e.wrap(err, "read schema")
	}
	if meta.Excluded, err = excludeObjects(sc, e.opts.Exclude); err != nil {
		return err
	}
	for _, x := range meta.Excluded {
		e.opts.Logger.Warn("system-mysql: left out of the backup as asked", "object", x)
	}
	meta.Collations, meta.Charset, meta.Collation = sc.Collations, sc.Charset, sc.Collation
	if meta.PreData, err = writePreData(ctx, sink, sc); err != nil {
		return e.wrap(err, "write schema")
	}
	if meta.PostData, err = writePostData(ctx, sink, sc); err != nil {
		return e.wrap(err, "write schema")
	}
	for _, v := range sc.Views {
		meta.Views = append(meta.Views, v.Name)
	}
	for _, r := range sc.Routines {
		meta.Routines = append(meta.Routines, r.Name)
	}
	for _, t := range sc.Triggers {
		meta.Triggers = append(meta.Triggers, t.Name)
	}
	for _, ev := range sc.Events {
		meta.Events = append(meta.Events, ev.Name)
	}
	for _, group := range [][]namedDDL{sc.Routines, sc.Views, sc.Triggers, sc.Events} {
		for _, d := range group {
			meta.Definers = append(meta.Definers, d.Definer)
		}
	}
	for _, sq := range sc.Sequences {
		meta.Sequences = append(meta.Sequences, sq.Name)
	}

	// Plan chunks; big tables first so that the last worker does not
	// start the biggest table alone at the end.
	tables := append([]*tableInfo(nil), sc.Tables...)
	sort.SliceStable(tables, func(i, j int) bool { return tables[i].DataLen > tables[j].DataLen })
	var jobs []chunk
	var est int64
	for _, t := range tables {
		cs, err := e.planChunks(ctx, snap.workers[0], t)
		if err != nil {
			return e.wrap(err, "plan")
		}
		jobs = append(jobs, cs...)
		est += t.EstRows
	}
	task.SetTotal(0, est)
	task.SetPhase("data")

	results := map[string][]FileMeta{}
	for _, t := range tables {
		results[t.Name] = make([]FileMeta, 0, 1)
	}
	var mu sync.Mutex
	next := make(chan chunk)
	errc := make(chan error, len(snap.workers))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range snap.workers {
		wg.Add(1)
		go func(c *sql.Conn) {
			defer wg.Done()
			for ch := range next {
				fm, err := e.dumpChunk(ctx, c, sink, ch, task)
				if err != nil {
					errc <- e.dumpError(err, ch)
					cancel()
					return
				}
				mu.Lock()
				tf := results[ch.Table.Name]
				for len(tf) < ch.Index {
					tf = append(tf, FileMeta{})
				}
				tf[ch.Index-1] = fm
				results[ch.Table.Name] = tf
				mu.Unlock()
			}
		}(c)
	}
feed:
	for _, j := range jobs {
		select {
		case next <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Load order: the source's table order (names), which is stable and
	// what a reader expects; the loader schedules by size itself.
	for _, t := range sc.Tables {
		tm := TableMeta{Name: t.Name, Files: results[t.Name], Versioned: t.Versioned}
		for _, f := range tm.Files {
			tm.Rows += f.Rows
		}
		meta.Tables = append(meta.Tables, tm)
	}
	if err := sink.Set(MetaKey, meta); err != nil {
		return err
	}
	task.SetPhase("done")
	task.Done()
	return nil
}

func (e *Engine) dumpError(err error, ch chunk) error {
	if errs.Canceled(err) {
		return err
	}
	hint := "run the backup again; if it keeps failing, check the server's error log"
	if errors.Is(err, mysql.ErrInvalidConn) || strings.Contains(err.Error(), "invalid connection") || strings.Contains(err.Error(), "connection was killed") {
		hint = "the server closed the connection (restart, KILL or timeout); check that system-mysql is up and run the backup again"
	}
	return errs.Wrap(errs.Failure, fmt.Errorf("system-mysql %s/%s: dump of %s: %w", e.cfg.Addr, e.cfg.DBName, ch.describe(), err), hint)
}

// snapshotState is the set of connections that all see one point in time.
type snapshotState struct {
	version string
	cons    Consistency
	workers []*sql.Conn
}

func (s *snapshotState) close() {
	for _, c := range s.workers {
		_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		c.Close()
	}
}

// snapshot opens the worker connections inside one consistent snapshot:
// FLUSH TABLES WITH READ LOCK, every worker starts a consistent-snapshot
// transaction, the binlog position is read, UNLOCK TABLES. Without the
// RELOAD privilege it falls back to one connection.
func (e *Engine) snapshot(ctx context.Context, db *sql.DB) (*snapshotState, error) {
	s := &snapshotState{}
	ctl, err := db.Conn(ctx)
	if err != nil {
		return nil, e.wrap(err, "connect")
	}
	defer ctl.Close()
	if err := ctl.QueryRowContext(ctx, "SELECT VERSION()").Scan(&s.version); err != nil {
		return nil, e.wrap(err, "connect")
	}
	flavor, _ := parseVersion(s.version)
	n := e.opts.Workers
	locked := false
	if n > 1 {
		_, _ = ctl.ExecContext(ctx, "SET SESSION lock_wait_timeout = 60")
		if _, err := ctl.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
			var me *mysql.MySQLError
			if !errors.As(err, &me) || (me.Number != 1227 && me.Number != 1045 && me.Number != 1044) {
				return nil, e.wrap(err, "FLUSH TABLES WITH READ LOCK")
			}
			n = 1
			s.cons.Warning = "the user lacks the RELOAD privilege needed for a parallel consistent dump; dumping over one connection in a single transaction (slower, still consistent)"
		} else {
			locked = true
			defer func() {
				if locked {
					_, _ = ctl.ExecContext(context.Background(), "UNLOCK TABLES")
				}
			}()
		}
	}
	s.cons.Workers = n
	s.cons.Method = "single-transaction"
	if locked {
		s.cons.Method = "ftwrl"
	}
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			s.close()
			return nil, e.wrap(err, "connect worker")
		}
		s.workers = append(s.workers, c)
		for _, q := range []string{"SET SESSION time_zone = '+00:00'", "SET SESSION sql_mode = ''",
			"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"} {
			if _, err := c.ExecContext(ctx, q); err != nil {
				s.close()
				return nil, e.wrap(err, "start snapshot")
			}
		}
	}
	if locked {
		s.binlogPosition(ctx, ctl, flavor)
		if _, err := ctl.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
			s.close()
			return nil, e.wrap(err, "UNLOCK TABLES")
		}
		locked = false
	} else if flavor == "mariadb" {
		// MariaDB reports the binlog position matching the snapshot.
		rows, err := s.workers[0].QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
		if err == nil {
			for rows.Next() {
				var k, v string
				if rows.Scan(&k, &v) == nil {
					switch k {
					case "Binlog_snapshot_file":
						s.cons.BinlogFile = v
					case "Binlog_snapshot_position":
						fmt.Sscan(v, &s.cons.BinlogPos)
					}
				}
			}
			rows.Close()
		}
	} else {
		s.cons.Warning = strings.TrimSpace(s.cons.Warning + " binlog position not recorded (needs the global read lock)")
	}
	return s, nil
}

// binlogPosition reads SHOW MASTER STATUS and the GTID position while the
// global read lock is held; a server without binlog leaves them empty.
func (s *snapshotState) binlogPosition(ctx context.Context, c *sql.Conn, flavor string) {
	for _, q := range []string{"SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"} {
		rows, err := c.QueryContext(ctx, q)
		if err != nil {
			continue
		}
		cols, _ := rows.Columns()
		if rows.Next() && len(cols) >= 2 {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if rows.Scan(ptrs...) == nil {
				s.cons.BinlogFile = vals[0].String
				fmt.Sscan(vals[1].String, &s.cons.BinlogPos)
				for i, c := range cols {
					if c == "Executed_Gtid_Set" {
						s.cons.GTID = vals[i].String
					}
				}
			}
		}
		rows.Close()
		break
	}
	if flavor == "mariadb" {
		var g sql.NullString
		if c.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&g) == nil {
			s.cons.GTID = g.String
		}
	}
}

// writePreData writes the CREATE TABLE statements.
func writePreData(ctx context.Context, sink artifact.Sink, sc *schema) (FileMeta, error) {
	return writeSchemaFile(ctx, sink, PreDataFile, func(w *bufio.Writer) {
		w.WriteString("-- 3scale-ops system-mysql schema: tables (load before data)\n")
		w.WriteString(sessionHeader)
		for _, sq := range sc.Sequences {
			// Before the tables: a column DEFAULT may call NEXTVAL.
			fmt.Fprintf(w, "\n%s;\nDO SETVAL(%s, %d, 0);\n", sq.SQL, quoteIdent(sq.Name), sq.Next)
		}
		for _, t := range sc.Tables {
			fmt.Fprintf(w, "\n%s;\n", t.Create)
		}
	})
}

// writePostData writes routines, views, triggers and events, each under
// the character_set_client, collation_connection, sql_mode (and, for
// events, time_zone) it was created with, DEFINER removed.
func writePostData(ctx context.Context, sink artifact.Sink, sc *schema) (FileMeta, error) {
	return writeSchemaFile(ctx, sink, PostDataFile, func(w *bufio.Writer) {
		w.WriteString("-- 3scale-ops system-mysql schema: routines, views, triggers, events (load after data)\n")
		w.WriteString("SET NAMES utf8mb4;\nSET time_zone='+00:00';\nDELIMITER ;;\n")
		for _, group := range [][]namedDDL{sc.Routines, sc.Views, sc.Triggers, sc.Events} {
			for _, d := range group {
				fmt.Fprintf(w, "\n-- %s\n", strings.ReplaceAll(d.Name, "\n", " "))
				if d.Charset != "" {
					fmt.Fprintf(w, "SET SESSION character_set_client = %s;;\n", quoteString(d.Charset))
				}
				if d.Collation != "" {
					fmt.Fprintf(w, "SET SESSION collation_connection = %s;;\n", quoteString(d.Collation))
				}
				fmt.Fprintf(w, "SET SESSION sql_mode = %s;;\n", quoteString(d.SQLMode))
				if d.TimeZone != "" {
					fmt.Fprintf(w, "SET SESSION time_zone = %s;;\n", quoteString(d.TimeZone))
				}
				fmt.Fprintf(w, "%s;;\n", d.SQL)
				if d.TimeZone != "" {
					w.WriteString("SET SESSION time_zone = '+00:00';;\n")
				}
			}
		}
		w.WriteString("DELIMITER ;\nSET NAMES utf8mb4;\nSET sql_mode='" + loadSQLMode + "';\n-- end of post-data\n")
	})
}

func writeSchemaFile(ctx context.Context, sink artifact.Sink, name string, fill func(*bufio.Writer)) (FileMeta, error) {
	f, err := sink.Create(ctx, name, "sql")
	if err != nil {
		return FileMeta{}, fmt.Errorf("create %s: %w", name, err)
	}
	hw := newHashWriter(f)
	w := bufio.NewWriter(hw)
	fill(w)
	if err := w.Flush(); err != nil {
		return FileMeta{}, fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return FileMeta{}, fmt.Errorf("close %s: %w", name, err)
	}
	return FileMeta{Name: name, Bytes: hw.n, CRC32C: hw.crc.Sum32()}, nil
}
