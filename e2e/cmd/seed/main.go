// Command seed fills a 3scale installation's stores with one realistic,
// deterministic dataset (see e2e/seed):
//
//	go run ./e2e/cmd/seed --scale 1GB --seed 42 --create
//
// By default it targets the running test environment (.testenv/env):
// database `system` on MariaDB, `zync_production` on PostgreSQL, the
// environment's backend-redis (db 0 and 1) and system-redis, and
// .testenv/system-storage. Explicit flags override each target; a target
// set to "-" is skipped. It is test tooling: never point it at a real
// installation.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/3scale-ops/3scale-ops/e2e/seed"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

type options struct {
	scale, now, output                    string
	seed                                  int64
	parallel                              int
	mysqlDSN, postgresURL                 string
	systemPostgresURL                     string
	backendURL, queuesURL, systemRedisURL string
	storageDir                            string
	mysqlDB, postgresDB                   string
	create, recreate, force, check        bool
}

func main() {
	var o options
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.StringVar(&o.scale, "scale", "20MB", "approximate total size over all stores (e.g. 5MB, 1GB)")
	fs.Int64Var(&o.seed, "seed", 42, "random seed: the same seed, scale and --now give the same data")
	fs.StringVar(&o.now, "now", "", "the clock, RFC 3339 (default: now, truncated to the minute; printed in the report)")
	fs.IntVar(&o.parallel, "parallel", 3, "concurrent loaders per store")
	fs.StringVar(&o.output, "o", "text", "output: text, json, or markdown (rates table for BENCHMARKS.md)")
	// The environment variables of 3scale-ops work too, so that passwords
	// need not appear in process arguments.
	fs.StringVar(&o.mysqlDSN, "mysql-dsn", os.Getenv("THREESCALE_SYSTEM_DB_URL"), "system database DSN (go-sql-driver form user:pass@tcp(host:port)/db, or mysql:// / mysql2:// URL; env THREESCALE_SYSTEM_DB_URL)")
	fs.StringVar(&o.systemPostgresURL, "system-postgres-url", "", "system database on PostgreSQL (Porta on PostgreSQL: postgresql://…, an empty database); replaces the MySQL system database")
	fs.StringVar(&o.postgresURL, "postgres-url", os.Getenv("THREESCALE_ZYNC_DB_URL"), "zync database URL (postgresql://…; env THREESCALE_ZYNC_DB_URL)")
	fs.StringVar(&o.backendURL, "backend-redis-url", os.Getenv("THREESCALE_BACKEND_REDIS_URL"), "backend-redis storage URL (redis://host:port/0; env THREESCALE_BACKEND_REDIS_URL)")
	fs.StringVar(&o.queuesURL, "backend-queues-url", "", "backend-redis queues URL (default: storage URL with db 1)")
	fs.StringVar(&o.systemRedisURL, "system-redis-url", os.Getenv("THREESCALE_SYSTEM_REDIS_URL"), "system-redis URL (redis://host:port/1; env THREESCALE_SYSTEM_REDIS_URL)")
	fs.StringVar(&o.storageDir, "storage-dir", "", "system-storage directory")
	fs.StringVar(&o.mysqlDB, "mysql-db", "system", "database name on the test MariaDB (test-environment defaults only)")
	fs.StringVar(&o.postgresDB, "postgres-db", "zync_production", "database name on the test PostgreSQL (test-environment defaults only)")
	fs.BoolVar(&o.create, "create", false, "create the MySQL and PostgreSQL databases if they do not exist")
	fs.BoolVar(&o.recreate, "recreate", false, "drop and recreate the MySQL and PostgreSQL databases (test data only!)")
	fs.BoolVar(&o.force, "force", false, "write into non-empty Redis databases and storage directories (keys are overwritten, others kept)")
	fs.BoolVar(&o.check, "check", true, "run the cross-store consistency check afterwards")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	scale, err := seed.ParseSize(o.scale)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Minute)
	if o.now != "" {
		if now, err = time.Parse(time.RFC3339, o.now); err != nil {
			return fmt.Errorf("--now %q: want RFC 3339, e.g. 2025-04-23T17:42:00Z", o.now)
		}
	}
	if strings.HasPrefix(o.mysqlDSN, "postgres") { // THREESCALE_SYSTEM_DB_URL of Porta on PostgreSQL
		o.systemPostgresURL, o.mysqlDSN = o.mysqlDSN, ""
	}
	pgSystem := o.systemPostgresURL
	if pgSystem != "" {
		o.mysqlDSN = "-"
	}
	t, err := targets(ctx, o)
	if err != nil {
		return err
	}
	t.SystemPostgresURL = pgSystem
	if err := preflight(ctx, t, o.force); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	started := time.Now()
	rep, err := seed.Generate(ctx, t, seed.Options{Seed: o.seed, Scale: scale, Now: now, Parallel: o.parallel, Logger: log})
	if err != nil {
		return err
	}
	var probs []seed.Problem
	if o.check && t.MySQLDSN != "" && t.BackendRedisURL != "" {
		if probs, err = seed.CheckConsistency(ctx, t); err != nil {
			return fmt.Errorf("consistency check: %w", err)
		}
	}
	wall := time.Since(started)
	if o.output == "markdown" {
		printMarkdown(stdout, rep, wall)
	} else if o.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			*seed.Report
			Problems []seed.Problem `json:"problems"`
		}{rep, probs}); err != nil {
			return err
		}
	} else {
		printText(stdout, rep, probs, o.check)
	}
	if len(probs) > 0 {
		return fmt.Errorf("%d consistency problems", len(probs))
	}
	return nil
}

