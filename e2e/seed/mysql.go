package seed

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

var readerSeq atomic.Int64

// mysqlTable is one table to load: its columns and a row generator.
type mysqlTable struct {
	name string
	cols []string
	gen  func(*tsv) error
}

// loadMySQL creates Porta's schema, triggers and procedure in the (empty)
// database and bulk-loads the model and the growing tables with parallel
// LOAD DATA LOCAL INFILE streams.
func loadMySQL(ctx context.Context, dsn string, m *model, budget int64, opts Options, rep *Report) (Timing, error) {
	start := time.Now()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return Timing{}, fmt.Errorf("MySQL DSN: %v", redactDSNError(err))
	}
	cfg.MultiStatements = false
	cfg.InterpolateParams = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if err := cfg.Apply(mysql.Charset("utf8mb4", "utf8mb4_unicode_ci")); err != nil {
		return Timing{}, err
	}
	cfg.Params["time_zone"] = "'+00:00'"
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return Timing{}, err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetMaxOpenConns(opts.Parallel + 2)
	if err := db.PingContext(ctx); err != nil {
		return Timing{}, fmt.Errorf("connect to MySQL %s/%s: %w (check --mysql-dsn and that the server runs)", cfg.Addr, cfg.DBName, err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&n); err != nil {
		return Timing{}, err
	}
	if n > 0 {
		return Timing{}, fmt.Errorf("database %q already has %d tables: the generator needs an empty database (drop and recreate it, or pass --create with a new name)", cfg.DBName, n)
	}
	// The tables are created with only their primary keys and without
	// InnoDB's automatic statistics; the secondary keys, the statistics
	// and Porta's triggers come after the load (below).
	var finish []finishTable
	for _, ddl := range portaTables {
		create, alter := splitSecondaryKeys(ddl)
		create += " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci STATS_AUTO_RECALC=0"
		if _, err := db.ExecContext(ctx, create); err != nil {
			return Timing{}, fmt.Errorf("create table %s: %w", tableName(ddl), err)
		}
		if alter == "" {
			alter = "ALTER TABLE " + tableName(ddl) + " STATS_AUTO_RECALC=DEFAULT"
		} else {
			alter += ", STATS_AUTO_RECALC=DEFAULT"
		}
		finish = append(finish, finishTable{tableName(ddl), alter})
	}

	tables := append(m.growingTables(budget), m.modelTables()...)
	var (
		mu          sync.Mutex
		bytes, rows int64
	)
	err = fanOut(ctx, opts.Parallel, tables, func() (func(mysqlTable) error, func(), error) {
		return func(t mysqlTable) error {
			c, err := loadTable(ctx, db, t)
			mu.Lock()
			rep.MySQL[t.name] = c
			bytes += c.Bytes
			rows += c.Rows
			mu.Unlock()
			return err
		}, nil, nil
	})
	if err != nil {
		return Timing{}, err
	}
	// Building each table's secondary keys from its sorted rows is far
	// less of the server's work than inserting every row into every index,
	// and the unique ones check the generated rows. The statistics, which
	// InnoDB would otherwise recount in the background every time a tenth
	// of a growing table is new (a third of the server's CPU during the
	// load, by perf), are counted once. The tables end as Porta's: the
	// keys in their order, STATS_AUTO_RECALC back to the server's default
	// (SHOW CREATE TABLE shows no trace of either), the statistics
	// current (mysqldump plans its chunks from them).
	err = fanOut(ctx, opts.Parallel, finish, func() (func(finishTable) error, func(), error) {
		return func(f finishTable) error { return f.run(ctx, db) }, nil, nil
	})
	if err != nil {
		return Timing{}, err
	}
	// Porta's triggers and procedure come last: every loaded row carries
	// its tenant_id, so a trigger would only have run (and done nothing)
	// for each row. Rails created them over a utf8mb3 connection under
	// its own sql_mode; a restore must bring them back with those
	// settings, not the loader's.
	oc, err := db.Conn(ctx)
	if err != nil {
		return Timing{}, err
	}
	for _, ddl := range append([]string{"SET NAMES utf8mb3 COLLATE utf8mb3_general_ci",
		"SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'"},
		append(triggerDDL(m.master.ID), procedureDDL)...) {
		if _, err := oc.ExecContext(ctx, ddl); err != nil {
			oc.Close()
			return Timing{}, fmt.Errorf("create trigger/procedure: %w", err)
		}
	}
	oc.Raw(func(any) error { return driver.ErrBadConn }) // the session settings must not return to the pool
	oc.Close()
	return timing(start, bytes, rows), nil
}

// finishTable is what a table gets once its rows are in: alter adds its
// secondary keys and sets STATS_AUTO_RECALC back to the default, then
// ANALYZE TABLE counts its statistics.
type finishTable struct{ name, alter string }

func (f finishTable) run(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, f.alter); err != nil {
		return fmt.Errorf("add the keys of table %s: %w", f.name, err)
	}
	var table, op, kind, msg string
	if err := db.QueryRowContext(ctx, "ANALYZE TABLE `"+f.name+"`").Scan(&table, &op, &kind, &msg); err != nil {
		return fmt.Errorf("analyze table %s: %w", f.name, err)
	}
	if kind != "status" || msg != "OK" {
		return fmt.Errorf("analyze table %s: %s: %s", f.name, kind, msg)
	}
	return nil
}

// loadTable streams one table through LOAD DATA LOCAL INFILE on its own
// connection and checks that every generated row arrived. The rows carry
// their tenant_id; @disable_triggers would bypass Porta's triggers, which
// are created only after the load anyway.
func loadTable(ctx context.Context, db *sql.DB, t mysqlTable) (Count, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return Count{}, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET @disable_triggers = 1, unique_checks = 0, foreign_key_checks = 0"); err != nil {
		return Count{}, err
	}
	pr, w, done := produceTSV(t.gen)
	name := fmt.Sprintf("seed-%s-%d", t.name, readerSeq.Add(1))
	mysql.RegisterReaderHandler(name, func() io.Reader { return pr })
	defer mysql.DeregisterReaderHandler(name)
	cols := make([]string, len(t.cols))
	for i, c := range t.cols {
		cols[i] = "`" + c + "`"
	}
	q := fmt.Sprintf("LOAD DATA LOCAL INFILE 'Reader::%s' INTO TABLE `%s` CHARACTER SET utf8mb4 (%s)", name, t.name, strings.Join(cols, ","))
	res, err := conn.ExecContext(ctx, q)
	pr.CloseWithError(fmt.Errorf("load of %s ended", t.name)) // unblocks the generator if the server stopped reading
	genErr := <-done
	if err != nil {
		return Count{Rows: w.rows, Bytes: w.bytes}, fmt.Errorf("load table %s: %w", t.name, err)
	}
	if genErr != nil {
		return Count{}, fmt.Errorf("generate table %s: %w", t.name, genErr)
	}
	got, _ := res.RowsAffected()
	if got != w.rows {
		var lvl, msg string
		var code int
		_ = conn.QueryRowContext(ctx, "SHOW WARNINGS LIMIT 1").Scan(&lvl, &code, &msg)
		return Count{}, fmt.Errorf("load table %s: server stored %d of %d rows (first warning: %s %d %s)", t.name, got, w.rows, lvl, code, msg)
	}
	return Count{Rows: w.rows, Bytes: w.bytes}, nil
}

// redactDSNError keeps a DSN parse error from echoing the password.
func redactDSNError(err error) string {
	return strings.SplitN(err.Error(), ":", 2)[0]
}
