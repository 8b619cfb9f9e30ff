package mysqldump

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func splitAll(t *testing.T, script string, oneByte bool) ([]string, error) {
	t.Helper()
	var r io.Reader = strings.NewReader(script)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	sr := newStmtReader(r, 0)
	var out []string
	for {
		st, err := sr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, strings.TrimSpace(string(st)))
	}
}

func TestStatementSplitting(t *testing.T) {
	script := "-- header; not a statement\nSET NAMES utf8mb4;\n" +
		"INSERT INTO `a;b` VALUES ('x;y', \"d;q\", 'it''s', 'back\\'slash;', 0x3B),(2,'--not comment');\n" +
		"# hash comment;\n/* block; comment */ SELECT 1 /* inner; */;\n" +
		"/*!40101 SET @x = 1 */;\n" +
		"DELIMITER ;;\nCREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET NEW.x = 1; SET NEW.y = 2; END;;\n" +
		"DELIMITER ;\nSELECT 2-1;\nSELECT 3 -- trailing comment\n;\n-- end of file: 2 rows\n"
	want := []string{
		"-- header; not a statement\nSET NAMES utf8mb4",
		"INSERT INTO `a;b` VALUES ('x;y', \"d;q\", 'it''s', 'back\\'slash;', 0x3B),(2,'--not comment')",
		"# hash comment;\n/* block; comment */ SELECT 1 /* inner; */",
		"/*!40101 SET @x = 1 */",
		"CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET NEW.x = 1; SET NEW.y = 2; END",
		"SELECT 2-1",
		"SELECT 3 -- trailing comment",
	}
	for _, oneByte := range []bool{false, true} {
		got, err := splitAll(t, script, oneByte)
		if err != nil {
			t.Fatalf("oneByte=%v: %v", oneByte, err)
		}
		if strings.Join(got, "\n|\n") != strings.Join(want, "\n|\n") {
			t.Errorf("oneByte=%v:\n got %q\nwant %q", oneByte, got, want)
		}
	}
}

func TestStatementSplittingTruncated(t *testing.T) {
	for _, s := range []string{
		"SELECT 1;\nINSERT INTO t VALUES (1,'abc'",
		"SELECT 1;\nINSERT INTO t VALUES (1,'ab;c');\nINSERT INTO t VALUES (2",
		"SELECT 1; /* unterminated comment",
		"DELIMITER ;;\nCREATE PROCEDURE p() BEGIN SELECT 1; END",
		"SELECT 'it''",
	} {
		for _, oneByte := range []bool{false, true} {
			if _, err := splitAll(t, s, oneByte); !errors.Is(err, ErrTruncated) {
				t.Errorf("%q (oneByte=%v): %v, want ErrTruncated", s, oneByte, err)
			}
		}
	}
}

func TestAppendLiterals(t *testing.T) {
	if got := string(appendString(nil, []byte("a'b\"c\\d\n\r\x00\x1a😀"))); got != `'a\'b"c\\d\n\r\0\Z😀'` {
		t.Errorf("appendString: %s", got)
	}
	if got := string(appendHex(nil, []byte{0, 0xff, 0x3b})); got != "0x00FF3B" {
		t.Errorf("appendHex: %s", got)
	}
	if got := string(appendHex(nil, []byte{})); got != "''" {
		t.Errorf("appendHex(empty): %s", got)
	}
}

