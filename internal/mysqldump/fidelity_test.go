package mysqldump

import (
	"context"
	"database/sql"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// everyKindSchema has the MariaDB objects whose meaning depends on how
// they were created: views, triggers, routines and an event created over a
// utf8mb3 connection under a non-default sql_mode, a sequence with a
// current value, and tables with generated, invisible and system-versioned
// columns, fulltext and spatial indexes, BIT, SET/ENUM, zero dates and
// partitions.
const everyKindSchema = `
SET NAMES utf8mb3 COLLATE utf8mb3_general_ci;
SET SESSION sql_mode = 'PIPES_AS_CONCAT,ANSI_QUOTES,ALLOW_INVALID_DATES';
CREATE TABLE legacy (
  id int NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name varchar(100) CHARACTER SET utf8mb3 COLLATE utf8mb3_unicode_ci NOT NULL,
  flags bit(5) NOT NULL DEFAULT b'00101',
  perms set('read','write','admin') NOT NULL DEFAULT 'read',
  level enum('low','mid','high') DEFAULT 'mid',
  born date NOT NULL DEFAULT '0000-00-00',
  seen datetime DEFAULT '0000-00-00 00:00:00',
  full_name varchar(210) AS (name || '!') VIRTUAL,
  name_len int AS (char_length(name)) PERSISTENT,
  secret varchar(20) INVISIBLE DEFAULT 'hidden',
  body text,
  FULLTEXT KEY ft_body (body),
  KEY k_len (name_len)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;
CREATE TABLE places (id int PRIMARY KEY, pos point NOT NULL, area polygon, SPATIAL KEY sp_pos (pos)) ENGINE=InnoDB;
CREATE TABLE prices (id int PRIMARY KEY, amount decimal(10,2)) WITH SYSTEM VERSIONING;
CREATE TABLE hits (id bigint NOT NULL, day date NOT NULL, n int, PRIMARY KEY (id, day))
  PARTITION BY RANGE (year(day)) (PARTITION p2024 VALUES LESS THAN (2025), PARTITION pmax VALUES LESS THAN MAXVALUE);
CREATE SEQUENCE ticket_seq START WITH 100 INCREMENT BY 5 MINVALUE 10 MAXVALUE 100000 CACHE 10;
CREATE VIEW "legacy_names" AS SELECT id, name || '?' AS q FROM legacy;
DELIMITER ;;
CREATE TRIGGER legacy_bi BEFORE INSERT ON legacy FOR EACH ROW SET NEW.body = NEW.body || ' [' || 'é' || ']';;
CREATE FUNCTION shout(s varchar(50)) RETURNS varchar(60) CHARSET utf8mb3 DETERMINISTIC RETURN upper(s) || '!!';;
CREATE PROCEDURE touch_all() MODIFIES SQL DATA UPDATE legacy SET body = body || '.';;
CREATE EVENT purge_hits ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM hits WHERE day < '2000-01-01';;
DELIMITER ;
INSERT INTO legacy (name, flags, perms, level, born, seen, body) VALUES
  ('ann', b'11111', 'read,write', 'high', '0000-00-00', '0000-00-00 00:00:00', 'hello world'),
  ('bób', b'00000', '', NULL, '2024-02-30', NULL, NULL);
INSERT INTO places VALUES (1, ST_GeomFromText('POINT(1 2)'), ST_GeomFromText('POLYGON((0 0,0 3,3 3,3 0,0 0))')), (2, POINT(-5.5, 7.25), NULL);
INSERT INTO prices VALUES (1, 9.99), (2, 20.00);
UPDATE prices SET amount = 10.99 WHERE id = 1;
INSERT INTO hits VALUES (1, '2024-05-01', 3), (2, '2026-01-01', 4);
SELECT NEXTVAL(ticket_seq);
SELECT NEXTVAL(ticket_seq);
SET NAMES utf8mb4;
SET SESSION sql_mode = DEFAULT;
`

// showCreateAll is SHOW CREATE of every table, sequence, view, trigger,
// routine and event, all its columns but the creation time, as text.
func showCreateAll(t *testing.T, db *sql.DB, name string) map[string]string {
	t.Helper()
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := map[string]string{}
	list := map[string]string{
		"TABLE":     `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')`,
		"SEQUENCE":  `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'SEQUENCE'`,
		"VIEW":      `SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?`,
		"TRIGGER":   `SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?`,
		"FUNCTION":  `SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'FUNCTION'`,
		"PROCEDURE": `SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'PROCEDURE'`,
		"EVENT":     `SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?`,
	}
	for kind, q := range list {
		for _, n := range queryStrings(t, db, q, name) {
			m, err := showCreate(ctx, c, "SHOW CREATE "+kind+" "+quoteIdent(name)+"."+quoteIdent(n))
			if err != nil {
				t.Fatalf("SHOW CREATE %s %s: %v", kind, n, err)
			}
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(m)) {
				if k != "Created" {
					parts = append(parts, k+"="+m[k])
				}
			}
			out[kind+" "+n] = strings.Join(parts, "\n")
		}
	}
	return out
}

