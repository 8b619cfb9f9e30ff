package mysqldump

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/go-sql-driver/mysql"
)

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", firstLine(s), err)
		}
	}
}

// execScript runs a script with DELIMITER support, statement by statement.
func execScript(t *testing.T, db *sql.DB, script string) {
	t.Helper()
	sr := newStmtReader(strings.NewReader(script), 0)
	for {
		st, err := sr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, db, string(st))
	}
}

func newEngine(t *testing.T, dsn string, opts Options) *Engine {
	t.Helper()
	opts.DSN = dsn
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func queryStrings(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s.String)
	}
	return out
}

func queryInt(t *testing.T, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var n sql.NullInt64
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n.Int64
}

// checksums returns CHECKSUM TABLE of every base table of the database.
func checksums(t *testing.T, db *sql.DB, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tb := range queryStrings(t, db, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=? AND TABLE_TYPE='BASE TABLE'", name) {
		var n string
		var sum sql.NullString
		if err := db.QueryRow("CHECKSUM TABLE "+quoteIdent(tb)).Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		out[tb] = sum.String
	}
	return out
}

// objects describes a database's schema objects: SHOW CREATE of every
// table, view, trigger and routine, DEFINER removed.
func objects(t *testing.T, db *sql.DB, name string) map[string]string {
	t.Helper()
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := readSchema(ctx, c, name)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, tb := range s.Tables {
		out["table "+tb.Name] = tb.Create
	}
	for _, group := range [][]namedDDL{s.Views, s.Routines, s.Triggers} {
		for _, d := range group {
			out[d.Name] = d.SQL + " /* " + d.SQLMode + " */"
		}
	}
	return out
}

// copyMemory copies a snapshot, letting edit change a file's content.
func copyMemory(t *testing.T, m *artifact.Memory, edit func(name string, b []byte) []byte) *artifact.Memory {
	t.Helper()
	out := artifact.NewMemory()
	ctx := context.Background()
	for _, f := range m.Files() {
		b := m.Bytes(f.Name)
		if edit != nil {
			b = edit(f.Name, b)
		}
		w, err := out.Create(ctx, f.Name, f.Format)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.SetCount(f.Count)
		w.Close()
	}
	for _, k := range m.Keys() {
		var raw json.RawMessage
		if err := m.Get(k, &raw); err != nil {
			t.Fatal(err)
		}
		if err := out.Set(k, raw); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// lyingSource serves edited content while reporting the original sizes:
// a stream that ends early or carries different bytes without the
// repository noticing.
type lyingSource struct {
	*artifact.Memory
	edit func(name string, b []byte) []byte
}

func (l lyingSource) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	b := l.Memory.Bytes(name)
	if b == nil {
		return l.Memory.Open(ctx, name)
	}
	return io.NopCloser(bytes.NewReader(l.edit(name, append([]byte(nil), b...)))), nil
}

func metaOf(t *testing.T, src artifact.Source) *Meta {
	t.Helper()
	var m Meta
	if err := src.Get(MetaKey, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func tableNames(t *testing.T, db *sql.DB, name string) []string {
	return queryStrings(t, db, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=? ORDER BY 1", name)
}

var _ = testenv.Unique

// loadExportWithMariaDB writes the snapshot's `backups export` stream to a
// file and loads it with the real mariadb client into a fresh database.
func loadExportWithMariaDB(t *testing.T, mem *artifact.Memory) testenv.MySQLDatabase {
	t.Helper()
	path := filepath.Join(t.TempDir(), "export.sql")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Export(context.Background(), mem, f); err != nil {
		t.Fatalf("export: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	dst := testenv.MySQL(t)
	cfg, err := mysql.ParseDSN(dst.DSN)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command("/usr/bin/mariadb", "-h", host, "-P", port, "-u", cfg.User, dst.Name)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+cfg.Passwd)
	cmd.Stdin = in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mariadb < export: %v\n%s", err, out)
	}
	return dst
}
