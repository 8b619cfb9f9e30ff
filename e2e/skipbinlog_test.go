package e2e

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/testenv"
	_ "github.com/go-sql-driver/mysql"
)

// restore --skip-binlog: system-mysql comes back equal to the source and
// not one of its rows is in the target server's binary log (the test
// MariaDB logs in ROW format). Without the flag the same restore is
// binlogged (internal/mysqldump's binlog test counts its row events).
func TestRestoreSkipBinlog(t *testing.T) {
	src := newInstall(t)
	src.seedWith(t, 7, 1<<20)
	r := localRepo(t)
	id := backup(t, r, src)
	dst := newInstall(t)

	db, err := sql.Open("mysql", dst.MySQL.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	file, pos := testenv.BinlogPosition(t, db)
	res := run(t, r, "--local", "--system-db-url", dst.MySQL.URL, "restore", id, "--components", "system-mysql", "--skip-binlog", "--yes")
	if res.Code != 0 {
		t.Fatalf("restore --skip-binlog: want exit 0\n%s", res)
	}
	requireEqual(t, "system-mysql restored with --skip-binlog", only(src.state(t), "system-mysql/"), only(dst.state(t), "system-mysql/"))

	// Every Table_map event names db.table; none may name the target's.
	events := testenv.BinlogSince(t, db, file, pos)
	ours := 0
	for _, ev := range events {
		if ev.Kind == "Table_map" && strings.Contains(ev.Info, "("+dst.MySQL.Name+".") {
			ours++
		}
	}
	if ours > 0 {
		t.Errorf("%d row events of the restored database in the binary log (of %d events since %s:%d) with --skip-binlog", ours, len(events), file, pos)
	}
	if !strings.Contains(res.Stderr, "not written to the binary log") {
		t.Errorf("the restore does not say that its load is not binlogged:\n%s", res.Stderr)
	}
}
