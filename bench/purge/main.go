// Command purge benchmarks `3scale-ops purge alerts` (primary-key batches)
// against the guide's single DELETE on the same alerts data in the test
// MariaDB, with a concurrent application writer inserting new alerts and
// marking old ones read, and prints a markdown table: time, rows deleted,
// and the longest a writer statement waited during each purge.
//
//	go run ./bench/purge -rows 1000000
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/purge"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	_ "github.com/go-sql-driver/mysql"
)

const schema = "CREATE TABLE alerts_src (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, account_id bigint NOT NULL, `timestamp` datetime NOT NULL, " +
	"state varchar(255) NOT NULL, cinstance_id bigint NOT NULL, utilization decimal(6,2) NOT NULL, level int NOT NULL, " +
	"alert_id bigint NOT NULL, message text, tenant_id bigint, service_id bigint, " +
	"KEY index_alerts_with_service_id (account_id, service_id, state, cinstance_id), " +
	"UNIQUE KEY index_alerts_on_alert_id_and_account_id (alert_id, account_id), " +
	"KEY index_alerts_on_cinstance_id (cinstance_id), KEY index_alerts_on_timestamp (`timestamp`)) ENGINE=InnoDB"

func main() {
	rows := flag.Int("rows", 1_000_000, "alerts rows (about 3/4 older than 14 days)")
	batch := flag.Int("batch-size", 10000, "3scale-ops batch size")
	flag.Parse()
	if err := run(*rows, *batch); err != nil {
		fmt.Fprintln(os.Stderr, "bench/purge:", err)
		os.Exit(1)
	}
}

func run(rows, batch int) error {
	env, err := testenv.Load()
	if err != nil {
		return err
	}
	ctx := context.Background()
	admin, err := sql.Open("mysql", env.MySQLAdminDSN(""))
	if err != nil {
		return err
	}
	name := testenv.Unique("bench_purge_")
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		return err
	}
	defer admin.Exec("DROP DATABASE IF EXISTS " + name)
	db, err := sql.Open("mysql", env.MySQLAdminDSN(name))
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(8)
	t0 := time.Now()
	if _, err := db.Exec(schema); err != nil {
		return err
	}
	// Bulk fill with MariaDB's sequence engine: timestamps spread over 60 days.
	fill := fmt.Sprintf("INSERT INTO alerts_src (account_id, `timestamp`, state, cinstance_id, utilization, level, alert_id, message, tenant_id, service_id) "+
		"SELECT 2 + seq %% 50, UTC_TIMESTAMP() - INTERVAL FLOOR(seq * 5184000 / %d) SECOND, 'unread', seq %% 5000, 1.01, 100, seq, 'hits per day: 101/100', 2, 7 FROM seq_1_to_%d", rows, rows)
	if _, err := db.Exec(fill); err != nil {
		return fmt.Errorf("fill (needs MariaDB's sequence engine): %w", err)
	}
	fmt.Fprintf(os.Stderr, "filled %d rows in %s\n", rows, time.Since(t0).Round(time.Second))
	var maxID int64
	_ = db.QueryRow("SELECT MAX(id) FROM alerts_src").Scan(&maxID)

	type result struct {
		name    string
		deleted int64
		took    time.Duration
		w       *writerStats
	}
	var results []result
	for _, method := range []string{"guide: single DELETE", fmt.Sprintf("3scale-ops purge alerts (batch %d)", batch)} {
		if err := reload(db); err != nil {
			return err
		}
		wctx, stop := context.WithCancel(ctx)
		ws := &writerStats{}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); writer(wctx, db, maxID, ws) }()
		time.Sleep(500 * time.Millisecond)
		start := time.Now()
		var deleted int64
		if method[0] == 'g' {
			r, err := db.ExecContext(ctx, "DELETE FROM alerts WHERE `timestamp` < UTC_TIMESTAMP() - INTERVAL 14 DAY")
			if err != nil {
				stop()
				wg.Wait()
				return err
			}
			deleted, _ = r.RowsAffected()
		} else {
			p := &purge.Purger{DB: db, Dialect: purge.MySQL, BatchSize: batch, Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			res, err := p.Alerts(ctx, purge.MustAge("14d"), false, nil)
			if err != nil {
				stop()
				wg.Wait()
				return err
			}
			deleted = res.Deleted
		}
		took := time.Since(start)
		stop()
		wg.Wait()
		results = append(results, result{method, deleted, took, ws})
		fmt.Fprintf(os.Stderr, "%s: %d rows in %s\n", method, deleted, took.Round(time.Millisecond))
	}
	fmt.Printf("| method | rows deleted | time | rows/s | writer ops | writer max wait (insert) | writer max wait (update old row) | writer timeouts |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Printf("| %s | %d | %s | %.0f | %d | %s | %s | %d |\n", r.name, r.deleted, r.took.Round(time.Millisecond),
			float64(r.deleted)/r.took.Seconds(), r.w.ops.Load(), time.Duration(r.w.maxInsert.Load()).Round(time.Millisecond),
			time.Duration(r.w.maxUpdate.Load()).Round(time.Millisecond), r.w.timeouts.Load())
	}
	return nil
}

// reload recreates alerts from the pristine copy.
func reload(db *sql.DB) error {
	for _, s := range []string{"DROP TABLE IF EXISTS alerts", "CREATE TABLE alerts LIKE alerts_src", "INSERT INTO alerts SELECT * FROM alerts_src"} {
		if _, err := db.Exec(s); err != nil {
			return fmt.Errorf("reload: %s: %w", s, err)
		}
	}
	return nil
}

type writerStats struct {
	ops, timeouts        atomic.Int64
	maxInsert, maxUpdate atomic.Int64
}

func bump(a *atomic.Int64, d time.Duration) {
	for {
		cur := a.Load()
		if int64(d) <= cur || a.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// writer behaves like 3scale: the alert importer inserts new alerts, users
// mark alerts read (old ones among them). Each statement is timed.
func writer(ctx context.Context, db *sql.DB, maxID int64, ws *writerStats) {
	seq := maxID + 1_000_000
	for ctx.Err() == nil {
		seq++
		t := time.Now()
		_, err := db.Exec("INSERT INTO alerts (account_id, `timestamp`, state, cinstance_id, utilization, level, alert_id, tenant_id, service_id) VALUES (3, UTC_TIMESTAMP(), 'unread', 9, 0.9, 90, ?, 2, 7)", seq)
		bump(&ws.maxInsert, time.Since(t))
		if err != nil {
			ws.timeouts.Add(1)
		}
		t = time.Now()
		_, err = db.Exec("UPDATE alerts SET state = 'read' WHERE id = ?", 1+rand.Int64N(maxID))
		bump(&ws.maxUpdate, time.Since(t))
		if err != nil {
			ws.timeouts.Add(1)
		}
		ws.ops.Add(2)
		time.Sleep(5 * time.Millisecond)
	}
}
