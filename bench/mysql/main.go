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
	"strings"
	"syscall"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/mysqldump"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	"github.com/go-sql-driver/mysql"
)

func main() {
	size := flag.Int("size", 400, "approximate MB of table data to create")
	workers := flag.Int("workers", 4, "parallel connections of our tool")
	phase := flag.String("phase", "", "internal: dump or load, run as a child process")
	dsn := flag.String("dsn", "", "internal: database for -phase")
	dir := flag.String("dir", "", "internal: artifact directory for -phase")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of our phases to FILE.dump / FILE.load")
	flag.Parse()
	if *phase != "" {
		if err := child(*phase, *dsn, *dir, *workers, *cpuprofile); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(*size, *workers, *cpuprofile); err != nil {
		log.Fatal(err)
	}
}

func run(sizeMB, workers int, cpuprofile string) error {
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

	src := fmt.Sprintf("bench_mysql_%dmb", sizeMB)
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
	shEnv := append(os.Environ(), "MYSQL_PWD="+pw)
	conn := fmt.Sprintf("-h %s -P %s -u %s", host, port, u.User.Username())

	// Backup: ours, then mysqldump | gzip.
	dumpT, dumpRSS, err := self(work, "dump", env.MySQLAdminDSN(src), ours, workers, cpuprofile)
	if err != nil {
		return err
	}
	baseDumpT, err := shell(shEnv, fmt.Sprintf("mysqldump %s --single-transaction %s | gzip > %s", conn, src, base))
	if err != nil {
		return err
	}

	// Restore: ours, then gunzip | mysql, each into a fresh database.
	dstOurs, dstBase := src+"_restore_ours", src+"_restore_base"
	for _, d := range []string{dstOurs, dstBase} {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS `" + d + "`"); err != nil {
			return err
		}
	}
	defer admin.Exec("DROP DATABASE IF EXISTS `" + dstOurs + "`")
	defer admin.Exec("DROP DATABASE IF EXISTS `" + dstBase + "`")
	loadT, loadRSS, err := self(work, "load", env.MySQLAdminDSN(dstOurs), ours, workers, cpuprofile)
	if err != nil {
		return err
	}
	if _, err := admin.Exec("CREATE DATABASE `" + dstBase + "` CHARACTER SET utf8mb4"); err != nil {
		return err
	}
	baseLoadT, err := shell(shEnv, fmt.Sprintf("gunzip -c %s | mysql %s %s", base, conn, dstBase))
	if err != nil {
		return err
	}

	fi, _ := os.Stat(base)
	mb := func(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }
	fmt.Printf("\nsystem-mysql, %s of table data+indexes (~%d rows), MariaDB on loopback, nproc=2, workers=%d\n\n", mb(dataBytes), rows, workers)
	fmt.Println("| operation | 3scale-ops | baseline | speed-up | 3scale-ops peak RSS | artifact |")
	fmt.Println("|---|---|---|---|---|---|")
	fmt.Printf("| backup | %.1fs | %.1fs (`mysqldump --single-transaction \\| gzip`) | %.2f× | %d MiB | ours %s zstd, baseline %s gzip |\n",
		dumpT.Seconds(), baseDumpT.Seconds(), baseDumpT.Seconds()/dumpT.Seconds(), dumpRSS>>10, mb(dirSize(ours)), mb(fi.Size()))
	fmt.Printf("| restore | %.1fs | %.1fs (`gunzip \\| mysql`) | %.2f× | %d MiB | |\n",
		loadT.Seconds(), baseLoadT.Seconds(), baseLoadT.Seconds()/loadT.Seconds(), loadRSS>>10)
	return nil
}

// self runs one of our phases in a child process and returns its wall
// time and peak RSS (KiB).
func self(work, phase, dsn, dir string, workers int, cpuprofile string) (time.Duration, int64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	args := []string{"-phase", phase, "-dir", dir, "-workers", fmt.Sprint(workers)}
	if cpuprofile != "" {
		args = append(args, "-cpuprofile", cpuprofile+"."+phase)
	}
	cmd := exec.Command(exe, args...)
	// The DSN carries the password: pass it in the environment, not argv.
	cmd.Env = append(os.Environ(), "BENCH_MYSQL_DSN="+dsn)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", phase, err)
	}
	d := time.Since(start)
	return d, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, nil
}

func shell(env []string, script string) (time.Duration, error) {
	cmd := exec.Command("bash", "-c", "set -o pipefail; "+script)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s: %w", script, err)
	}
	return time.Since(start), nil
}

func child(phase, _, dir string, workers int, cpuprofile string) error {
	dsn := os.Getenv("BENCH_MYSQL_DSN")
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return err
	}
	cfg.MultiStatements = false
	if cpuprofile != "" {
		stop, err := startProfile(cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	e, err := mysqldump.New(mysqldump.Options{DSN: cfg.FormatDSN(), Workers: workers})
	if err != nil {
		return err
	}
	ctx := context.Background()
	task := progress.NewTask(phase)
	switch phase {
	case "dump":
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		s := newDirStore(dir)
		if err := e.Backup(ctx, s, task); err != nil {
			return err
		}
		return s.save()
	case "load":
		s, err := loadDirStore(dir)
		if err != nil {
			return err
		}
		_, err = e.Restore(ctx, s, task)
		return err
	}
	return fmt.Errorf("unknown phase %q", phase)
}
