// Package purge deletes old rows from the 3scale system database: the
// alerts table, which 3scale never purges (Operating 3scale §1.3.6), and
// the tables its sidekiq jobs purge (user_sessions, audits, log_entries,
// event_store_events) for installations where those jobs have not run.
//
// Rows go in short primary-key batches, each its own transaction, found
// through the age index, so locks stay short, replication lag stays bounded
// and an interrupted purge simply continues on the next run. It must never
// delete a row younger than the cutoff, and never print.
package purge

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	_ "github.com/go-sql-driver/mysql" // MySQL / MariaDB
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL
)

// Dialects.
const (
	MySQL    = "mysql"
	Postgres = "postgresql"
)

// MaxBatch bounds --batch-size (PostgreSQL allows 65535 parameters).
const MaxBatch = 50000

// Purger deletes old rows from one system database.
type Purger struct {
	DB        *sql.DB
	Dialect   string // MySQL or Postgres
	BatchSize int
	Now       func() time.Time // clock; the cutoff is computed from it in UTC
	Log       *slog.Logger
}

// Open connects to the system database. kind is the config.DB kind
// ("mysql", "postgresql", "oracle"); dsn a go-sql-driver DSN or a
// postgres:// URL. Oracle is refused with the guide's statement to run by hand.
func Open(kind, dsn string, olderThan Age) (*Purger, error) {
	var driver string
	switch kind {
	case MySQL:
		driver = "mysql"
	case Postgres, "postgres":
		kind, driver = Postgres, "pgx"
	case "oracle":
		return nil, errs.UsageError("run it in SQL*Plus as the system database user: "+OracleStatement(olderThan),
			"the system database is Oracle, which 3scale-ops does not connect to")
	default:
		return nil, errs.UsageError("give --system-db-url mysql2://… or postgresql://…", "unsupported system database kind %q", kind)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("system database: %w", err)
	}
	db.SetMaxOpenConns(2)
	return &Purger{DB: db, Dialect: kind, BatchSize: 10000, Now: time.Now, Log: slog.Default()}, nil
}

// Close closes the connection pool.
func (p *Purger) Close() error { return p.DB.Close() }

// Result is what one table's purge did.
type Result struct {
	Table    string        `json:"table"`
	Age      string        `json:"older_than"`
	Cutoff   time.Time     `json:"cutoff"`
	Matched  int64         `json:"matched"`
	Deleted  int64         `json:"deleted"`
	Batches  int           `json:"batches"`
	Duration time.Duration `json:"duration_ns"`
	Rate     float64       `json:"rows_per_second"`
	DryRun   bool          `json:"dry_run"`
	Skipped  string        `json:"skipped,omitempty"`
}

// target describes one purgeable table.
type target struct {
	table string
	// cond is the age condition with ? for the cutoff, unquoted column names
	// wrapped as {col}.
	cond string
	// tsCol, when set, is the indexed age column batches walk in
	// (tsCol, id) order; otherwise batches walk the primary key.
	tsCol string
}

var alertsTarget = target{table: "alerts", cond: "{timestamp} < ?", tsCol: "timestamp"}

// Tables are the tables 3scale purges itself, with its default ages
// (Porta's ThreeScale::Jobs and JanitorWorker).
var Tables = []struct {
	Name string
	Age  Age
	t    target
}{
	{"user_sessions", MustAge("2w"), target{table: "user_sessions", cond: "({accessed_at} < ? OR {revoked_at} IS NOT NULL)"}},
	{"audits", MustAge("3mo"), target{table: "audits", cond: "{created_at} < ?"}},
	{"log_entries", MustAge("6mo"), target{table: "log_entries", cond: "{created_at} < ?"}},
	{"event_store_events", MustAge("1w"), target{table: "event_store_events", cond: "{created_at} <= ?"}},
}

func (p *Purger) q(col string) string {
	if p.Dialect == Postgres {
		return `"` + col + `"`
	}
	return "`" + col + "`"
}

