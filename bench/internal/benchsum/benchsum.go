// Package benchsum appends the benchmarks' rows to the one summary table
// make bench prints at the end (the file named by BENCH_SUMMARY).
package benchsum

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Row appends one row: the step, the data it ran on, our time and the
// baseline's in seconds (same run), the baseline's name, and both peak RSS
// figures as printed. Without BENCH_SUMMARY it does nothing.
func Row(step, data string, ours, base float64, baseline, oursRSS, baseRSS string) {
	p := os.Getenv("BENCH_SUMMARY")
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench summary %s: %v\n", p, err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "| %s | %s | %.2f s | %.2f s %s | **%.2f×** | %s | %s |\n", step, data, ours, base,
		strings.ReplaceAll(baseline, "|", "\\|"), base/ours, oursRSS, baseRSS)
}

// KiB prints a peak RSS given in KiB (getrusage's unit); 0 means the work
// ran in the server, not in a process of ours.
func KiB(kib int64) string {
	if kib == 0 {
		return "(server)"
	}
	return fmt.Sprintf("%d MiB", kib>>10)
}

// ServerCPU returns the CPU time (user + system) that process pid and
// every process below it have used so far, including children that
// already exited and were waited for (PostgreSQL's backends): read before
// and after a step, the difference is the server's own work during it.
// The figure also holds whatever else the server did meanwhile (other
// clients of a shared server).
func ServerCPU(pid int) (time.Duration, error) {
	const tick = time.Second / 100 // USER_HZ, 100 on Linux
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	type proc struct{ ppid, cpu, reaped int64 }
	procs := map[int64]proc{}
	for _, e := range ents {
		id, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ... utime(14) stime(15) cutime(16) cstime(17)
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 15 {
			continue
		}
		n := func(i int) int64 { v, _ := strconv.ParseInt(f[i-3], 10, 64); return v }
		procs[id] = proc{ppid: n(4), cpu: n(14) + n(15), reaped: n(16) + n(17)}
	}
	root, ok := procs[int64(pid)]
	if !ok {
		return 0, fmt.Errorf("no process %d", pid)
	}
	total := root.cpu + root.reaped
	for id, p := range procs {
		for q := p.ppid; q > 1 && id != int64(pid); q = procs[q].ppid {
			if q == int64(pid) {
				// its own CPU and that of its children it reaped
				// (PostgreSQL's postmaster holds every exited backend's)
				total += p.cpu + p.reaped
				break
			}
		}
	}
	return time.Duration(total) * tick, nil
}