// checksumAll is CHECKSUM TABLE of every table and sequence.
func checksumAll(t *testing.T, db *sql.DB, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tb := range queryStrings(t, db, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?
		AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'SEQUENCE')`, name) {
		var n string
		var sum sql.NullString
		if err := db.QueryRow("CHECKSUM TABLE "+quoteIdent(name)+"."+quoteIdent(tb)).Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		out[tb] = sum.String
	}
	return out
}

func sameObjects(t *testing.T, src, dst testenv.MySQLDatabase) {
	t.Helper()
	sameObjectsN(t, src, dst, 10)
}

func sameObjectsN(t *testing.T, src, dst testenv.MySQLDatabase, least int) {
	t.Helper()
	dba, dbb := openDB(t, src.DSN), openDB(t, dst.DSN)
	oa, ob := showCreateAll(t, dba, src.Name), showCreateAll(t, dbb, dst.Name)
	if len(oa) < least {
		t.Fatalf("fixture has only %d objects: %v", len(oa), slices.Sorted(maps.Keys(oa)))
	}
	for _, k := range slices.Sorted(maps.Keys(oa)) {
		want := strings.ReplaceAll(oa[k], quoteIdent(src.Name), quoteIdent(dst.Name))
		if ob[k] != want {
			t.Errorf("SHOW CREATE %s differs:\nsource:   %s\nrestored: %s", k, want, ob[k])
		}
	}
	for k := range ob {
		if _, ok := oa[k]; !ok {
			t.Errorf("restored database has extra %s", k)
		}
	}
	if ca, cb := checksumAll(t, dba, src.Name), checksumAll(t, dbb, dst.Name); !maps.Equal(ca, cb) {
		t.Errorf("CHECKSUM TABLE differs:\nsource   %v\nrestored %v", ca, cb)
	}
}

// TestEveryObjectKindRestoresExactly backs up the every-kind fixture and
// restores it with the engine and through the export loaded by the real
// mariadb client: SHOW CREATE of every object (with its
// character_set_client, collation_connection and sql_mode) and CHECKSUM
// TABLE of every table and sequence must equal the source's.
func TestEveryObjectKindRestoresExactly(t *testing.T) {
	src := testenv.MySQL(t)
	execScript(t, openDB(t, src.DSN), everyKindSchema)
	mem := artifact.NewMemory()
	if err := newEngine(t, src.DSN, Options{Workers: 2}).Backup(context.Background(), mem, nil); err != nil {
		t.Fatalf("backup: %v", err)
	}
	t.Run("restore", func(t *testing.T) {
		dst := testenv.MySQL(t)
		if _, err := newEngine(t, dst.DSN, Options{Workers: 2, SkipBinlog: true}).Restore(context.Background(), mem, nil); err != nil {
			t.Fatalf("restore: %v", err)
		}
		sameObjects(t, src, dst)
		if got := queryInt(t, openDB(t, dst.DSN), "SELECT NEXTVAL(ticket_seq)"); got != 150 {
			t.Errorf("sequence after restore continues at %d, want 150 (next_not_cached_value)", got)
		}
	})
	t.Run("export", func(t *testing.T) {
		dst := loadExportWithMariaDB(t, mem)
		sameObjects(t, src, dst)
	})
}

// TestDefinerKeptWhenPermitted: objects whose DEFINER account exists on
// the target come back with it when the restoring user may set it
// (SUPER); SHOW CREATE is then equal, DEFINER included.
func TestDefinerKeptWhenPermitted(t *testing.T) {
	src := testenv.MySQL(t)
	db := openDB(t, src.DSN)
	user := testenv.Unique("owner_")
	mustExec(t, db, "CREATE USER '"+user+"'@'%' IDENTIFIED BY '"+testenv.Unique("pw")+"'", "GRANT ALL ON *.* TO '"+user+"'@'%'")
	t.Cleanup(func() { db.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
	def := "DEFINER=`" + user + "`@`%`"
	execScript(t, db, `
CREATE TABLE t (id int PRIMARY KEY, n int);
CREATE ALGORITHM=MERGE `+def+` SQL SECURITY DEFINER VIEW v AS SELECT id FROM t;
DELIMITER ;;
CREATE `+def+` TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW SET NEW.n = 1;;
CREATE `+def+` PROCEDURE p() SELECT 1;;
CREATE `+def+` EVENT e ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1;;
DELIMITER ;
`)
	mem := artifact.NewMemory()
	if err := newEngine(t, src.DSN, Options{Workers: 1}).Backup(context.Background(), mem, nil); err != nil {
		t.Fatalf("backup: %v", err)
	}
	dst := testenv.MySQL(t)
	if _, err := newEngine(t, dst.DSN, Options{Workers: 1, SkipBinlog: true}).Restore(context.Background(), mem, nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
	got := showCreateAll(t, openDB(t, dst.DSN), dst.Name)
	for _, k := range []string{"VIEW v", "TRIGGER t_bi", "PROCEDURE p", "EVENT e"} {
		if !strings.Contains(got[k], user) {
			t.Errorf("%s lost its DEFINER: %s", k, got[k])
		}
	}
	sameObjectsN(t, src, dst, 5)
}