// sql rewrites {col} quoting and ? placeholders for the dialect.
func (p *Purger) sql(s string) string {
	for _, col := range []string{"timestamp", "accessed_at", "revoked_at", "created_at", "id"} {
		s = strings.ReplaceAll(s, "{"+col+"}", p.q(col))
	}
	if p.Dialect != Postgres {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

const stamp = "2006-01-02 15:04:05"

// Alerts purges alerts whose timestamp is older than age.
func (p *Purger) Alerts(ctx context.Context, age Age, dryRun bool, task *progress.Task) (Result, error) {
	return p.purge(ctx, alertsTarget, age, dryRun, task)
}

// PurgeTables purges the self-purged tables; ages overrides defaults by
// table name. Tables missing from the schema are reported as skipped.
func (p *Purger) PurgeTables(ctx context.Context, ages map[string]Age, dryRun bool, task *progress.Task) ([]Result, error) {
	for name := range ages {
		if !knownTable(name) {
			return nil, errs.UsageError("tables: user_sessions, audits, log_entries, event_store_events", "unknown table %q in --age", name)
		}
	}
	var out []Result
	for _, tb := range Tables {
		age := tb.Age
		if a, ok := ages[tb.Name]; ok {
			age = a
		}
		task.SetPhase(tb.Name)
		r, err := p.purge(ctx, tb.t, age, dryRun, task)
		out = append(out, r)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func knownTable(name string) bool {
	for _, tb := range Tables {
		if tb.Name == name {
			return true
		}
	}
	return false
}

func (p *Purger) exists(ctx context.Context, table string) (bool, error) {
	var n int
	var err error
	if p.Dialect == Postgres {
		err = p.DB.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1", table).Scan(&n)
	} else {
		err = p.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", table).Scan(&n)
	}
	return n > 0, err
}

func dbErr(err error, table string, done int64) error {
	if err == nil {
		return nil
	}
	if errs.Canceled(err) {
		return err
	}
	return errs.Wrap(errs.Failure, fmt.Errorf("purge %s: %w (%d rows deleted before the error stay deleted)", table, err, done),
		"check the system database is reachable and run the same command again: it continues where this one stopped")
}

func (p *Purger) purge(ctx context.Context, t target, age Age, dryRun bool, task *progress.Task) (res Result, err error) {
	start := time.Now()
	cutoff := age.Cutoff(p.Now())
	res = Result{Table: t.table, Age: age.String(), Cutoff: cutoff, DryRun: dryRun}
	defer func() {
		res.Duration = time.Since(start)
		if s := res.Duration.Seconds(); s > 0 {
			res.Rate = float64(res.Deleted) / s
		}
	}()
	ok, err := p.exists(ctx, t.table)
	if err != nil {
		return res, dbErr(err, t.table, 0)
	}
	if !ok {
		res.Skipped = "table not in this schema"
		return res, nil
	}
	c := cutoff.Format(stamp)
	if err := p.DB.QueryRowContext(ctx, p.sql("SELECT COUNT(*) FROM "+t.table+" WHERE "+t.cond), c).Scan(&res.Matched); err != nil {
		return res, dbErr(err, t.table, 0)
	}
	task.SetTotal(0, res.Matched)
	if dryRun || res.Matched == 0 {
		return res, nil
	}
	batch := min(max(p.BatchSize, 1), MaxBatch)
	var lastTS string
	var lastID int64
	first := true
	for {
		ids, ts, err := p.nextBatch(ctx, t, c, first, lastTS, lastID, batch)
		if err != nil {
			return res, dbErr(err, t.table, res.Deleted)
		}
		if len(ids) == 0 {
			return res, nil
		}
		first = false
		lastID, lastTS = ids[len(ids)-1], ts
		// A batch runs to its end even when cancelled meanwhile (it is
		// short): a DELETE interrupted by the client may still commit on
		// the server, and the count would then be wrong. Cancellation is
		// honoured between batches.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		n, err := p.deleteIDs(bctx, t, c, ids)
		cancel()
		if err != nil {
			return res, dbErr(err, t.table, res.Deleted)
		}
		res.Deleted += n
		res.Batches++
		task.AddItems(n)
		p.Log.Debug("purge batch", "table", t.table, "deleted", n, "total", res.Deleted)
		if len(ids) < batch {
			return res, nil
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}
}

// nextBatch selects the next ids to delete in (tsCol, id) or id order,
// after the last batch (keyset pagination: rows deleted but not yet
// purged by InnoDB are never rescanned). A plain consistent read: no locks.
func (p *Purger) nextBatch(ctx context.Context, t target, cutoff string, first bool, lastTS string, lastID int64, n int) ([]int64, string, error) {
	var query string
	args := []any{cutoff}
	switch {
	case t.tsCol != "" && first:
		query = "SELECT {id}, {ts} FROM " + t.table + " WHERE " + t.cond + " ORDER BY {ts}, {id} LIMIT ?"
	case t.tsCol != "":
		query = "SELECT {id}, {ts} FROM " + t.table + " WHERE " + t.cond + " AND ({ts} > ? OR ({ts} = ? AND {id} > ?)) ORDER BY {ts}, {id} LIMIT ?"
		args = append(args, lastTS, lastTS, lastID)
	default:
		query = "SELECT {id}, {id} FROM " + t.table + " WHERE " + t.cond + " AND {id} > ? ORDER BY {id} LIMIT ?"
		args = append(args, lastID)
	}
	args = append(args, n)
	query = strings.ReplaceAll(query, "{ts}", "{"+t.tsCol+"}")
	rows, err := p.DB.QueryContext(ctx, p.sql(query), args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	ids := make([]int64, 0, n)
	var ts string
	for rows.Next() {
		var id int64
		var raw any
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, "", err
		}
		ids = append(ids, id)
		switch v := raw.(type) {
		case time.Time:
			ts = v.UTC().Format("2006-01-02 15:04:05.999999")
		case []byte:
			ts = string(v)
		case string:
			ts = v
		}
	}
	return ids, ts, rows.Err()
}

// deleteIDs deletes one batch by primary key in its own transaction,
// re-checking the age so a row updated meanwhile is left alone.
func (p *Purger) deleteIDs(ctx context.Context, t target, cutoff string, ids []int64) (int64, error) {
	var b strings.Builder
	b.WriteString("DELETE FROM " + t.table + " WHERE {id} IN (")
	args := make([]any, 0, len(ids)+1)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('?')
		args = append(args, id)
	}
	b.WriteString(") AND " + t.cond)
	args = append(args, cutoff)
	r, err := p.DB.ExecContext(ctx, p.sql(b.String()), args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}
