package e2e

import (
	"database/sql"
	"strconv"
	"strings"
	"testing"

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
	var file, doDB, ignoreDB string
	var pos int64
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &doDB, &ignoreDB); err != nil {
		t.Fatalf("the test server has no binary log: %v", err)
	}
	res := run(t, r, "--local", "--system-db-url", dst.MySQL.URL, "restore", id, "--components", "system-mysql", "--skip-binlog", "--yes")
	if res.Code != 0 {
		t.Fatalf("restore --skip-binlog: want exit 0\n%s", res)
	}
	requireEqual(t, "system-mysql restored with --skip-binlog", only(src.state(t), "system-mysql/"), only(dst.state(t), "system-mysql/"))

	// Every Table_map event names db.table; none may name the target's.
	rows, err := db.Query("SHOW BINARY LOGS")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for rows.Next() {
		var f string
		var size int64
		if err := rows.Scan(&f, &size); err != nil {
			t.Fatal(err)
		}
		if f >= file {
			files = append(files, f)
		}
	}
	rows.Close()
	var events, ours int
	for _, f := range files {
		q := "SHOW BINLOG EVENTS IN '" + f + "'"
		if f == file {
			q += " FROM " + strconv.FormatInt(pos, 10)
		}
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for rows.Next() {
			var name, kind, info string
			var at, server, end int64
			if err := rows.Scan(&name, &at, &kind, &server, &end, &info); err != nil {
				t.Fatal(err)
			}
			events++
			if kind == "Table_map" && strings.Contains(info, "("+dst.MySQL.Name+".") {
				ours++
			}
		}
		rows.Close()
	}
	if ours > 0 {
		t.Errorf("%d row events of the restored database in the binary log (of %d events since %s:%d) with --skip-binlog", ours, events, file, pos)
	}
	if !strings.Contains(res.Stderr, "not written to the binary log") {
		t.Errorf("the restore does not say that its load is not binlogged:\n%s", res.Stderr)
	}
}
