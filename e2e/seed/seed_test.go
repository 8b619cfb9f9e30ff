package seed_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/internal/fingerprint"
	"github.com/3scale-ops/3scale-ops/e2e/seed"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

var testNow = time.Date(2025, 4, 23, 17, 42, 31, 0, time.UTC)

// newTargets gives a fresh MySQL and PostgreSQL database, a private
// redis-server for backend (db 0 and 1) and one for system, and a temp dir.
func newTargets(t *testing.T) seed.Targets {
	t.Helper()
	my := testenv.MySQL(t)
	pg := testenv.Postgres(t)
	br := testenv.StartRedis(t, testenv.RedisOptions{AppendOnly: true, ExtraConf: []string{"enable-debug-command local"}})
	sr := testenv.StartRedis(t, testenv.RedisOptions{ExtraConf: []string{"enable-debug-command local"}})
	return seed.Targets{
		MySQLDSN: my.DSN, PostgresURL: pg.URL,
		BackendRedisURL: "redis://" + br.Addr + "/0", BackendQueuesURL: "redis://" + br.Addr + "/1",
		SystemRedisURL: "redis://" + sr.Addr + "/1", StorageDir: filepath.Join(t.TempDir(), "system"),
	}
}

func generate(t *testing.T, tg seed.Targets, seedN int64) *seed.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := seed.Generate(ctx, tg, seed.Options{Seed: seedN, Scale: 3 << 20, Now: testNow, Parallel: 2})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return rep
}

func TestGenerateDeterministicAndConsistent(t *testing.T) {
	a, b := newTargets(t), newTargets(t)
	ra := generate(t, a, 42)
	rb := generate(t, b, 42)

	// Same report counts and samples.
	for name, pair := range map[string][2]map[string]seed.Count{
		"mysql": {ra.MySQL, rb.MySQL}, "postgres": {ra.Postgres, rb.Postgres},
		"backend-redis": {ra.BackendRedis, rb.BackendRedis}, "system-redis": {ra.SystemRedis, rb.SystemRedis},
	} {
		if fmt.Sprint(pair[0]) != fmt.Sprint(pair[1]) {
			t.Errorf("%s counts differ between runs:\n%v\n%v", name, pair[0], pair[1])
		}
	}
	if fmt.Sprint(ra.Samples) != fmt.Sprint(rb.Samples) || len(ra.Samples) < 4 {
		t.Errorf("samples differ or too few: %d vs %d", len(ra.Samples), len(rb.Samples))
	}

	// Same data, read back from the servers.
	if x, y := mysqlDigest(t, a.MySQLDSN), mysqlDigest(t, b.MySQLDSN); x != y {
		t.Errorf("MySQL contents differ:\n%s\n%s", x, y)
	}
	if x, y := pgDigest(t, a.PostgresURL), pgDigest(t, b.PostgresURL); x != y {
		t.Errorf("PostgreSQL contents differ:\n%s\n%s", x, y)
	}
	for _, u := range [][2]string{{a.BackendRedisURL, b.BackendRedisURL}, {a.BackendQueuesURL, b.BackendQueuesURL}, {a.SystemRedisURL, b.SystemRedisURL}} {
		if x, y := redisDigest(t, u[0]), redisDigest(t, u[1]); x != y {
			t.Errorf("Redis contents differ for %s: %s vs %s", u[0], x, y)
		}
	}
	if x, y := treeDigest(t, a.StorageDir), treeDigest(t, b.StorageDir); x != y {
		t.Errorf("storage trees differ: %s vs %s", x, y)
	}

	// Exact counts the report claims are what the servers hold.
	db := openMySQL(t, a.MySQLDSN)
	for table, c := range ra.MySQL {
		var n int64
		if err := db.QueryRow("SELECT COUNT(*) FROM `" + table + "`").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != c.Rows {
			t.Errorf("table %s: %d rows, report says %d", table, n, c.Rows)
		}
	}
	// The tables end as Porta's DDL creates them (the generator adds the
	// secondary keys after the load, with InnoDB's automatic statistics
	// off until then), and their statistics are current.
	ref := openMySQL(t, testenv.MySQL(t).DSN)
	for _, ddl := range seed.PortaTables {
		if _, err := ref.Exec(ddl + " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"); err != nil {
			t.Fatal(err)
		}
		name := strings.Fields(ddl)[2]
		if got, want := showCreate(t, db, name), showCreate(t, ref, name); got != want {
			t.Errorf("table %s is not as Porta's DDL creates it:\n%s\nwant\n%s", name, got, want)
		}
	}
	var odd int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND create_options <> ''").Scan(&odd); err != nil || odd != 0 {
		t.Errorf("%d tables with create options left (%v)", odd, err)
	}
	var estimate int64
	if err := db.QueryRow("SELECT table_rows FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'alerts'").Scan(&estimate); err != nil {
		t.Fatal(err)
	}
	if n := ra.MySQL["alerts"].Rows; estimate < n/2 || estimate > 2*n {
		t.Errorf("alerts: the statistics estimate %d rows, the table has %d", estimate, n)
	}

	var maxAlert int64
	if err := db.QueryRow("SELECT MAX(alert_id) FROM alerts").Scan(&maxAlert); err != nil {
		t.Fatal(err)
	}
	if maxAlert != ra.MaxAlertID {
		t.Errorf("max alert_id %d, report %d", maxAlert, ra.MaxAlertID)
	}

	// A second run into the same, now non-empty, databases is refused.
	if _, err := seed.Generate(context.Background(), seed.Targets{MySQLDSN: a.MySQLDSN, PostgresURL: a.PostgresURL},
		seed.Options{Seed: 42, Scale: 1 << 20, Now: testNow}); err == nil || !strings.Contains(err.Error(), "empty database") {
		t.Errorf("generating into a non-empty database: %v", err)
	}

	// A different seed gives different data.
	c := newTargets(t)
	rc := generate(t, c, 7)
	if rc.Secrets.ZyncAuthToken == ra.Secrets.ZyncAuthToken || mysqlDigest(t, c.MySQLDSN) == mysqlDigest(t, a.MySQLDSN) {
		t.Error("seed 7 generated the same data as seed 42")
	}

	// The cross-store check passes on a generated installation.
	probs, err := seed.CheckConsistency(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs {
		t.Errorf("consistency: %s", p)
	}
}

