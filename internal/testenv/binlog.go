package testenv

import (
	"database/sql"
	"strconv"
	"testing"
)

// BinlogEvent is one row of SHOW BINLOG EVENTS: its type and its info.
type BinlogEvent struct{ Kind, Info string }

// BinlogPosition is the test MariaDB's current binary log file and
// position (SHOW MASTER STATUS), for BinlogSince.
func BinlogPosition(t testing.TB, db *sql.DB) (file string, pos int64) {
	t.Helper()
	var doDB, ignoreDB string
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &doDB, &ignoreDB); err != nil {
		t.Fatalf("the test server has no binary log: %v", err)
	}
	return file, pos
}

// BinlogSince lists the binary log's events from file:pos to its end,
// across the files the server rotated to since.
func BinlogSince(t testing.TB, db *sql.DB, file string, pos int64) []BinlogEvent {
	t.Helper()
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
		if f >= file { // binlog.000012: the numbers are zero-padded
			files = append(files, f)
		}
	}
	rows.Close()
	var events []BinlogEvent
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
			events = append(events, BinlogEvent{kind, info})
		}
		rows.Close()
	}
	return events
}