func TestStripDefiner(t *testing.T) {
	for in, want := range map[string]string{
		"CREATE DEFINER=`root`@`%` TRIGGER x BEFORE INSERT ON t FOR EACH ROW SET NEW.definer = 'DEFINER=`a`@`b`'": "CREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW SET NEW.definer = 'DEFINER=`a`@`b`'",
		"CREATE ALGORITHM=UNDEFINED DEFINER=`porta`@`10.0.%` SQL SECURITY DEFINER VIEW `v` AS select 1":           "CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v` AS select 1",
		"CREATE DEFINER='app'@'localhost' PROCEDURE p() SELECT 1":                                                 "CREATE PROCEDURE p() SELECT 1",
		"CREATE DEFINER=CURRENT_USER FUNCTION f() RETURNS int RETURN 1":                                           "CREATE FUNCTION f() RETURNS int RETURN 1",
		"CREATE PROCEDURE p() SELECT 'DEFINER=`x`@`y`'":                                                           "CREATE PROCEDURE p() SELECT 'DEFINER=`x`@`y`'",
	} {
		if got := stripDefiner(in); got != want {
			t.Errorf("stripDefiner(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}

func TestDeferIndexes(t *testing.T) {
	create := "CREATE TABLE `alerts` (\n  `id` bigint(20) NOT NULL AUTO_INCREMENT,\n  `account_id` bigint(20) NOT NULL,\n" +
		"  `alert_id` bigint(20) NOT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u` (`alert_id`,`account_id`),\n" +
		"  KEY `k` (`account_id`)\n) ENGINE=InnoDB AUTO_INCREMENT=7 DEFAULT CHARSET=utf8mb4"
	table, alter := deferIndexes(create)
	wantTable := "CREATE TABLE `alerts` (\n  `id` bigint(20) NOT NULL AUTO_INCREMENT,\n  `account_id` bigint(20) NOT NULL,\n" +
		"  `alert_id` bigint(20) NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=7 DEFAULT CHARSET=utf8mb4"
	if table != wantTable || alter != "ALTER TABLE `alerts` ADD UNIQUE KEY `u` (`alert_id`,`account_id`), ADD KEY `k` (`account_id`)" {
		t.Errorf("deferIndexes:\n%s\n%s", table, alter)
	}
	for _, keep := range []string{
		"CREATE TABLE `t` (\n  `a` int(11) DEFAULT NULL,\n  KEY `k` (`a`)\n) ENGINE=InnoDB",                                                                                                 // no primary key
		"CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `p` int(11),\n  PRIMARY KEY (`id`),\n  KEY `k` (`p`),\n  CONSTRAINT `fk` FOREIGN KEY (`p`) REFERENCES `u` (`id`)\n) ENGINE=InnoDB", // foreign key
		"CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `b` int(11) NOT NULL,\n  PRIMARY KEY (`b`,`id`),\n  KEY `id` (`id`)\n) ENGINE=InnoDB",                               // auto-increment needs its key
	} {
		if table, alter := deferIndexes(keep); table != keep || alter != "" {
			t.Errorf("deferIndexes changed a table it must keep:\n%s\n%s", table, alter)
		}
	}
}

// The table with the longest deferred index build is loaded first, then
// the others by size; each table's files stay together, biggest first.
func TestLoadQueueCountsTheIndexBuilds(t *testing.T) {
	tables := []TableMeta{
		{Name: "audits", Rows: 1000_000, Files: []FileMeta{{Name: "a1", Bytes: 400 << 20}, {Name: "a2", Bytes: 300 << 20}}},
		{Name: "alerts", Rows: 6_000_000, Files: []FileMeta{{Name: "b1", Bytes: 100 << 20}, {Name: "b2", Bytes: 200 << 20}}},
		{Name: "tiny", Rows: 10, Files: []FileMeta{{Name: "c1", Bytes: 1 << 10}}},
	}
	alters := map[string]string{"alerts": "ALTER TABLE `alerts` ADD KEY `x` (`a`), ADD UNIQUE KEY `y` (`b`, `c`), ADD KEY `z` (`d`)",
		"audits": "ALTER TABLE `audits` ADD KEY `x` (`a`)"}
	var got []string
	for _, j := range loadQueue(tables, alters) {
		got = append(got, j.file.Name)
	}
	if want := "b2 b1 a1 a2 c1"; strings.Join(got, " ") != want {
		t.Fatalf("order %v, want %s", got, want)
	}
}