func openMySQL(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// showCreate is fingerprint.TableDefinition or the test's end.
func showCreate(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	def, err := fingerprint.TableDefinition(context.Background(), db, table)
	if err != nil {
		t.Fatal(err)
	}
	return def
}

// mysqlDigest is CHECKSUM TABLE over every table plus the trigger and
// routine definitions.
func mysqlDigest(t *testing.T, dsn string) string {
	t.Helper()
	db := openMySQL(t, dsn)
	rows, err := db.Query("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name")
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, "`"+n+"`")
	}
	rows.Close()
	var out strings.Builder
	rows, err = db.Query("CHECKSUM TABLE " + strings.Join(tables, ","))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var sum sql.NullInt64
		rows.Scan(&name, &sum)
		fmt.Fprintf(&out, "%s=%d ", name[strings.Index(name, ".")+1:], sum.Int64)
	}
	rows.Close()
	var trig, proc int
	db.QueryRow("SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = DATABASE()").Scan(&trig)
	db.QueryRow("SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = DATABASE()").Scan(&proc)
	fmt.Fprintf(&out, "triggers=%d routines=%d", trig, proc)
	return out.String()
}

func pgDigest(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var tables []string
	rows, _ := c.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var out strings.Builder
	for _, tb := range tables {
		var sum string
		if err := c.QueryRow(ctx, fmt.Sprintf("SELECT md5(COALESCE(string_agg(t::text, '|' ORDER BY t::text), '')) FROM %s t", tb)).Scan(&sum); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s=%s ", tb, sum[:8])
	}
	var seqs string
	c.QueryRow(ctx, "SELECT string_agg(sequencename || ':' || last_value, ',' ORDER BY sequencename) FROM pg_sequences").Scan(&seqs)
	return out.String() + seqs
}

func redisDigest(t *testing.T, url string) string {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	defer c.Close()
	ctx := context.Background()
	d, err := c.Do(ctx, "DEBUG", "DIGEST").Text()
	if err != nil {
		t.Fatal(err)
	}
	n, _ := c.DBSize(ctx).Result()
	return fmt.Sprintf("%s/%d", d, n)
}

func treeDigest(t *testing.T, root string) string {
	t.Helper()
	h := sha256.New()
	var paths []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != root {
			paths = append(paths, p)
		}
		return err
	})
	sort.Strings(paths)
	for _, p := range paths {
		fi, _ := os.Lstat(p)
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%s %v\n", rel, fi.Mode())
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			io.WriteString(h, l)
		case fi.Mode().IsRegular():
			fmt.Fprintf(h, "%d\n", fi.ModTime().Unix())
			f, _ := os.Open(p)
			io.Copy(h, f)
			f.Close()
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
