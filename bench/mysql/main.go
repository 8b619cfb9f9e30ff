// Command mysql benchmarks the system-mysql engine (internal/mysqldump)
// against mysqldump --single-transaction | gzip and gunzip | mysql, in the
// same run, on the same Porta-shaped data in the test environment's
// MariaDB, and prints a markdown table with times, ratios and the peak RSS
// of our tool (each of our phases runs in a child process so that its
// rusage is its own).
//
//	go run ./bench/mysql -size 400      # MB of table data (created once, reused)
//	go run ./bench/mysql -size 40       # the 10× smaller run
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/3scale-ops/3scale-ops/bench/internal/benchsum"
	"github.com/3scale-ops/3scale-ops/internal/mysqldump"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/go-sql-driver/mysql"
)

func main() {
	size := flag.Int("size", 400, "approximate MB of table data to create")
	workers := flag.Int("workers", 4, "parallel connections of our tool")
	phase := flag.String("phase", "", "internal: dump or load, run as a child process")
	dsn := flag.String("dsn", "", "internal: database for -phase")
	dir := flag.String("dir", "", "internal: artifact directory for -phase")
	profile := flag.String("profile", "", "write CPU and heap profiles of our phases to FILE.dump.{cpu,heap}.pprof / FILE.load.{cpu,heap}.pprof")
	flag.Parse()
	if *phase != "" {
		if err := child(*phase, *dsn, *dir, *workers, *profile); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(*size, *workers, *profile); err != nil {
		log.Fatal(err)
	}
}

func run(sizeMB, workers int, profile string) error {
	env, err := testenv.Load()
	if err != nil {
		return err
	}
	u, _ := url.Parse(env.MySQLURL)
	pw, _ := u.User.Password()
	host, port, _ := strings.Cut(u.Host, ":")
	admin, err := sql.Open("mysql", env.MySQLAdminDSN(""))
	if err != nil {
		return err
	}
	defer admin.Close()
	serverPID = mariadbPID(admin)

	src := fmt.Sprintf("bench_mysql_v2_%dmb", sizeMB)
	if err := ensureData(admin, env, src, sizeMB); err != nil {
		return err
	}
	var dataBytes, rows int64
	admin.QueryRow("SELECT SUM(DATA_LENGTH + INDEX_LENGTH), SUM(TABLE_ROWS) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", src).Scan(&dataBytes, &rows)

	work, err := os.MkdirTemp("", "bench-mysql-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ours := filepath.Join(work, "ours")
	base := filepath.Join(work, "mysqldump.sql.gz")
	mydir := filepath.Join(work, "mydumper")
	shEnv := append(os.Environ(), "MYSQL_PWD="+pw)
	conn := fmt.Sprintf("-h %s -P %s -u %s", host, port, u.User.Username())
	// mydumper 0.10 reads no MYSQL_PWD: the test server's password goes on
	// its command line.
	myconn := fmt.Sprintf("-h %s -P %s -u %s -p %s", host, port, u.User.Username(), pw)
	_, myErr := exec.LookPath("mydumper")

	// Backup: ours, mysqldump | gzip, mydumper -t N -c.
	// The same backup without the memory limit, for the before/after.
	// The same backup at zstd level 3 (--compression-level 3, zstd's own
	// default; ours is 1): what it costs in CPU, and the artifact size at
	// each level. One untimed backup first, so that every measured one
	// finds the data in the server's buffer pool (the first after the
	// fill read it from disk: 0.8 s more server CPU in one run).
	if _, err := self(work, "dump", env.MySQLAdminDSN(src), ours, workers, ""); err != nil {
		return err
	}
	oursL3 := ours + "-level3"
	os.RemoveAll(oursL3)
	defer os.RemoveAll(oursL3)
	dumpL3, err := self(work, "dump", env.MySQLAdminDSN(src), oursL3, workers, "", "BENCH_ZSTD_LEVEL=3")
	if err != nil {
		return err
	}
	os.RemoveAll(ours)
	dumpNoLimit, err := self(work, "dump", env.MySQLAdminDSN(src), ours, workers, "", "GOMEMLIMIT=off")
	if err != nil {
		return err
	}
	os.RemoveAll(ours)
	dump, err := self(work, "dump", env.MySQLAdminDSN(src), ours, workers, profile)
	if err != nil {
		return err
	}
	baseDump, err := shell(shEnv, fmt.Sprintf("mysqldump %s --single-transaction --max-allowed-packet=64M %s | gzip > %s", conn, src, base))
	if err != nil {
		return err
	}
	var myDump, myLoad measure
	if myErr == nil {
		if myDump, err = shell(shEnv, fmt.Sprintf("mydumper %s -B %s -t %d -c -o %s", myconn, src, workers, mydir)); err != nil {
			return err
		}
	}

	// Restore: ours, gunzip | mysql, myloader -t N, each into a fresh database.
	dstOurs, dstBase, dstMy := src+"_restore_ours", src+"_restore_base", src+"_restore_my"
	for _, d := range []string{dstOurs, dstBase, dstMy} {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS `" + d + "`"); err != nil {
			return err
		}
		defer admin.Exec("DROP DATABASE IF EXISTS `" + d + "`")
	}
	load, err := self(work, "load", env.MySQLAdminDSN(dstOurs), ours, workers, profile)
	if err != nil {
		return err
	}
	// The same with restore --skip-binlog: what the binary log costs the
	// server (the baselines' loads are binlogged).
	dstNoBin := src + "_restore_nobinlog"
	admin.Exec("DROP DATABASE IF EXISTS `" + dstNoBin + "`")
	loadNoBin, err := self(work, "load", env.MySQLAdminDSN(dstNoBin), ours, workers, "", "BENCH_SKIP_BINLOG=1")
	admin.Exec("DROP DATABASE IF EXISTS `" + dstNoBin + "`")
	if err != nil {
		return err
	}
	if _, err := admin.Exec("CREATE DATABASE `" + dstBase + "` CHARACTER SET utf8mb4"); err != nil {
		return err
	}
	baseLoad, err := shell(shEnv, fmt.Sprintf("gunzip -c %s | mysql --max-allowed-packet=64M %s %s", base, conn, dstBase))
	if err != nil {
		return err
	}
	if myErr == nil {
		if myLoad, err = shell(shEnv, fmt.Sprintf("myloader %s -B %s -t %d -d %s", myconn, dstMy, workers, mydir)); err != nil {
			return err
		}
	}

	fi, _ := os.Stat(base)
	mb := func(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }
	var largest int64
	admin.QueryRow("SELECT COALESCE(MAX(LENGTH(content)), 0) FROM `" + src + "`.proxy_configs").Scan(&largest)
	fmt.Printf("\nsystem-mysql, %s of table data+indexes (~%d rows, largest row %s), MariaDB on loopback, nproc=%d, workers=%d\n\n",
		mb(dataBytes), rows, mb(largest), runtime.NumCPU(), workers)
	fmt.Println("| operation | 3scale-ops | baseline (same run) | speed-up | peak RSS ours / baseline | artifact | client CPU ours / baseline | server CPU ours / baseline |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	data := fmt.Sprintf("%s, rows ≤ %s", mb(dataBytes), mb(largest))
	row := func(op string, ours, b measure, tool, art string) {
		benchsum.Row("MySQL "+op, data, ours.d.Seconds(), b.d.Seconds(), tool, benchsum.KiB(ours.rss), benchsum.KiB(b.rss))
		fmt.Printf("| %s | %.1f s | %.1f s (%s) | **%.2f×** | %d / %d MiB | %s | %.1f / %.1f s | %.1f / %.1f s |\n", op, ours.d.Seconds(), b.d.Seconds(), tool,
			b.d.Seconds()/ours.d.Seconds(), ours.rss>>10, b.rss>>10, art, ours.cpu.Seconds(), b.cpu.Seconds(), ours.srv.Seconds(), b.srv.Seconds())
	}
	row("backup", dump, baseDump, "`mysqldump --single-transaction \\| gzip`", fmt.Sprintf("ours %s zstd, baseline %s gzip", mb(dirSize(ours)), mb(fi.Size())))
	row("backup (--compression-level 3)", dumpL3, baseDump, "`mysqldump --single-transaction \\| gzip`", fmt.Sprintf("ours %s zstd -3", mb(dirSize(oursL3))))
	row("backup", dump, dumpNoLimit, "3scale-ops with GOMEMLIMIT=off (no soft memory limit)", "")
	if myErr == nil {
		row("backup", dump, myDump, fmt.Sprintf("`mydumper -t %d -c`", workers), fmt.Sprintf("mydumper %s gzip", mb(dirSize(mydir))))
	}
	row("restore", load, baseLoad, "`gunzip \\| mysql`", "ours: every file re-hashed before the first table is touched")
	if myErr == nil {
		row("restore", load, myLoad, fmt.Sprintf("`myloader -t %d`", workers), "")
	}
	row("restore --skip-binlog", loadNoBin, load, "3scale-ops restore, binlogged (the default)", "the baselines' loads are binlogged")
	if myErr != nil {
		fmt.Println("\n(mydumper/myloader not installed: `apt-get install mydumper`)")
	}
	return nil
}

type measure struct {
	d   time.Duration
	rss int64         // KiB
	cpu time.Duration // user + system CPU of our process (or the pipeline's)
	srv time.Duration // CPU of the MariaDB server meanwhile (0: unknown)
}

// serverPID is mariadbd's pid (0: unknown), for the server's CPU time
// during each step.
var serverPID int

// mariadbPID reads the server's pid from its pid file (the server runs
// on this machine in the test environment).
func mariadbPID(db *sql.DB) int {
	var f string
	if db.QueryRow("SELECT @@pid_file").Scan(&f) != nil {
		return 0
	}
	if !filepath.IsAbs(f) {
		var dir string
		db.QueryRow("SELECT @@datadir").Scan(&dir)
		f = filepath.Join(dir, f)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// timed runs cmd and measures wall time, peak RSS, its CPU and the
// server's CPU meanwhile.
func timed(cmd *exec.Cmd) (measure, error) {
	var srv0 time.Duration
	if serverPID > 0 {
		srv0, _ = benchsum.ServerCPU(serverPID)
	}
	start := time.Now()
	err := cmd.Run()
	m := measure{d: time.Since(start)}
	if serverPID > 0 {
		if srv1, err := benchsum.ServerCPU(serverPID); err == nil {
			m.srv = srv1 - srv0
		}
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.rss = ru.Maxrss
		m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return m, err
}

// self runs one of our phases in a child process, with env added to its
// environment, and returns its wall time and peak RSS (KiB).
func self(work, phase, dsn, dir string, workers int, profile string, env ...string) (measure, error) {
	exe, err := os.Executable()
	if err != nil {
		return measure{}, err
	}
	args := []string{"-phase", phase, "-dir", dir, "-workers", fmt.Sprint(workers)}
	if profile != "" {
		args = append(args, "-profile", profile+"."+phase)
	}
	cmd := exec.Command(exe, args...)
	// The DSN carries the password: pass it in the environment, not argv.
	cmd.Env = append(append(os.Environ(), "BENCH_MYSQL_DSN="+dsn), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	m, err := timed(cmd)
	if err != nil {
		return measure{}, fmt.Errorf("%s: %w", phase, err)
	}
	return m, nil
}

// shell runs a pipeline; its RSS is the largest of its processes (the
// maximum over the waited-for children, from getrusage).
func shell(env []string, script string) (measure, error) {
	cmd := exec.Command("bash", "-c", "set -o pipefail; "+script)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	m, err := timed(cmd)
	if err != nil {
		return measure{}, fmt.Errorf("%s: %w", strings.Fields(script)[0], err)
	}
	return m, nil
}

// child runs one phase against a real local repository (internal/repo:
// zstd, sha256 on write and verified on read), as a backup does.
func child(phase, _, dir string, workers int, profile string) error {
	dsn := os.Getenv("BENCH_MYSQL_DSN")
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return err
	}
	cfg.MultiStatements = false
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(80 << 20) // as cmd/3scale-ops does
	}
	if profile != "" {
		stop, err := benchsum.StartProfile(profile, 64<<10)
		if err != nil {
			return err
		}
		defer stop()
	}
	e, err := mysqldump.New(mysqldump.Options{DSN: cfg.FormatDSN(), Workers: workers, SkipBinlog: os.Getenv("BENCH_SKIP_BINLOG") != ""})
	if err != nil {
		return err
	}
	ctx := context.Background()
	be, err := repo.NewLocal(dir)
	if err != nil {
		return err
	}
	threads, _ := strconv.Atoi(os.Getenv("BENCH_ZSTD_THREADS")) // 0: the repository's default
	level, _ := strconv.Atoi(os.Getenv("BENCH_ZSTD_LEVEL"))     // 0: the repository's default (1)
	r, _, err := repo.OpenOrInit(ctx, be, repo.Options{Keys: repo.Keys{Passphrase: os.Getenv("BENCH_PASSPHRASE")}, Threads: threads, Level: level, ToolVersion: "bench"})
	if err != nil {
		return err
	}
	task := progress.NewTask(phase)
	switch phase {
	case "dump":
		sw := r.NewSnapshot(ctx)
		sink, err := sw.Component(e.Name())
		if err != nil {
			return err
		}
		if err := e.Backup(ctx, sink, task); err != nil {
			sw.Abort(context.Background())
			return err
		}
		if err := sink.Finish(); err != nil {
			return err
		}
		_, err = sw.Commit(ctx, repo.SnapshotInfo{})
		return err
	case "load":
		snaps, err := r.Snapshots(ctx)
		if err != nil || len(snaps) == 0 {
			return fmt.Errorf("no snapshot in %s (%v)", dir, err)
		}
		m, err := r.LoadManifest(ctx, snaps[len(snaps)-1].ID)
		if err != nil {
			return err
		}
		src, err := r.Source(m, e.Name())
		if err != nil {
			return err
		}
		if err := e.Preflight(ctx, src); err != nil {
			return err
		}
		_, err = e.Restore(ctx, src, task)
		return err
	}
	return fmt.Errorf("unknown phase %q", phase)
}
