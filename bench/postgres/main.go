// Command postgres benchmarks the zync-postgres engine against the
// standard tools in the same run, on the same zync-shaped data (fill.sql):
//
//	backup:  3scale-ops (snapshot-shared parallel COPY into the zstd
//	         repository)  vs  pg_dump | gzip
//	restore: 3scale-ops (parallel COPY, parallel indexes) from that
//	         repository   vs  psql -f of a plain pg_dump
//
// and the peak RSS of our side (each runs in a child process). It prints a
// markdown table. Run from the repository root with the test environment up:
//
//	go run ./bench/postgres                 # scale 1 (~300 MB) and 0.1
//	go run ./bench/postgres -scales 0.05    # quick
package main

import (
	"bytes"
	"context"
	_ "embed"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/3scale-ops/3scale-ops/bench/internal/benchsum"
	"github.com/3scale-ops/3scale-ops/internal/pgdump"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
)

//go:embed fill.sql
var fillSQL string

func main() {
	child := flag.String("child", "", "internal: dump|load (run in a child process for RSS)")
	repoDir := flag.String("repo", "", "internal: repository directory")
	dbURL := flag.String("url", "", "internal: database URL")
	snap := flag.String("snapshot", "", "internal: snapshot id")
	parallel := flag.Int("parallel", 4, "worker connections of the engine")
	scales := flag.String("scales", "1,0.1", "dataset scales to run (1 ≈ 300 MB)")
	work := flag.String("work", "", "scratch directory (default: a temporary one)")
	compression := flag.String("compression", "zstd", "repository compression: zstd, gzip or none")
	threads := flag.Int("zstd-threads", 0, "zstd encoder goroutines per file (repo.Options.Threads; 0 = repository default)")
	flag.IntVar(&schemaPairs, "schema-cost", 0, "also run this many backup pairs, with the real pg_dump and with a stub that writes no schema, and print what the two pg_dump --schema-only runs cost")
	flag.Parse()
	log.SetFlags(0)
	if *child != "" {
		if err := runChild(*child, *repoDir, *dbURL, *snap, *parallel, *threads, *compression); err != nil {
			log.Fatal(err)
		}
		return
	}
	env, err := testenv.Load()
	if err != nil {
		log.Fatal(err)
	}
	dir := *work
	if dir == "" {
		if dir, err = os.MkdirTemp("", "pgbench"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	var rows []string
	for _, s := range strings.Split(*scales, ",") {
		scale, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			log.Fatalf("bad scale %q", s)
		}
		r, err := runScale(env.PostgresURL, filepath.Join(dir, "s"+s), scale, *parallel, *threads, *compression)
		if err != nil {
			log.Fatal(err)
		}
		rows = append(rows, r...)
	}
	fmt.Println("| scale | data | step | 3scale-ops | baseline | speed-up | 3scale-ops peak RSS | baseline peak RSS |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Println(r)
	}
}

// schemaPairs is -schema-cost.
var schemaPairs int

type run struct {
	wall time.Duration
	rss  int64 // KiB
	out  string
	cpu  time.Duration // user + system CPU of the command itself
	srv  time.Duration // CPU of the PostgreSQL server meanwhile (0: unknown)
}

// serverPID is the postmaster's pid (0: unknown), for the server's CPU time
// during each step.
var serverPID int

// postmasterPID reads the server's pid from postmaster.pid in its data
// directory (the server runs on this machine in the test environment).
func postmasterPID(ctx context.Context, c *pgx.Conn) int {
	var dir string
	if c.QueryRow(ctx, "SHOW data_directory").Scan(&dir) != nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	return pid
}

// settle, when set, runs before every measured step and leaves the server
// with no background work: every bench database vacuumed and analyzed
// (the fill, and each restore, would otherwise have autovacuum read the
// whole database during a later step, on the same two cores), a
// checkpoint, and no autovacuum worker running.
var settle func()

func settleServer(ctx context.Context, admin *pgx.Conn, dbURL func(string) string, dbs []string) {
	for _, db := range dbs {
		if c, err := pgx.Connect(ctx, dbURL(db)); err == nil {
			if _, err := c.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
				log.Printf("settle: VACUUM %s: %v", db, err)
			}
			c.Close(ctx)
		}
	}
	if _, err := admin.Exec(ctx, "CHECKPOINT"); err != nil {
		log.Printf("settle: CHECKPOINT: %v", err)
	}
	for i := 0; i < 120; i++ {
		var n int
		if admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'").Scan(&n) != nil || n == 0 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// runCmd runs a command with PGPASSWORD in its environment and returns
// its wall time and peak RSS (of the process itself, not its children).
func runCmd(pw string, name string, args ...string) (run, error) {
	return runCmdEnv(pw, nil, name, args...)
}

func runCmdEnv(pw string, env []string, name string, args ...string) (run, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(append(os.Environ(), "PGPASSWORD="+pw), env...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if settle != nil {
		settle()
	}
	var srv0 time.Duration
	if serverPID > 0 {
		srv0, _ = benchsum.ServerCPU(serverPID)
	}
	t0 := time.Now()
	err := cmd.Run()
	r := run{wall: time.Since(t0), out: strings.TrimSpace(out.String())}
	if serverPID > 0 {
		if srv1, err := benchsum.ServerCPU(serverPID); err == nil {
			r.srv = srv1 - srv0
		}
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rss = ru.Maxrss
		r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if err != nil {
		return r, fmt.Errorf("%s: %v: %s", name, err, stderr.String())
	}
	if strings.Contains(stderr.String(), "phase ") {
		log.Print(strings.TrimSpace(stderr.String()))
	}
	return r, nil
}

func runScale(adminURL, dir string, scale float64, parallel, threads int, compression string) ([]string, error) {
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, err
	}
	defer admin.Close(ctx)
	serverPID = postmasterPID(ctx, admin)
	src, ours, theirs, theirsJ := testenv.Unique("bench_src_"), testenv.Unique("bench_ours_"), testenv.Unique("bench_psql_"), testenv.Unique("bench_pgrestore_")
	for _, db := range []string{src, ours, theirs, theirsJ} {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+db+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
			return nil, err
		}
		defer admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
	}
	u, _ := url.Parse(adminURL)
	pw, _ := u.User.Password()
	dbURL := func(db string) string { v := *u; v.Path = "/" + db; return v.String() }
	conn := []string{"-h", u.Hostname(), "-p", u.Port(), "-U", u.User.Username()}

	log.Printf("scale %g: filling %s", scale, src)
	t0 := time.Now()
	c, err := pgx.Connect(ctx, dbURL(src))
	if err != nil {
		return nil, err
	}
	err = c.PgConn().Exec(ctx, strings.ReplaceAll(fillSQL, "{{SCALE}}", strconv.FormatFloat(scale, 'f', -1, 64))).Close()
	var size int64
	if err == nil {
		err = c.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&size)
	}
	c.Close(ctx)
	if err != nil {
		return nil, fmt.Errorf("fill: %w", err)
	}
	log.Printf("filled %d MB in %s", size>>20, time.Since(t0).Round(time.Second))
	settle = func() { settleServer(ctx, admin, dbURL, []string{src, ours, theirs, theirsJ}) }
	defer func() { settle = nil }()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	repoDir := filepath.Join(dir, "repo")
	par := strconv.Itoa(parallel)
	thr := strconv.Itoa(threads)

	// Backup: ours, then pg_dump | gzip, then a plain dump for the load baseline.
	dumpOurs, err := runCmd(pw, self, "-child", "dump", "-repo", repoDir, "-url", dbURL(src), "-parallel", par, "-zstd-threads", thr, "-compression", compression)
	if err != nil {
		return nil, err
	}
	gz := filepath.Join(dir, "pg_dump.sql.gz")
	dumpGzip, err := runCmd(pw, "sh", "-c", fmt.Sprintf("pg_dump %s -d %s | gzip > %s", strings.Join(conn, " "), src, gz))
	if err != nil {
		return nil, err
	}
	plain := filepath.Join(dir, "pg_dump.sql")
	dumpPlain, err := runCmd(pw, "pg_dump", append(conn, "-d", src, "-f", plain)...)
	if err != nil {
		return nil, err
	}
	fd := filepath.Join(dir, "pg_dump.dir")
	dumpDir, err := runCmd(pw, "pg_dump", append(conn, "-d", src, "-Fd", "-j", par, "-f", fd)...)
	if err != nil {
		return nil, err
	}
	log.Printf("dump: ours %s (rss %d MiB), pg_dump|gzip %s, plain pg_dump %s, pg_dump -Fd -j %s %s", dumpOurs.wall, dumpOurs.rss>>10, dumpGzip.wall, dumpPlain.wall, par, dumpDir.wall)
	var extra []string
	if schemaPairs > 0 {
		row, err := schemaCost(pw, self, dir, dbURL(src), par, thr, compression, fmt.Sprintf("%g", scale), size)
		if err != nil {
			return nil, err
		}
		extra = append(extra, row)
	}

	// Restore: psql -f of the plain dump, then ours from the repository.
	loadPsql, err := runCmd(pw, "psql", append(conn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", theirs, "-f", plain)...)
	if err != nil {
		return nil, err
	}
	loadOurs, err := runCmd(pw, self, "-child", "load", "-repo", repoDir, "-snapshot", dumpOurs.out, "-url", dbURL(ours), "-parallel", par, "-zstd-threads", thr, "-compression", compression)
	if err != nil {
		return nil, err
	}
	loadJ, err := runCmd(pw, "pg_restore", append(conn, "-j", par, "-d", theirsJ, fd)...)
	if err != nil {
		return nil, err
	}
	// Ours ends with ANALYZE of every table, which PostgreSQL's docs
	// advise after a restore and neither psql nor pg_restore runs: the
	// baselines followed by the same (vacuumdb --analyze-only, with the
	// baseline's parallelism) are the like-for-like figures.
	anPsql, err := runCmd(pw, "vacuumdb", append(conn, "--analyze-only", "-q", "-d", theirs)...)
	if err != nil {
		return nil, err
	}
	anJ, err := runCmd(pw, "vacuumdb", append(conn, "--analyze-only", "-q", "-j", par, "-d", theirsJ)...)
	if err != nil {
		return nil, err
	}
	log.Printf("load: ours %s (rss %d MiB), psql -f %s (+ANALYZE %s), pg_restore -j %s %s (+ANALYZE %s)", loadOurs.wall, loadOurs.rss>>10, loadPsql.wall, anPsql.wall, par, loadJ.wall, anJ.wall)
	for _, x := range []struct {
		name string
		r    run
	}{{"ours", loadOurs}, {"psql -f", loadPsql}, {"vacuumdb --analyze-only after psql", anPsql}, {"pg_restore -j " + par, loadJ},
		{"vacuumdb --analyze-only -j " + par + " after pg_restore", anJ}, {"dump ours", dumpOurs}, {"pg_dump -Fd -j " + par, dumpDir}} {
		log.Printf("cpu %s: wall %.2fs, client %.2fs, server %.2fs", x.name, x.r.wall.Seconds(), x.r.cpu.Seconds(), x.r.srv.Seconds())
	}

	repoSize, gzSize, plainSize := dirSize(repoDir), fileSize(gz), fileSize(plain)
	data := fmt.Sprintf("%d MB db", size>>20)
	mib := func(kib int64) string { return fmt.Sprintf("%d MiB", kib>>10) }
	secs := func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
	ratio := func(ours, base time.Duration) string { return fmt.Sprintf("%.2f×", base.Seconds()/ours.Seconds()) }
	pgRow("PostgreSQL backup", data, dumpOurs, dumpGzip, "`pg_dump | gzip`")
	pgRow("PostgreSQL backup", data, dumpOurs, dumpDir, "`pg_dump -Fd -j "+par+"`")
	pgRow("PostgreSQL restore", data, loadOurs, loadPsql, "`psql -f` (plain dump)")
	pgRow("PostgreSQL restore", data, loadOurs, loadJ, "`pg_restore -j "+par+"`")
	return append([]string{
		fmt.Sprintf("| %g | %s | backup vs pg_dump -Fd -j %s (%d MB) | %s | %s | %s | %s | %s (pg_dump) |",
			scale, data, par, dirSize(fd)>>20, secs(dumpOurs.wall), secs(dumpDir.wall), ratio(dumpOurs.wall, dumpDir.wall), mib(dumpOurs.rss), mib(dumpDir.rss)),
		fmt.Sprintf("| %g | %s | restore vs pg_restore -j %s | %s | %s | %s | %s | %s (pg_restore) |",
			scale, data, par, secs(loadOurs.wall), secs(loadJ.wall), ratio(loadOurs.wall, loadJ.wall), mib(loadOurs.rss), mib(loadJ.rss)),
		fmt.Sprintf("| %g | %s | backup (ours: repo %s %d MB; pg_dump\\|gzip: %d MB) | %s | %s | %s | %s | %s (pg_dump) |",
			scale, data, compression, repoSize>>20, gzSize>>20, secs(dumpOurs.wall), secs(dumpGzip.wall), ratio(dumpOurs.wall, dumpGzip.wall), mib(dumpOurs.rss), mib(dumpGzip.rss)),
		fmt.Sprintf("| %g | %s | restore (psql -f of a %d MB plain pg_dump) | %s | %s | %s | %s | %s (psql) |",
			scale, data, plainSize>>20, secs(loadOurs.wall), secs(loadPsql.wall), ratio(loadOurs.wall, loadPsql.wall), mib(loadOurs.rss), mib(loadPsql.rss)),
		fmt.Sprintf("| %g | %s | restore vs psql -f, then vacuumdb --analyze-only (ours analyzes every table) | %s | %s | %s | %s | %s (psql) |",
			scale, data, secs(loadOurs.wall), secs(loadPsql.wall+anPsql.wall), ratio(loadOurs.wall, loadPsql.wall+anPsql.wall), mib(loadOurs.rss), mib(loadPsql.rss)),
		fmt.Sprintf("| %g | %s | restore vs pg_restore -j %s, then vacuumdb --analyze-only -j %s | %s | %s | %s | %s | %s (pg_restore) |",
			scale, data, par, par, secs(loadOurs.wall), secs(loadJ.wall+anJ.wall), ratio(loadOurs.wall, loadJ.wall+anJ.wall), mib(loadOurs.rss), mib(loadJ.rss)),
	}, extra...), nil
}

// schemaCost runs backups of the same database alternately with the real
// pg_dump and with a stub that answers --version and writes nothing, and
// returns a table row: the two pg_dump --schema-only runs' share of a
// backup is the difference of the medians.
func schemaCost(pw, self, dir, dbURL, par, thr, compression, scale string, size int64) (string, error) {
	stub := filepath.Join(dir, "pg_dump-stub")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\n[ \"$1\" = --version ] && echo 'pg_dump (PostgreSQL) 99.0'\nexit 0\n"), 0o755); err != nil {
		return "", err
	}
	var with, without []time.Duration
	for i := 0; i < schemaPairs; i++ {
		for _, env := range [][]string{nil, {pgdump.EnvPgDump + "=" + stub}} {
			r, err := runCmdEnv(pw, env, self, "-child", "dump", "-repo", filepath.Join(dir, "repo-schema-cost"), "-url", dbURL, "-parallel", par, "-zstd-threads", thr, "-compression", compression)
			if err != nil {
				return "", err
			}
			if env == nil {
				with = append(with, r.wall)
			} else {
				without = append(without, r.wall)
			}
		}
	}
	mw, mo := median(with), median(without)
	log.Printf("schema cost: with pg_dump %v, with the stub %v", with, without)
	return fmt.Sprintf("| %s | %d MB db | backup, two pg_dump --schema-only runs (median of %d pairs) | %.2f s with | %.2f s without | +%.2f s (%.0f%%) | | |",
		scale, size>>20, schemaPairs, mw.Seconds(), mo.Seconds(), (mw - mo).Seconds(), 100*(mw-mo).Seconds()/mw.Seconds()), nil
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// runChild is the measured side: a backup into, or a restore from, a real
// local repository (zstd, sha256-verified), exactly as 3scale-ops does.
func runChild(mode, repoDir, dbURL, snap string, parallel, threads int, compression string) error {
	ctx := context.Background()
	// BENCH_CPUPROFILE=DIR writes the profiles of each child run there.
	stop, err := benchsum.ProfileFromEnv(mode)
	if err != nil {
		return err
	}
	defer stop()
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(80 << 20) // as cmd/3scale-ops does
	}
	be, err := repo.NewLocal(repoDir)
	if err != nil {
		return err
	}
	r, _, err := repo.OpenOrInit(ctx, be, repo.Options{Compression: compression, Threads: threads, ToolVersion: "bench"})
	if err != nil {
		return err
	}
	e := pgdump.New(dbURL)
	e.Parallel = parallel
	if v, err := strconv.ParseInt(os.Getenv("BENCH_PG_CHUNK_PAGES"), 10, 64); err == nil {
		e.ChunkPages = v // tables larger than this many pages are dumped in chunks (default 8192)
	}
	switch mode {
	case "dump":
		sw := r.NewSnapshot(ctx)
		sink, err := sw.Component(e.Name())
		if err != nil {
			return err
		}
		task := progress.NewTask("backup")
		stop := logPhases(task)
		defer stop()
		if err := e.Backup(ctx, sink, task); err != nil {
			sw.Abort(context.Background())
			return err
		}
		if err := sink.Finish(); err != nil {
			return err
		}
		if _, err := sw.Commit(ctx, repo.SnapshotInfo{}); err != nil {
			return err
		}
		fmt.Println(sw.ID())
	case "load":
		m, err := r.LoadManifest(ctx, snap)
		if err != nil {
			return err
		}
		src, err := r.Source(m, e.Name())
		if err != nil {
			return err
		}
		task := progress.NewTask("restore")
		stop := logPhases(task)
		defer stop()
		_, err = e.Restore(ctx, src, task)
		return err
	default:
		return fmt.Errorf("unknown child mode %q", mode)
	}
	return nil
}

// logPhases writes each phase change of task to stderr with its time, for
// the profile summary in BENCHMARKS.md.
func logPhases(task *progress.Task) (stop func()) {
	done, printed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(printed)
		t0, last, lastAt := time.Now(), "", time.Now()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintf(os.Stderr, "phase %-10s %6.2fs\n", last, time.Since(lastAt).Seconds())
				return
			case <-tick.C:
				if p := task.Stats().Phase; p != last {
					if last != "" {
						fmt.Fprintf(os.Stderr, "phase %-10s %6.2fs\n", last, time.Since(lastAt).Seconds())
					}
					last, lastAt = p, time.Now()
				}
			}
			_ = t0
		}
	}()
	return func() { close(done); <-printed }
}

// pgRow adds one PostgreSQL row to make bench's summary table.
func pgRow(step, data string, ours, base run, baseline string) {
	benchsum.Row(step, data, ours.wall.Seconds(), base.wall.Seconds(), baseline, benchsum.KiB(ours.rss), benchsum.KiB(base.rss))
}
