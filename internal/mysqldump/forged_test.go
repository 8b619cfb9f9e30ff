package mysqldump

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

// TestForgedStatementsNeverRun forges the SQL files of a dump as someone
// who can write the repository would (sizes and checksums updated to
// match): every planted statement is refused as damaged content (exit 3),
// naming the file, and none of them reaches the server. A forged schema
// file is refused before any table is created.
func TestForgedStatementsNeverRun(t *testing.T) {
	mem := smallDump(t)
	m := metaOf(t, mem)
	cases := forgedCases(t, m)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := forge(t, mem, c.file, c.edit)
			dst := testenv.MySQL(t)
			db := openDB(t, dst.DSN)
			// What an earlier run of a broken build may have left.
			mustExec(t, db, "DROP DATABASE IF EXISTS pwned")
			_ = os.Remove(outfile)
			e := newEngine(t, dst.DSN, Options{Workers: 2})
			// A forged schema file is found by the preflight the restore's
			// plan runs before its first step; a data file, while loading.
			if err := e.Preflight(context.Background(), src); (err != nil) != c.untouched {
				t.Errorf("preflight: %v", err)
			}
			_, err := e.Restore(context.Background(), src, progress.NewTask("restore"))
			if err == nil {
				t.Fatal("restore of a forged snapshot succeeded")
			}
			if strings.Contains(err.Error(), ",500)") || strings.Contains(err.Error(), "99999,1") {
				t.Errorf("the error shows the file's rows: %v", err)
			}
			if errs.Code(err) != errs.Mismatch || errs.Hint(err) == "" || !strings.Contains(err.Error(), c.file) {
				t.Errorf("code %d hint %q, want 3 naming %s: %v", errs.Code(err), errs.Hint(err), c.file, err)
			}
			if n := queryInt(t, db, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'pwned'"); n != 0 {
				t.Errorf("the forged CREATE DATABASE ran")
			}
			if _, err := os.Stat(outfile); err == nil {
				t.Errorf("the forged SELECT … INTO OUTFILE wrote %s", outfile)
			}
			tables := tableNames(t, db, dst.Name)
			if c.untouched && len(tables) > 0 {
				t.Errorf("tables were created before the forged schema was found: %v", tables)
			}
			if !c.untouched {
				for _, q := range []string{"SELECT COUNT(*) FROM acct_a WHERE id = 99999", "SELECT COUNT(*) FROM acct_b WHERE id = 99999 OR bal <> 500"} {
					if n := queryInt(t, db, q); n != 0 {
						t.Errorf("a forged statement changed rows: %s = %d", q, n)
					}
				}
			}
			t.Logf("%v", err)
		})
	}
}

// forgedCase is a dump file edited as someone who can write the
// repository would; untouched: refused before any table is created.
type forgedCase struct {
	name, file string
	edit       func([]byte) []byte
	untouched  bool
	planted    string // text of the planted statement
}

const outfile = "/tmp/3scale-ops-forged"

// forgedCases are the edits TestForgedStatementsNeverRun and
// TestExportWritesNoForgedStatement make to the files of m.
func forgedCases(t *testing.T, m *Meta) []forgedCase {
	data := m.Tables[1].Files[0].Name // acct_b's first file
	// before inserts a statement before the file's end comment.
	before := func(end, stmt string) func([]byte) []byte {
		return func(b []byte) []byte {
			i := strings.LastIndex(string(b), end)
			if i < 0 {
				t.Fatalf("%q not found", end)
			}
			return []byte(string(b[:i]) + stmt + string(b[i:]))
		}
	}
	// replaceFirst swaps the first occurrence of old.
	replaceFirst := func(old, new string) func([]byte) []byte {
		return func(b []byte) []byte {
			if !strings.Contains(string(b), old) {
				t.Fatalf("%q not found", old)
			}
			return []byte(strings.Replace(string(b), old, new, 1))
		}
	}
	return []forgedCase{
		{"CREATE DATABASE in a data file", data, before("-- end of", "CREATE DATABASE pwned;\n"), false, `CREATE DATABASE pwned`},
		{"SELECT INTO OUTFILE in a data file", data, before("-- end of", "SELECT 1 INTO OUTFILE '"+outfile+"';\n"), false, `INTO OUTFILE`},
		{"INSERT into another table", data, before("-- end of", "INSERT INTO `acct_a` (`id`,`bal`) VALUES (99999,1);\n"), false, `(99999,1)`},
		{"a subquery as a value", data, replaceFirst("VALUES (", "VALUES ((SELECT COUNT(*) FROM mysql.user)),("), false, `mysql.user`},
		{"INSERT … SELECT", data, before("-- end of", "INSERT INTO `acct_b` (`id`,`bal`) SELECT 99999, 1;\n"), false, `SELECT 99999`},
		{"ON DUPLICATE KEY UPDATE", data, before("-- end of", "INSERT INTO `acct_b` (`id`,`bal`) VALUES (1,1) ON DUPLICATE KEY UPDATE bal=0;\n"), false, `ON DUPLICATE KEY`},
		{"another sql_mode (backslashes read otherwise)", data, replaceFirst("SET sql_mode='"+loadSQLMode+"'", "SET sql_mode='NO_BACKSLASH_ESCAPES'"), false, `NO_BACKSLASH_ESCAPES`},
		{"CREATE DATABASE in pre-data", m.PreData.Name, before("CREATE TABLE", "CREATE DATABASE pwned;\n"), true, `CREATE DATABASE pwned`},
		{"a table pre-data's metadata does not list", m.PreData.Name, before("CREATE TABLE", "CREATE TABLE `extra` (id int);\n"), true, "`extra`"},
		{"GRANT in post-data", m.PostData.Name, before("DELIMITER ;\n", "GRANT ALL ON *.* TO CURRENT_USER;;\n"), true, `GRANT ALL`},
		{"DROP TABLE in post-data", m.PostData.Name, before("DELIMITER ;\n", "DROP TABLE acct_a;;\n"), true, `DROP TABLE acct_a`},
	}
}

// TestExportWritesNoForgedStatement: `backups export` runs the same check
// as a restore and writes only what passed it, so a `mysql` reading the
// export through a pipe never receives a planted statement. A forged
// schema file stops the export before its first byte.
func TestExportWritesNoForgedStatement(t *testing.T) {
	mem := smallDump(t)
	for _, c := range forgedCases(t, metaOf(t, mem)) {
		t.Run(c.name, func(t *testing.T) {
			var out strings.Builder
			err := Export(context.Background(), forge(t, mem, c.file, c.edit), &out)
			if err == nil {
				t.Fatal("export of a forged snapshot succeeded")
			}
			if errs.Code(err) != errs.Mismatch || errs.Hint(err) == "" || !strings.Contains(err.Error(), c.file) {
				t.Errorf("code %d hint %q, want 3 naming %s: %v", errs.Code(err), errs.Hint(err), c.file, err)
			}
			if strings.Contains(out.String(), c.planted) {
				t.Errorf("the export wrote the planted %q", c.planted)
			}
			if c.untouched && out.Len() > 0 {
				t.Errorf("the export wrote %d bytes before the forged schema was found", out.Len())
			}
			t.Logf("%d bytes written; %v", out.Len(), err)
		})
	}
}