func skip(v string) bool { return v == "-" }

// pick is a target's value: "" for "-" (skip it), the flag's when given,
// else the test environment's.
func pick(flag, env string) string {
	switch {
	case skip(flag):
		return ""
	case flag != "":
		return flag
	default:
		return env
	}
}

// targets fills every target not given on the command line from the test
// environment, creating databases if asked.
func targets(ctx context.Context, o options) (seed.Targets, error) {
	needEnv := o.mysqlDSN == "" || o.postgresURL == "" || o.backendURL == "" || o.systemRedisURL == "" || o.storageDir == ""
	var env *testenv.Env
	if needEnv {
		e, err := testenv.Load()
		if err != nil {
			return seed.Targets{}, fmt.Errorf("%v (or give every target with --mysql-dsn, --postgres-url, --backend-redis-url, --system-redis-url, --storage-dir)", err)
		}
		env = e
	} else {
		env = &testenv.Env{} // every target is given: no default is used
	}
	var t seed.Targets
	switch {
	case skip(o.mysqlDSN):
	case o.mysqlDSN != "":
		dsn, err := mysqlDSN(o.mysqlDSN)
		if err != nil {
			return t, err
		}
		t.MySQLDSN = dsn
	default:
		if err := ensureMySQL(ctx, env.MySQLAdminDSN(""), o.mysqlDB, o); err != nil {
			return t, err
		}
		t.MySQLDSN = env.MySQLAdminDSN(o.mysqlDB)
	}
	switch {
	case skip(o.postgresURL):
	case o.postgresURL != "":
		t.PostgresURL = o.postgresURL
	default:
		if err := ensurePostgres(ctx, env.PostgresURL, o.postgresDB, o); err != nil {
			return t, err
		}
		u, _ := url.Parse(env.PostgresURL)
		u.Path = "/" + o.postgresDB
		t.PostgresURL = u.String()
	}
	t.BackendRedisURL = pick(o.backendURL, env.BackendRedisURL)
	switch {
	case skip(o.queuesURL):
	case o.queuesURL != "":
		t.BackendQueuesURL = o.queuesURL
	case t.BackendRedisURL != "":
		ro, err := redis.ParseURL(t.BackendRedisURL)
		if err != nil {
			return t, fmt.Errorf("--backend-redis-url: %w", err)
		}
		u, _ := url.Parse(t.BackendRedisURL)
		u.Path = fmt.Sprintf("/%d", ro.DB+1)
		t.BackendQueuesURL = u.String()
	}
	t.SystemRedisURL = pick(o.systemRedisURL, env.SystemRedisURL)
	t.StorageDir = pick(o.storageDir, filepath.Join(env.Dir, "system-storage"))
	return t, nil
}

// mysqlDSN accepts a go-sql-driver DSN or a mysql:// / mysql2:// URL.
func mysqlDSN(s string) (string, error) {
	if !strings.Contains(s, "://") {
		if _, err := mysql.ParseDSN(s); err != nil {
			return "", errors.New("--mysql-dsn is not a valid DSN (want user:pass@tcp(host:port)/db or mysql://user:pass@host:port/db)")
		}
		return s, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "mysql" && u.Scheme != "mysql2") {
		return "", errors.New("--mysql-dsn: want a mysql:// or mysql2:// URL")
	}
	c := mysql.NewConfig()
	c.User = u.User.Username()
	c.Passwd, _ = u.User.Password()
	c.Net, c.Addr, c.DBName = "tcp", u.Host, strings.TrimPrefix(u.Path, "/")
	if u.Port() == "" {
		c.Addr += ":3306"
	}
	return c.FormatDSN(), nil
}

var dbName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func ensureMySQL(ctx context.Context, adminDSN, name string, o options) error {
	if !dbName.MatchString(name) {
		return fmt.Errorf("--mysql-db %q: use letters, digits and _", name)
	}
	db, err := sql.Open("mysql", adminDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	if o.recreate {
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			return fmt.Errorf("drop MySQL database %s: %w", name, err)
		}
	}
	if o.create || o.recreate {
		_, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
		if err != nil {
			return fmt.Errorf("create MySQL database %s: %w", name, err)
		}
	}
	return nil
}

