package mysqldump

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/go-sql-driver/mysql"
)

// TestLoadIsBinloggedWithoutItsText: with the binary log on (as on the
// test server, binlog_format=ROW, and on a MySQL 8 system-mysql), the
// load's rows are still logged, so that replicas and point-in-time
// recovery see the restore. MariaDB's default binlog_annotate_row_events
// would also copy the text of every INSERT into the binlog beside its
// row events: a second copy of the whole dump that only mysqlbinlog's
// display uses. perf put the binlog at a third of MariaDB's CPU in a
// restore, most of it the annotations. The loading sessions turn them
// off.
func TestLoadIsBinloggedWithoutItsText(t *testing.T) {
	mem := smallDump(t)
	t.Run("root", func(t *testing.T) {
		written, annotated, _ := restoreAndReadBinlog(t, mem, Options{}, false)
		if annotated > 0 {
			t.Errorf("%d of %d row events in the binary log carry the text of their INSERT (binlog_annotate_row_events)", annotated, written)
		}
	})
	// --skip-binlog: nothing of the load is in the binary log.
	t.Run("SkipBinlog", func(t *testing.T) {
		written, _, logs := restoreAndReadBinlog(t, mem, Options{SkipBinlog: true}, false)
		if written != 0 {
			t.Errorf("%d row events of the load in the binary log with SkipBinlog", written)
		}
		if !strings.Contains(logs, "not written to the binary log") {
			t.Errorf("the restore did not say that its load is not binlogged:\n%s", logs)
		}
	})
	// A user with rights on the target database only may not change the
	// setting (MariaDB asks for BINLOG ADMIN): the restore goes on, says
	// so once, and the binlog keeps MariaDB's default.
	t.Run("without BINLOG ADMIN", func(t *testing.T) {
		written, annotated, logs := restoreAndReadBinlog(t, mem, Options{}, true)
		if annotated != written {
			t.Errorf("%d of %d row events annotated, want all (the server's default)", annotated, written)
		}
		if n := strings.Count(logs, "binlog_annotate_row_events"); n != 1 {
			t.Errorf("the restore said %d times that the annotations stay on, want once:\n%s", n, logs)
		}
	})
}

// restoreAndReadBinlog restores mem into a fresh database, as a user with
// every right on it only if restricted, and counts the load's row events
// in the binary log and those preceded by an Annotate_rows event.
func restoreAndReadBinlog(t *testing.T, mem *artifact.Memory, opts Options, restricted bool) (written, annotated int, logs string) {
	t.Helper()
	dst := testenv.MySQL(t)
	admin := openDB(t, dst.DSN)
	dsn := dst.DSN
	if restricted {
		user, pw := testenv.Unique("loader_"), testenv.Unique("pw")
		mustExec(t, admin, "CREATE USER '"+user+"'@'%' IDENTIFIED BY '"+pw+"'", "GRANT ALL ON `"+dst.Name+"`.* TO '"+user+"'@'%'")
		t.Cleanup(func() { admin.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
		cfg, err := mysql.ParseDSN(dst.DSN)
		if err != nil {
			t.Fatal(err)
		}
		cfg.User, cfg.Passwd = user, pw
		dsn = cfg.FormatDSN()
	}
	file, pos := testenv.BinlogPosition(t, admin)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	opts.Workers, opts.Logger = 2, log
	if _, err := newEngine(t, dsn, opts).Restore(context.Background(), mem, nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
	events := testenv.BinlogSince(t, admin, file, pos)
	ours := "(" + dst.Name + "."
	for i, ev := range events {
		if ev.Kind != "Table_map" || !strings.Contains(ev.Info, ours) || i+1 == len(events) || !strings.HasPrefix(events[i+1].Kind, "Write_rows") {
			continue
		}
		written++
		if i > 0 && events[i-1].Kind == "Annotate_rows" {
			annotated++
		}
	}
	if written == 0 && !opts.SkipBinlog {
		t.Fatalf("the load's rows are not in the binary log (%d events since %s:%d)", len(events), file, pos)
	}
	t.Logf("%d row events of the load in the binary log, %d annotated", written, annotated)
	return written, annotated, buf.String()
}
