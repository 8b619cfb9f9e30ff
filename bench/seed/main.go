// Command seed runs the dataset generator (e2e/cmd/seed) against the test
// environment and reports, next to its own table, where the time went:
// the generator's CPU and each server's CPU during the run (the
// servers' pids come from the test environment's pids file). There is no
// standard tool that generates this data; the servers' own work is the
// baseline that says what bounds the generator.
//
//	go run ./bench/seed -- --scale 1GB --seed 42 --mysql-db seed_bench ...
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/3scale-ops/3scale-ops/bench/internal/benchsum"
)

func main() {
	flag.Parse()
	log.SetFlags(0)
	envFile := os.Getenv("TESTENV_FILE")
	if envFile == "" {
		log.Fatal("TESTENV_FILE is not set: start the test environment (scripts/testenv.sh up) and point at its env file")
	}
	servers, err := readPids(filepath.Join(filepath.Dir(envFile), "pids"))
	if err != nil {
		log.Fatal(err)
	}
	work, err := os.MkdirTemp("", "seedbench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "seed")
	if out, err := exec.Command("go", "build", "-o", bin, "./e2e/cmd/seed").CombinedOutput(); err != nil {
		log.Fatalf("building the generator: %v\n%s", err, out)
	}
	before := map[string]time.Duration{}
	for _, s := range servers {
		before[s.name], _ = benchsum.ServerCPU(s.pid)
	}
	cmd := exec.Command(bin, flag.Args()...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		log.Fatalf("generator: %v", err)
	}
	wall := time.Since(start)
	var gen time.Duration
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		gen = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		rss = ru.Maxrss
	}
	fmt.Printf("\nwhere the %.1f s went (CPU seconds during the run; 2 cores give at most %.1f):\n\n", wall.Seconds(), 2*wall.Seconds())
	fmt.Println("| process | CPU | share of the wall time |")
	fmt.Println("|---|---:|---:|")
	fmt.Printf("| generator (peak RSS %d MiB) | %.1f s | %.0f%% |\n", rss>>10, gen.Seconds(), 100*gen.Seconds()/wall.Seconds())
	total := gen
	for _, s := range servers {
		after, err := benchsum.ServerCPU(s.pid)
		if err != nil {
			continue
		}
		d := after - before[s.name]
		total += d
		fmt.Printf("| %s | %.1f s | %.0f%% |\n", s.name, d.Seconds(), 100*d.Seconds()/wall.Seconds())
	}
	fmt.Printf("| all | %.1f s | %.0f%% |\n", total.Seconds(), 100*total.Seconds()/wall.Seconds())
}

type server struct {
	name string
	pid  int
}

// readPids reads the data servers of the test environment's pids file
// ("name pid" lines), leaving out the TLS twins, Sentinel, MinIO and
// Kubernetes, which the generator does not use.
func readPids(path string) ([]server, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("the test environment's pids file: %w", err)
	}
	defer f.Close()
	var out []server
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, p, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "mariadb", "postgres", "backend-redis", "system-redis":
			if pid, err := strconv.Atoi(strings.TrimSpace(p)); err == nil {
				out = append(out, server{name, pid})
			}
		}
	}
	return out, sc.Err()
}