func ensurePostgres(ctx context.Context, adminURL, name string, o options) error {
	if !dbName.MatchString(name) {
		return fmt.Errorf("--postgres-db %q: use letters, digits and _", name)
	}
	c, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to the test PostgreSQL: %w", err)
	}
	defer c.Close(context.Background())
	if o.recreate {
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop PostgreSQL database %s: %w", name, err)
		}
	}
	if o.create || o.recreate {
		var exists bool
		if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			if _, err := c.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
				return fmt.Errorf("create PostgreSQL database %s: %w", name, err)
			}
		}
	}
	return nil
}

// preflight refuses to mix the dataset into non-empty Redis databases or
// storage directories unless --force.
func preflight(ctx context.Context, t seed.Targets, force bool) error {
	if force {
		return nil
	}
	for _, u := range []string{t.BackendRedisURL, t.BackendQueuesURL, t.SystemRedisURL} {
		if u == "" {
			continue
		}
		ro, err := redis.ParseURL(u)
		if err != nil {
			return err
		}
		c := redis.NewClient(ro)
		n, err := c.DBSize(ctx).Result()
		c.Close()
		if err != nil {
			return fmt.Errorf("redis %s db %d: %w", ro.Addr, ro.DB, err)
		}
		if n > 0 {
			return fmt.Errorf("redis %s db %d already holds %d keys: empty it, point the flag at another db, or pass --force", ro.Addr, ro.DB, n)
		}
	}
	if t.StorageDir != "" {
		if ents, err := os.ReadDir(t.StorageDir); err == nil && len(ents) > 0 {
			return fmt.Errorf("storage directory %s is not empty: remove it, choose another --storage-dir, or pass --force", t.StorageDir)
		}
	}
	return nil
}

func printText(w io.Writer, rep *seed.Report, probs []seed.Problem, checked bool) {
	fmt.Fprintf(w, "seed %d, scale %d bytes, now %s: master + %d tenants, %d samples\n\n", rep.Seed, rep.Scale, rep.Now.Format(time.RFC3339), len(rep.Tenants), len(rep.Samples))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "store\tobject\trows/keys\tbytes\t")
	for _, s := range []struct {
		name string
		m    map[string]seed.Count
	}{{"mysql", rep.MySQL}, {"postgres", rep.Postgres}, {"backend-redis", rep.BackendRedis}, {"backend-queues", rep.BackendQueues}, {"system-redis", rep.SystemRedis}} {
		keys := make([]string, 0, len(s.m))
		for k := range s.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t\n", s.name, k, s.m[k].Rows, s.m[k].Bytes)
		}
	}
	if rep.Storage != nil {
		fmt.Fprintf(tw, "storage\tfiles (%d dirs, %d symlinks)\t%d\t%d\t\n", rep.Storage.Dirs, rep.Storage.Symlinks, rep.Storage.Files, rep.Storage.Bytes)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "store\tseconds\tMB/s\titems/s\t")
	for _, k := range []string{"mysql", "system-postgres", "postgres", "redis", "storage"} {
		if tm, ok := rep.Timings[k]; ok {
			fmt.Fprintf(tw, "%s\t%.2f\t%.1f\t%.0f\t\n", k, tm.Seconds, tm.MBPerSec, tm.ItemsPerSec)
		}
	}
	tw.Flush()
	if checked {
		fmt.Fprintf(w, "\nconsistency: %d problems\n", len(probs))
		for _, p := range probs {
			fmt.Fprintln(w, "  ", p)
		}
	}
}

// printMarkdown prints the generation rates as a BENCHMARKS.md table.
func printMarkdown(w io.Writer, rep *seed.Report, wall time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Fprintf(w, "scale %d MiB, seed %d: wall %.1f s (all stores concurrently), generator peak RSS %d MiB\n\n", rep.Scale>>20, rep.Seed, wall.Seconds(), ru.Maxrss>>10)
	fmt.Fprintln(w, "| store | method | MiB written | rows/keys/files | seconds | MiB/s | items/s |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|")
	methods := map[string]string{"mysql": "LOAD DATA LOCAL INFILE streams", "postgres": "COPY FROM STDIN streams", "system-postgres": "COPY FROM STDIN streams", "redis": "pipelined MSET/SET", "storage": "buffered file writes"}
	for _, k := range []string{"mysql", "system-postgres", "postgres", "redis", "storage"} {
		if tm, ok := rep.Timings[k]; ok {
			fmt.Fprintf(w, "| %s | %s | %.1f | %d | %.1f | %.1f | %.0f |\n", k, methods[k], float64(tm.Bytes)/(1<<20), tm.Items, tm.Seconds, tm.MBPerSec, tm.ItemsPerSec)
		}
	}
}
